// AWS credential-source emulators (wire-formats.md §5.3–5.5), one per process:
//
//   node servers/aws-creds.mjs --mode ecs  [--path /v2/credentials/ID] [--auth-token T]
//   node servers/aws-creds.mjs --mode imds [--role NAME] [--region R]
//   node servers/aws-creds.mjs --mode sts  [--expected-token JWT]
//   common: [--port N] [--lifetime SECONDS] [--credentials-file PATH]
//
// Each hands out fresh temporary credentials (ASIA…) valid for --lifetime
// seconds (STS: DurationSeconds unless the lifetime was set through the
// control API) and appends them to --credentials-file, which ssm.mjs reads,
// so the SSM emulator accepts signatures made with them.
// ECS: --auth-token switches to full-URI mode: Authorization must equal it.
//
// Control API (JSON):
//   state      calls (credential fetches), tokens (IMDS PUTs), lifetime,
//              settings, faults, the last credentials issued
//   issued     every credentials set issued, in order
//   requests   recent requests: t, method, path, headers, body
//   lifetime {seconds} · fault {kind, count?, fraction?, op?}
//              kinds: status {status}, malformed, delay {ms}, reset or
//              down (drop the connection; stop() the peer for a refused one)
//              (op: "credentials", "token" (IMDS PUT), "role", "region")
//   clear_faults · reset
//   settings {auth_token?, expected_token?, role?}  change at run time
//   expire_sessions   IMDS: invalidate every session token (next GET → 401)

import crypto from 'node:crypto';
import {
	History, handleControl, isoSeconds, log, parseFlags, readBody, sendJson, sendText, serve, sleep,
} from './lib/common.mjs';
import { appendCredentials, mintCredentials } from './lib/credstore.mjs';
import { Faults } from './lib/faults.mjs';

const flags = parseFlags({
	mode: { type: 'string' },
	lifetime: { type: 'string', default: '3600' },
	'credentials-file': { type: 'string' },
	path: { type: 'string', default: '/v2/credentials/tokend-test' },
	'auth-token': { type: 'string' },
	role: { type: 'string', default: 'tokend-test-role' },
	region: { type: 'string', default: 'us-east-1' },
	'expected-token': { type: 'string' },
});
const MODE = flags.mode;
if (!['ecs', 'imds', 'sts'].includes(MODE)) {
	process.stderr.write('aws-creds.mjs: --mode must be ecs, imds or sts\n');
	process.exit(2);
}
const NAME = `aws-creds/${MODE}`;

const state = {
	lifetime: Number(flags.lifetime),
	lifetimeSet: false,
	authToken: flags['auth-token'] ?? null,
	expectedToken: flags['expected-token'] ?? null,
	role: flags.role,
	calls: 0,
	tokens: 0,
	issued: [],
	requests: new History(),
	sessions: new Map(),
};
const faults = new Faults(['status', 'malformed', 'delay', 'reset', 'down']);

function issue(lifetimeS) {
	const c = mintCredentials(Date.now(), lifetimeS);
	appendCredentials(flags['credentials-file'], c);
	state.issued.push(c);
	log(NAME, `issued ${c.akid}, expires ${isoSeconds(c.expiration)}`);
	return c;
}

// Returns true when a fault answered the request.
async function applyFault(op, req, res) {
	const f = faults.take(op);
	if (!f)
		return false;
	switch (f.kind) {
	case 'delay':
		await sleep(Number(f.ms || 1000));
		return false;
	case 'reset':
	case 'down':
		req.socket.destroy();
		return true;
	case 'malformed':
		res.writeHead(200, { 'Content-Type': MODE === 'sts' ? 'text/xml' : 'application/json' });
		res.end(MODE === 'sts' ? '<AssumeRoleWithWebIdentityResponse><Credentials>' : '{"AccessKeyId": "ASIA');
		return true;
	default:
		sendJson(res, Number(f.status || 500), { code: 'InternalError', message: 'injected failure' });
		return true;
	}
}

