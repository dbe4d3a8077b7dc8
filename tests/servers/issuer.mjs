// OAuth2 / Auth0 client-credentials issuer for the integration tests.
//
// Wraps oauth2-mock-server (real RS256 JWTs, /jwks, discovery) and adds what
// the library lacks: client authentication (client_secret_post as form or
// JSON, client_secret_basic), a configurable lifetime, fault injection and
// request counters, all steerable through /__control/*.
//
//   node servers/issuer.mjs [--port N] [--client-id ID] [--client-secret S]
//                           [--expires-in SECONDS] [--audience AUD]
//
// Control API (JSON, GET or POST):
//   state                     counters, settings and pending faults
//   expires_in {seconds, jwt_exp?}  lifetime of the next tokens; jwt_exp
//                             (seconds) makes the JWT exp differ from expires_in
//   fault {kind, count?, fraction?, ...}  kinds: status {status}, rate_limit
//                             {retry_after?}, delay {ms}, invalid_json,
//                             missing_token, reset (drop the connection),
//                             answer {expires_in?, access_token?, omit?[]}
//                             (a 200 token answer with those fields replaced;
//                             omit lists fields to leave out, e.g.
//                             ["expires_in"]; access_token defaults to an
//                             opaque string, so no JWT exp can stand in),
//                             huge_body {bytes?} (a 200 JSON answer of that
//                             many bytes, default 10 MiB)
//   clear_faults · reset (counters and history)
//   client {client_id, client_secret}  rotate the expected credentials
//   requests                  every /token request: t (epoch ms), headers,
//                             body (text), content_type, status
//   tokens                    the access tokens issued, in order
//   quota {client?, organization?, raw?}  Auth0's quota headers on every
//                             /token answer: client and organization map a
//                             bucket name to its quota, e.g. {per_hour: 10};
//                             each token issued uses one, and the header
//                             says b=NAME;q=Q;r=LEFT;t=SECONDS-TO-RESET as
//                             Auth0 does (Auth0-Client-Quota-Limit,
//                             Auth0-Organization-Quota-Limit); raw sends
//                             that string as the client header instead.
//                             {} turns them off.

import { randomUUID } from 'node:crypto';
import { OAuth2Server } from 'oauth2-mock-server';
import {
	History, handleControl, log, parseBody, parseFlags, readBody, sendJson, serve, sleep,
} from './lib/common.mjs';
import { Faults } from './lib/faults.mjs';

const NAME = 'issuer';
const flags = parseFlags({
	'client-id': { type: 'string', default: 'tokend-test-client' },
	'client-secret': { type: 'string', default: 'tokend-test-secret' },
	'expires-in': { type: 'string', default: '3600' },
	audience: { type: 'string' },
});

const state = {
	clientId: flags['client-id'],
	clientSecret: flags['client-secret'],
	expiresIn: Number(flags['expires-in']),
	jwtExp: null,
	audience: flags.audience || null,
	tokenRequests: 0,
	tokensIssued: 0,
	requests: new History(),
	tokens: new History(),
};
// Auth0's fine-grained M2M token quotas: {scope: {bucket: {q, used}}}.
const quota = { client: {}, organization: {}, raw: null };
const QUOTA_HEADERS = { client: 'Auth0-Client-Quota-Limit', organization: 'Auth0-Organization-Quota-Limit' };

function quotaReset(bucket) {
	const now = new Date();
	const next = new Date(now);
	if (bucket === 'per_day')
		next.setUTCHours(24, 0, 0, 0);
	else
		next.setUTCMinutes(60, 0, 0);
	return Math.max(0, Math.round((next - now) / 1000));
}

function setQuotaHeaders(res) {
	if (quota.raw !== null) {
		res.setHeader(QUOTA_HEADERS.client, quota.raw);
		return;
	}
	for (const scope of ['client', 'organization']) {
		const parts = Object.entries(quota[scope]).map(([b, v]) =>
			`b=${b};q=${v.q};r=${Math.max(0, v.q - v.used)};t=${quotaReset(b)}`);
		if (parts.length > 0)
			res.setHeader(QUOTA_HEADERS[scope], parts.join(','));
	}
}

function useQuota(res) {
	for (const scope of ['client', 'organization'])
		for (const v of Object.values(quota[scope]))
			v.used++;
	setQuotaHeaders(res);
}

