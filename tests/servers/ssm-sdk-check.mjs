// Drives the SSM emulator with the real AWS SDK (@aws-sdk/client-ssm) to
// show that it speaks the protocol the way AWS does, throttling included:
// the last part sets rate limits through the control API, checks that the
// SDK classifies the answer as ThrottlingException (HTTP 400) and that its
// standard retry strategy gets through once the bucket refills, then lifts
// the limits again.
//   node servers/ssm-sdk-check.mjs PORT [AKID:SECRET]
// Prints one line per expectation; exit 0 only when every one held.

import {
	SSMClient, DeleteParameterCommand, DescribeParametersCommand, GetParameterCommand,
	GetParametersCommand, PutParameterCommand,
} from '@aws-sdk/client-ssm';

const [port, pair = 'AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'] = process.argv.slice(2);
if (!port) {
	process.stderr.write('usage: ssm-sdk-check.mjs PORT [AKID:SECRET]\n');
	process.exit(2);
}
const i = pair.indexOf(':');
const akid = pair.slice(0, i);
const secret = pair.slice(i + 1);

function client(secretAccessKey, maxAttempts = 1) {
	return new SSMClient({
		endpoint: `http://127.0.0.1:${port}`,
		region: 'us-east-1',
		credentials: { accessKeyId: akid, secretAccessKey },
		retryMode: 'standard',
		maxAttempts,
	});
}

async function control(name, args = {}) {
	const res = await fetch(`http://127.0.0.1:${port}/__control/${name}`, {
		method: 'POST', body: JSON.stringify(args),
	});
	const body = await res.json();
	if (res.status !== 200)
		throw new Error(`control ${name}: ${res.status} ${JSON.stringify(body)}`);
	return body;
}

const ssm = client(secret);
const prefix = `/sdk-check/${process.pid}`;
let failures = 0;