async function ecs(req, res, url) {
	if (req.method !== 'GET' || url.pathname !== flags.path) {
		sendJson(res, 404, { code: 'NotFound', message: 'no such path' });
		return;
	}
	state.calls++;
	if (state.authToken !== null && req.headers.authorization !== state.authToken) {
		sendJson(res, 401, { code: 'AccessDeniedException', message: 'Unauthorized' });
		return;
	}
	if (await applyFault('credentials', req, res))
		return;
	const c = issue(state.lifetime);
	sendJson(res, 200, {
		AccessKeyId: c.akid,
		SecretAccessKey: c.secret,
		Token: c.token,
		Expiration: isoSeconds(c.expiration),
		RoleArn: `arn:aws:iam::123456789012:role/${state.role}`,
	});
}

function imdsSession(req) {
	const t = req.headers['x-aws-ec2-metadata-token'];
	const until = t === undefined ? undefined : state.sessions.get(t);
	return until !== undefined && until > Date.now();
}

async function imds(req, res, url) {
	const p = url.pathname;
	if (p === '/latest/api/token') {
		if (req.method !== 'PUT') {
			sendText(res, 405, 'Method Not Allowed');
			return;
		}
		if (req.headers['x-forwarded-for'] !== undefined) {
			sendText(res, 403, 'Forbidden');
			return;
		}
		const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
		if (!(Number.isInteger(ttl) && ttl >= 1 && ttl <= 21600)) {
			sendText(res, 400, 'Bad Request');
			return;
		}
		if (await applyFault('token', req, res))
			return;
		state.tokens++;
		const token = 'AQAEA' + crypto.randomBytes(40).toString('base64url');
		state.sessions.set(token, Date.now() + ttl * 1000);
		sendText(res, 200, token, { 'X-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
		return;
	}
	if (req.method !== 'GET') {
		sendText(res, 405, 'Method Not Allowed');
		return;
	}
	const base = '/latest/meta-data/iam/security-credentials/';
	const known = p === base || p.startsWith(base) || p === '/latest/meta-data/placement/region';
	if (!known) {
		sendText(res, 404, 'Not Found');
		return;
	}
	if (!imdsSession(req)) {
		sendText(res, 401, 'Unauthorized');
		return;
	}
	if (p === '/latest/meta-data/placement/region') {
		if (!await applyFault('region', req, res))
			sendText(res, 200, flags.region);
		return;
	}
	if (p === base) {
		if (!await applyFault('role', req, res))
			sendText(res, 200, state.role);
		return;
	}
	if (p.slice(base.length) !== state.role) {
		sendText(res, 404, 'Not Found');
		return;
	}
	state.calls++;
	if (await applyFault('credentials', req, res))
		return;
	const c = issue(state.lifetime);
	sendJson(res, 200, {
		Code: 'Success',
		LastUpdated: isoSeconds(Date.now()),
		Type: 'AWS-HMAC',
		AccessKeyId: c.akid,
		SecretAccessKey: c.secret,
		Token: c.token,
		Expiration: isoSeconds(c.expiration),
	});
}

function xmlEscape(s) {
	return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function stsError(res, status, code, message) {
	const body = '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n' +
		`  <Error><Type>Sender</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>\n` +
		`  <RequestId>${crypto.randomUUID()}</RequestId>\n</ErrorResponse>\n`;
	res.writeHead(status, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': crypto.randomUUID(), Date: new Date().toUTCString() });
	res.end(body);
}

function stsParams(req, url, raw) {
	const params = Object.fromEntries(url.searchParams);
	if (req.method === 'POST')
		Object.assign(params, Object.fromEntries(new URLSearchParams(raw.toString('utf8'))));
	return params;
}

// Returns an error [status, code, message] or null.
function stsValidate(q) {
	if (q.Action !== 'AssumeRoleWithWebIdentity' || q.Version !== '2011-06-15')
		return [400, 'InvalidAction', `Could not find operation ${q.Action} for version ${q.Version}`];
	for (const k of ['RoleArn', 'RoleSessionName', 'WebIdentityToken']) {
		if (!q[k])
			return [400, 'ValidationError', `1 validation error detected: Value null at '${k[0].toLowerCase() + k.slice(1)}' failed to satisfy constraint: Member must not be null`];
	}
	if (!/^[\w+=,.@-]{2,64}$/.test(q.RoleSessionName))
		return [400, 'ValidationError', "Value at 'roleSessionName' failed to satisfy constraint"];
	const d = q.DurationSeconds === undefined ? 3600 : Number(q.DurationSeconds);
	if (!(Number.isInteger(d) && d >= 900 && d <= 43200))
		return [400, 'ValidationError', "Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200"];
	if (state.expectedToken !== null && q.WebIdentityToken !== state.expectedToken)
		return [400, 'InvalidIdentityToken', "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements"];
	return null;
}

async function sts(req, res, url, raw) {
	if (url.pathname !== '/' || !['GET', 'POST'].includes(req.method)) {
		stsError(res, 404, 'NotFound', 'not found');
		return;
	}
	state.calls++;
	const q = stsParams(req, url, raw);
	const bad = stsValidate(q);
	if (bad) {
		stsError(res, ...bad);
		return;
	}
	if (await applyFault('credentials', req, res))
		return;
	const c = issue(state.lifetimeSet ? state.lifetime : Number(q.DurationSeconds ?? 3600));
	const role = q.RoleArn.split('/').pop();
	const body = '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n' +
		'  <AssumeRoleWithWebIdentityResult>\n' +
		'    <SubjectFromWebIdentityToken>system:serviceaccount:tokend:test</SubjectFromWebIdentityToken>\n' +
		'    <Audience>sts.amazonaws.com</Audience>\n' +
		'    <AssumedRoleUser>\n' +
		`      <Arn>arn:aws:sts::123456789012:assumed-role/${xmlEscape(role)}/${xmlEscape(q.RoleSessionName)}</Arn>\n` +
		`      <AssumedRoleId>AROATOKENDTEST:${xmlEscape(q.RoleSessionName)}</AssumedRoleId>\n` +
		'    </AssumedRoleUser>\n' +
		'    <Credentials>\n' +
		`      <AccessKeyId>${c.akid}</AccessKeyId>\n` +
		`      <SecretAccessKey>${xmlEscape(c.secret)}</SecretAccessKey>\n` +
		`      <SessionToken>${xmlEscape(c.token)}</SessionToken>\n` +
		`      <Expiration>${isoSeconds(c.expiration)}</Expiration>\n` +
		'    </Credentials>\n' +
		'    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.tokend.test</Provider>\n' +
		'  </AssumeRoleWithWebIdentityResult>\n' +
		`  <ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata>\n` +
		'</AssumeRoleWithWebIdentityResponse>\n';
	res.writeHead(200, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': crypto.randomUUID(), Date: new Date().toUTCString() });
	res.end(body);
}

const control = {
	state: () => ({
		mode: MODE,
		calls: state.calls,
		tokens: state.tokens,
		lifetime: state.lifetime,
		role: state.role,
		faults: faults.describe(),
		last: state.issued.at(-1) ?? null,
	}),
	issued: () => ({ issued: state.issued }),
	requests: () => ({ requests: state.requests.items }),
	lifetime: (a) => {
		if (!(Number(a.seconds) > 0))
			throw new Error('seconds must be > 0');
		state.lifetime = Number(a.seconds);
		state.lifetimeSet = true;
		return control.state();
	},
	fault: (a) => faults.add(a),
	clear_faults: () => faults.clear(),
	reset: () => {
		state.calls = 0;
		state.tokens = 0;
		state.issued = [];
		state.requests.clear();
		return control.state();
	},
	settings: (a) => {
		if ('auth_token' in a)
			state.authToken = a.auth_token;
		if ('expected_token' in a)
			state.expectedToken = a.expected_token;
		if ('role' in a)
			state.role = a.role;
		return control.state();
	},
	expire_sessions: () => {
		state.sessions.clear();
		return { ok: true };
	},
};

const HANDLERS = { ecs, imds, sts };

serve(NAME, flags.port, async (req, res) => {
	const url = new URL(req.url, 'http://127.0.0.1');
	if (url.pathname.startsWith('/__control/'))
		return handleControl(req, res, url, control);
	const raw = await readBody(req);
	state.requests.push({ t: Date.now(), method: req.method, path: req.url, headers: req.headers, body: raw.toString('utf8') });
	return HANDLERS[MODE](req, res, url, raw);
});