const faults = new Faults(['status', 'rate_limit', 'delay', 'invalid_json', 'missing_token', 'reset',
	'answer', 'huge_body']);
const MIB = 1024 * 1024;

// A well-formed answer but for the fields the fault overrides or omits.
function faultyAnswer(f) {
	const body = {
		access_token: `opaque-${randomUUID()}`,
		token_type: 'Bearer',
		expires_in: state.expiresIn,
	};
	for (const key of ['expires_in', 'access_token'])
		if (f[key] !== undefined)
			body[key] = f[key];
	for (const key of f.omit || [])
		delete body[key];
	return body;
}

// {"access_token":"…","padding":"xxx…"} of exactly `bytes` bytes (or the
// smallest such object when bytes is smaller).
function hugeBody(bytes) {
	const head = `{"access_token":"opaque-${randomUUID()}","token_type":"Bearer",` +
		`"expires_in":${state.expiresIn},"padding":"`;
	return head + 'x'.repeat(Math.max(0, bytes - head.length - 2)) + '"}';
}

const oauth = new OAuth2Server();
await oauth.issuer.keys.generate('RS256');
const app = oauth.service.requestHandler;

oauth.service.on('beforeTokenSigning', (token, req) => {
	const p = token.payload;
	const ctx = req.tokendCtx;
	p.exp = p.iat + (ctx.jwtExp ?? ctx.expiresIn);
	p.sub = `${ctx.clientId}@clients`;
	p.azp = ctx.clientId;
	p.gty = 'client-credentials';
	// A unique id, as real issuers give: two tokens minted in the same
	// second must still differ.
	p.jti = randomUUID();
	if (ctx.audience !== undefined)
		p.aud = ctx.audience;
});

oauth.service.on('beforeResponse', (response, req) => {
	response.body.expires_in = req.tokendCtx.expiresIn;
	if (response.body.scope === undefined)
		delete response.body.scope;
	if (response.statusCode === 200) {
		state.tokensIssued++;
		state.tokens.push(response.body.access_token);
	}
});

function deny(res, status, error, description, headers = {}) {
	sendJson(res, status, { error, error_description: description }, headers);
}

// Returns {clientId, secret, method} or a string describing a bad request.
function clientAuth(req, body) {
	const auth = req.headers.authorization;
	if (auth !== undefined) {
		const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(auth);
		if (!m)
			return 'malformed Authorization header';
		if (body.client_secret !== undefined)
			return 'more than one client authentication method';
		const decoded = Buffer.from(m[1], 'base64').toString('utf8');
		const i = decoded.indexOf(':');
		if (i < 0)
			return 'malformed Basic credentials';
		// RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
		const unform = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
		return { clientId: unform(decoded.slice(0, i)), secret: unform(decoded.slice(i + 1)), method: 'basic' };
	}
	return { clientId: body.client_id, secret: body.client_secret, method: 'post' };
}

async function applyFault(f, res, req) {
	switch (f.kind) {
	case 'delay':
		await sleep(Number(f.ms || 1000));
		return false;
	case 'status':
		deny(res, Number(f.status || 500), 'server_error', 'injected failure');
		return true;
	case 'rate_limit': {
		const headers = {
			'x-ratelimit-limit': '30',
			'x-ratelimit-remaining': '0',
			// Rounded up, so the reset is at least retry_after s away: Auth0's
			// epoch seconds, without a window that closes within the second.
			'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + Number(f.retry_after ?? 1)),
		};
		if (f.retry_after !== undefined && f.retry_after !== null)
			headers['Retry-After'] = String(f.retry_after);
		deny(res, 429, 'too_many_requests', 'Global limit has been reached', headers);
		return true;
	}
	case 'invalid_json':
		res.writeHead(200, { 'Content-Type': 'application/json' });
		res.end('{"access_token": "eyJ');
		return true;
	case 'missing_token':
		sendJson(res, 200, { token_type: 'Bearer', expires_in: state.expiresIn });
		return true;
	case 'reset':
		req.socket.destroy();
		return true;
	case 'answer':
		sendJson(res, 200, faultyAnswer(f));
		return true;
	case 'huge_body': {
		const body = hugeBody(Number(f.bytes || 10 * MIB));
		res.writeHead(200, {
			'Content-Type': 'application/json',
			'Content-Length': Buffer.byteLength(body),
		});
		res.end(body);
		return true;
	}
	}
	return false;
}

