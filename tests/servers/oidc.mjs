// A real, certified OpenID Connect / OAuth 2.0 server (oidc-provider) for
// the OAuth2 client tests: client_credentials with RFC 8707 resource
// indicators issuing JWT access tokens. Not a mock: client authentication,
// scope and resource checks are oidc-provider's own.
//
//   node servers/oidc.mjs [--port N] --clients FILE [--ttl SECONDS]
//                         [--strip-expires-in] [--tls-dir DIR [--mtls-ca FILE]]
//
// With --tls-dir the server speaks HTTPS with DIR/server.pem and
// DIR/server-key.pem (made by the test with the openssl CLI). --mtls-ca
// asks every client for a certificate and turns on RFC 8705 client
// authentication: tls_client_auth trusts certificates issued by FILE and
// matches tls_client_auth_subject_dn; self_signed_tls_client_auth matches
// the certificate against the client's registered jwks (x5t#S256), both
// oidc-provider's own checks.
//
// FILE is a JSON array of oidc-provider client metadata. The resource
// server https://api.example.com/ grants the scope "api:read" only (others
// asked for are dropped, as oidc-provider does); any other resource is
// refused with invalid_target. --strip-expires-in removes expires_in from
// token answers (RFC 6749 only recommends it). Requests to /token are kept:
// GET /__control/requests.

import fs from 'node:fs';
import https from 'node:https';
import Provider, { errors } from 'oidc-provider';
import { History, handleControl, log, parseFlags, serve } from './lib/common.mjs';

const NAME = 'oidc';
const flags = parseFlags({
	clients: { type: 'string' },
	ttl: { type: 'string', default: '30' },
	'strip-expires-in': { type: 'boolean', default: false },
	'tls-dir': { type: 'string' },
	'mtls-ca': { type: 'string' },
});
const RESOURCE = 'https://api.example.com/';
const requests = new History();
let provider = null;

async function handle(req, res) {
	const url = new URL(req.url, 'http://x');
	if (url.pathname.startsWith('/__control/'))
		return handleControl(req, res, url, {
			requests: () => ({ requests: requests.items }),
		});
	if (url.pathname === '/token')
		requests.push({ t: Date.now(), headers: req.headers });
	return provider.callback()(req, res);
}

function serveTls(dir) {
	const srv = https.createServer({
		cert: fs.readFileSync(`${dir}/server.pem`),
		key: fs.readFileSync(`${dir}/server-key.pem`),
		...(flags['mtls-ca'] ? {
			requestCert: true,
			rejectUnauthorized: false, // self-signed ones are judged by the provider
			ca: fs.readFileSync(flags['mtls-ca']),
		} : {}),
	}, (req, res) => handle(req, res).catch((e) => { log(NAME, e.stack); res.destroy(); }));
	process.on('SIGTERM', () => { srv.closeAllConnections(); process.exit(0); });
	srv.on('tlsClientError', (e) => log(NAME, `TLS: ${e.message}`));
	srv.listen(Number(flags.port), '127.0.0.1', () => {
		process.stdout.write(JSON.stringify({ port: srv.address().port }) + '\n');
	});
	return srv;
}

const server = flags['tls-dir'] ? serveTls(flags['tls-dir']) : serve(NAME, flags.port, handle);
const scheme = flags['tls-dir'] ? 'https' : 'http';

server.on('listening', () => {
	const issuer = `${scheme}://127.0.0.1:${server.address().port}`;
	const ttl = Number(flags.ttl);
	provider = new Provider(issuer, {
		clients: JSON.parse(fs.readFileSync(flags.clients, 'utf8')),
		scopes: ['api:read'],
		clientAuthMethods: ['client_secret_basic', 'client_secret_jwt', 'client_secret_post',
			'private_key_jwt', 'none',
			...(flags['mtls-ca'] ? ['tls_client_auth', 'self_signed_tls_client_auth'] : [])],
		features: {
			devInteractions: { enabled: false },
			mTLS: {
				enabled: Boolean(flags['mtls-ca']),
				tlsClientAuth: true,
				selfSignedTlsClientAuth: true,
				getCertificate: (ctx) => ctx.socket.getPeerX509Certificate?.(),
				certificateAuthorized: (ctx) => ctx.socket.authorized,
				certificateSubjectMatches: (ctx, property, expected) =>
					property === 'tls_client_auth_subject_dn' &&
					ctx.socket.getPeerX509Certificate()?.subject === expected,
			},
			clientCredentials: { enabled: true },
			resourceIndicators: {
				enabled: true,
				defaultResource: () => undefined,
				getResourceServerInfo: (ctx, resource) => {
					if (resource !== RESOURCE)
						throw new errors.InvalidTarget();
					return { scope: 'api:read', audience: RESOURCE,
						accessTokenTTL: ttl, accessTokenFormat: 'jwt' };
				},
			},
		},
		ttl: { ClientCredentials: ttl },
	});
	provider.proxy = false;
	// oidc-provider keeps why it refused out of the answer: keep it here.
	provider.on('grant.error', (ctx, err) => {
		const last = requests.items.at(-1);
		if (last)
			last.detail = err.error_detail || err.error_description;
	});
	provider.use(async (ctx, next) => {
		await next();
		if (ctx.path === '/token' && ctx.body && typeof ctx.body === 'object') {
			requests.items.at(-1).status = ctx.status;
			requests.items.at(-1).answer = { ...ctx.body, access_token: undefined };
			requests.items.at(-1).assertion = ctx.oidc?.body?.client_assertion;
			if (flags['strip-expires-in'] && ctx.status === 200)
				delete ctx.body.expires_in;
		}
	});
	log(NAME, `issuer ${issuer}`);
});