function report(ok, what, detail = '') {
	process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ': ' + detail : ''}\n`);
	if (!ok)
		failures++;
}

async function expectValue(what, cmd, check) {
	try {
		const out = await ssm.send(cmd);
		const problem = check(out);
		report(!problem, what, problem || '');
	} catch (e) {
		report(false, what, `unexpected ${e.name}: ${e.message}`);
	}
}

async function expectError(what, c, cmd, name) {
	try {
		await c.send(cmd);
		report(false, what, `expected ${name}, got success`);
	} catch (e) {
		report(e.name === name, what, `${e.name}: ${e.message}`);
	}
}

const plain = `${prefix}/plain`;
const secure = `${prefix}/secure`;

await expectValue('put String', new PutParameterCommand({ Name: plain, Value: 'v1', Type: 'String' }),
	(o) => (o.Version === 1 && o.Tier === 'Standard' ? null : `got ${JSON.stringify(o)}`));
await expectError('put existing without Overwrite', ssm,
	new PutParameterCommand({ Name: plain, Value: 'v2', Type: 'String' }), 'ParameterAlreadyExists');
await expectValue('overwrite String', new PutParameterCommand({ Name: plain, Value: 'v2', Overwrite: true }),
	(o) => (o.Version === 2 ? null : `version ${o.Version}`));
await expectValue('get String', new GetParameterCommand({ Name: plain }),
	(o) => (o.Parameter.Value === 'v2' && o.Parameter.Version === 2 && o.Parameter.LastModifiedDate instanceof Date
		? null : JSON.stringify(o.Parameter)));
await expectValue('get String:1 (version selector)', new GetParameterCommand({ Name: `${plain}:1` }),
	(o) => (o.Parameter.Value === 'v1' ? null : JSON.stringify(o.Parameter)));
await expectError('change type', ssm,
	new PutParameterCommand({ Name: plain, Value: 'x', Type: 'SecureString', Overwrite: true }), 'HierarchyTypeMismatchException');
await expectValue('put SecureString', new PutParameterCommand({
	Name: secure, Value: 's3cr3t', Type: 'SecureString', KeyId: 'alias/tokend', Description: 'd',
}), (o) => (o.Version === 1 ? null : `version ${o.Version}`));
await expectValue('get SecureString with decryption', new GetParameterCommand({ Name: secure, WithDecryption: true }),
	(o) => (o.Parameter.Value === 's3cr3t' && o.Parameter.Type === 'SecureString' ? null : JSON.stringify(o.Parameter)));
await expectValue('get SecureString without decryption', new GetParameterCommand({ Name: secure }),
	(o) => (o.Parameter.Value !== 's3cr3t' && o.Parameter.Value.length > 20 ? null : 'plaintext leaked'));
await expectValue('describe by name: metadata and description, no value',
	new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: [secure] }] }),
	(o) => {
		const p = o.Parameters?.[0];
		return o.Parameters.length === 1 && p.Name === secure && p.Description === 'd' &&
			p.Version === 1 && p.LastModifiedDate instanceof Date && p.KeyId === 'alias/tokend' &&
			!('Value' in p) ? null : JSON.stringify(o.Parameters);
	});
await expectValue('get parameters, one missing', new GetParametersCommand({ Names: [plain, `${prefix}/nope`] }),
	(o) => (o.Parameters.length === 1 && o.InvalidParameters[0] === `${prefix}/nope` ? null : JSON.stringify(o)));
await expectError('get missing', ssm, new GetParameterCommand({ Name: `${prefix}/missing` }), 'ParameterNotFound');
await expectError('too large for Standard', ssm,
	new PutParameterCommand({ Name: `${prefix}/big`, Value: 'x'.repeat(4097), Type: 'String' }), 'ValidationException');
await expectValue('large value in Advanced', new PutParameterCommand({
	Name: `${prefix}/big`, Value: 'x'.repeat(4097), Type: 'String', Tier: 'Advanced',
}), (o) => (o.Tier === 'Advanced' ? null : `tier ${o.Tier}`));
await expectError('too large for Advanced', ssm, new PutParameterCommand({
	Name: `${prefix}/big`, Value: 'x'.repeat(8193), Overwrite: true, Tier: 'Advanced',
}), 'ValidationException');
await expectValue('delete', new DeleteParameterCommand({ Name: plain }), () => null);
await expectError('get after delete', ssm, new GetParameterCommand({ Name: plain }), 'ParameterNotFound');
await expectError('delete missing', ssm, new DeleteParameterCommand({ Name: plain }), 'ParameterNotFound');
await expectError('wrong secret', client(secret + 'x'), new GetParameterCommand({ Name: secure }), 'InvalidSignatureException');

// Rate limits. One Get* token and one Put token, refilled slowly enough
// (0.5/s) that the calls right after find the buckets empty.
await control('limits', { get_tps: 0.5, get_burst: 1, put_tps: 0.5, put_burst: 1 });
const limited = `${prefix}/limited`;
await expectValue('put within the Put quota', new PutParameterCommand({ Name: limited, Value: 'l', Type: 'String' }),
	(o) => (o.Version === 1 ? null : `version ${o.Version}`));
await expectValue('get within the Get quota', new GetParameterCommand({ Name: limited }),
	(o) => (o.Parameter.Value === 'l' ? null : JSON.stringify(o.Parameter)));

async function expectThrottled(what, cmd) {
	try {
		await ssm.send(cmd);
		report(false, what, 'expected ThrottlingException, got success');
	} catch (e) {
		const problem = e.name !== 'ThrottlingException' ? `${e.name}: ${e.message}`
			: e.$metadata?.httpStatusCode !== 400 ? `HTTP ${e.$metadata?.httpStatusCode}`
				: e.message !== 'Rate exceeded' ? `message ${e.message}`
					: e.$fault !== 'client' ? `$fault ${e.$fault}` : null;
		report(!problem, what, problem ?? `${e.name} (HTTP 400, ${e.message})`);
	}
}

await expectThrottled('GetParameters over the shared Get quota', new GetParametersCommand({ Names: [limited] }));
await expectThrottled('GetParameter over the Get quota', new GetParameterCommand({ Name: limited }));
await expectThrottled('DeleteParameter over the Put quota', new DeleteParameterCommand({ Name: limited }));
let st = (await control('state')).limits;
report(st.get.throttled === 2 && st.put.throttled === 1 && st.get.ok >= 1 && st.put.ok >= 1,
	'emulator counts throttled calls per bucket', JSON.stringify({ get: st.get, put: st.put }));

// The SDK's standard strategy retries a throttled call with backoff (its
// throttling base delay is 500 ms): with 2 tokens a second and 6 attempts
// the second of two back-to-back calls is throttled, then gets through.
await control('limits', { get_tps: 2, get_burst: 1 });
const before = (await control('state')).limits.get;
const retrying = client(secret, 6);
try {
	await retrying.send(new GetParameterCommand({ Name: limited }));
	const out = await retrying.send(new GetParameterCommand({ Name: limited }));
	const after = (await control('state')).limits.get;
	const ok = after.ok - before.ok;
	const throttled = after.throttled - before.throttled;
	report(out.$metadata.attempts >= 2 && throttled >= 1 && ok === 2, 'standard retries get through the Get quota',
		`attempts ${out.$metadata.attempts}, throttled ${throttled}`);
} catch (e) {
	report(false, 'standard retries get through the Get quota', `${e.name}: ${e.message}`);
}
await control('limits', { get_tps: 0, put_tps: 0 });
await expectValue('limits lifted', new GetParameterCommand({ Name: limited }), () => null);

process.stdout.write(failures ? `${failures} expectation(s) failed\n` : 'all expectations held\n');
process.exit(failures ? 1 : 0);