async function handleToken(req, res) {
	const raw = await readBody(req);
	const record = {
		t: Date.now(),
		method: req.method,
		path: req.url,
		headers: req.headers,
		content_type: req.headers['content-type'] || null,
		body: raw.toString('utf8'),
		status: null,
	};
	state.requests.push(record);
	state.tokenRequests++;
	res.on('finish', () => {
		record.status = res.statusCode;
	});

	setQuotaHeaders(res);
	const f = faults.take('token');
	if (f && await applyFault(f, res, req))
		return;

	let body;
	try {
		body = parseBody(req, raw);
	} catch {
		deny(res, 400, 'invalid_request', 'body is neither JSON nor a form');
		return;
	}
	const who = clientAuth(req, body);
	if (typeof who === 'string') {
		deny(res, 400, 'invalid_request', who);
		return;
	}
	if (who.clientId !== state.clientId || who.secret !== state.clientSecret) {
		log(NAME, `client authentication failed (${who.method}, client_id=${who.clientId})`);
		const hdr = who.method === 'basic' ? { 'WWW-Authenticate': 'Basic realm="issuer"' } : {};
		deny(res, 401, 'access_denied', 'Unauthorized', hdr);
		return;
	}
	if (body.grant_type !== 'client_credentials') {
		deny(res, 400, 'unsupported_grant_type', `grant_type ${body.grant_type} is not supported`);
		return;
	}
	if (state.audience && body.audience !== state.audience) {
		deny(res, 403, 'access_denied', `Service not enabled within domain: ${body.audience}`);
		return;
	}
	req.tokendCtx = {
		clientId: who.clientId,
		expiresIn: state.expiresIn,
		jwtExp: state.jwtExp,
		audience: body.audience,
	};
	// Hand the already-read body to the library: body-parser skips requests
	// whose _body flag is set.
	req.body = { grant_type: 'client_credentials' };
	if (body.scope !== undefined)
		req.body.scope = body.scope;
	req._body = true;
	req.url = '/token';
	useQuota(res);
	app(req, res);
}

const control = {
	state: () => ({
		token_requests: state.tokenRequests,
		tokens_issued: state.tokensIssued,
		expires_in: state.expiresIn,
		jwt_exp: state.jwtExp,
		client_id: state.clientId,
		faults: faults.describe(),
	}),
	expires_in: (a) => {
		if (!(Number(a.seconds) > 0))
			throw new Error('seconds must be > 0');
		state.expiresIn = Number(a.seconds);
		state.jwtExp = a.jwt_exp === undefined || a.jwt_exp === null ? null : Number(a.jwt_exp);
		return control.state();
	},
	fault: (a) => faults.add(a),
	clear_faults: () => faults.clear(),
	reset: () => {
		state.tokenRequests = 0;
		state.tokensIssued = 0;
		state.requests.clear();
		state.tokens.clear();
		return control.state();
	},
	client: (a) => {
		state.clientId = a.client_id ?? state.clientId;
		state.clientSecret = a.client_secret ?? state.clientSecret;
		return { client_id: state.clientId };
	},
	requests: () => ({ requests: state.requests.items }),
	tokens: () => ({ tokens: state.tokens.items }),
	quota: (a) => {
		const pick = (m) => Object.fromEntries(Object.entries(m || {}).map(
			([b, q]) => [b, { q: Number(q), used: 0 }]));
		quota.client = pick(a.client);
		quota.organization = pick(a.organization);
		quota.raw = typeof a.raw === 'string' ? a.raw : null;
		return { client: quota.client, organization: quota.organization, raw: quota.raw };
	},
};

function handler(req, res) {
	const url = new URL(req.url, 'http://127.0.0.1');
	if (url.pathname.startsWith('/__control/'))
		return handleControl(req, res, url, control);
	if (req.method === 'POST' && (url.pathname === '/token' || url.pathname === '/oauth/token'))
		return handleToken(req, res);
	return app(req, res);
}

const server = serve(NAME, flags.port, handler);
server.on('listening', () => {
	oauth.issuer.url = `http://127.0.0.1:${server.address().port}`;
});
