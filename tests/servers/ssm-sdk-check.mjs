// Drives the SSM emulator with the real AWS SDK (@aws-sdk/client-ssm) to
// show that it speaks the protocol the way AWS does.
//   node servers/ssm-sdk-check.mjs PORT [AKID:SECRET]
// Prints one line per expectation; exit 0 only when every one held.

import {
	SSMClient, DeleteParameterCommand, GetParameterCommand, GetParametersCommand, PutParameterCommand,
} from '@aws-sdk/client-ssm';

const [port, pair = 'AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'] = process.argv.slice(2);
if (!port) {
	process.stderr.write('usage: ssm-sdk-check.mjs PORT [AKID:SECRET]\n');
	process.exit(2);
}
const i = pair.indexOf(':');
const akid = pair.slice(0, i);
const secret = pair.slice(i + 1);

function client(secretAccessKey) {
	return new SSMClient({
		endpoint: `http://127.0.0.1:${port}`,
		region: 'us-east-1',
		credentials: { accessKeyId: akid, secretAccessKey },
		maxAttempts: 1,
	});
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

process.stdout.write(failures ? `${failures} expectation(s) failed\n` : 'all expectations held\n');
process.exit(failures ? 1 : 0);
