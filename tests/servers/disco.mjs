// Authorization server metadata for the discovery fault tests: serves an
// issuer's OIDC (/.well-known/openid-configuration) and RFC 8414 documents
// (/.well-known/oauth-authorization-server inserted before the issuer's
// path) as the test sets them; the token endpoint it names is another
// server's (the real oidc-provider of oidc.mjs).
//
//   node servers/disco.mjs [--port N] [--issuer-path /PATH]
//
// POST /__control/set {status, oidc, token_endpoint, methods, issuer}
// changes what is served (status: of both documents; oidc: false answers
// 404 for the OIDC document; issuer: overrides the metadata's issuer).
// GET /__control/requests lists the metadata paths asked for.

import { History, handleControl, log, parseFlags, sendJson, serve } from './lib/common.mjs';

const NAME = 'disco';
const flags = parseFlags({ 'issuer-path': { type: 'string', default: '' } });
const path = flags['issuer-path'];
const requests = new History();
const state = { status: 200, oidc: true, token_endpoint: null, methods: null, issuer: null };
let issuer = null;

function metadata() {
	const md = { issuer: state.issuer ?? issuer, token_endpoint: state.token_endpoint,
		grant_types_supported: ['client_credentials'] };
	if (state.methods)
		md.token_endpoint_auth_methods_supported = state.methods;
	return md;
}

async function handle(req, res) {
	const url = new URL(req.url, 'http://x');
	if (url.pathname.startsWith('/__control/'))
		return handleControl(req, res, url, {
			set: (args) => { Object.assign(state, args); return { ok: true }; },
			requests: () => ({ requests: requests.items }),
		});
	const oidcPath = `${path}/.well-known/openid-configuration`;
	const rfcPath = `/.well-known/oauth-authorization-server${path}`;
	requests.push({ t: Date.now(), path: url.pathname });
	if (url.pathname === oidcPath && !state.oidc)
		return sendJson(res, 404, { error: 'not_found' });
	if (url.pathname !== oidcPath && url.pathname !== rfcPath)
		return sendJson(res, 404, { error: 'not_found' });
	if (state.status !== 200)
		return sendJson(res, state.status, { error: 'server_error' });
	return sendJson(res, 200, metadata());
}

const server = serve(NAME, flags.port, handle);
server.on('listening', () => {
	issuer = `http://127.0.0.1:${server.address().port}${path}`;
	log(NAME, `issuer ${issuer}`);
});
