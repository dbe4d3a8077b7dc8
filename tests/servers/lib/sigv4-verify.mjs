// Server-side SigV4 verification for the AWS emulators. The signature is
// recomputed with @smithy/signature-v4 (the signer the AWS SDK itself uses)
// over exactly the headers the client listed in SignedHeaders, then compared.
// Failures throw an ApiError carrying the code and message AWS would send.

import crypto from 'node:crypto';
import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';
import {
	SignatureV4, getCanonicalHeaders, getPayloadHash,
} from '@smithy/signature-v4';
import { ApiError } from './ssm-store.mjs';

const WINDOW_MS = 15 * 60 * 1000;
const sha256 = Hash.bind(null, 'sha256');

export function amzDate(ms) {
	return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function parseAmzDate(s) {
	const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
	if (!m)
		return null;
	return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

function incomplete(msg) {
	return new ApiError('IncompleteSignatureException', msg);
}

export function parseAuthorization(header) {
	if (header === undefined)
		throw new ApiError('MissingAuthenticationTokenException', 'Missing Authentication Token');
	const m = /^AWS4-HMAC-SHA256 (.*)$/.exec(header);
	if (!m)
		throw incomplete(`Unsupported or missing algorithm in Authorization header: ${header.split(' ')[0]}`);
	const parts = {};
	for (const kv of m[1].split(',')) {
		const i = kv.indexOf('=');
		if (i < 0)
			throw incomplete(`Authorization header requires each component to be of the form key=value: '${kv.trim()}'`);
		parts[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
	}
	for (const k of ['Credential', 'SignedHeaders', 'Signature']) {
		if (!parts[k])
			throw incomplete(`Authorization header requires '${k}' parameter.`);
	}
	const scope = parts.Credential.split('/');
	if (scope.length !== 5 || scope[4] !== 'aws4_request' || !/^\d{8}$/.test(scope[1]))
		throw incomplete(`Credential should be scoped to a valid region, not '${scope[2] || ''}'. `);
	if (!/^[0-9a-f]{64}$/.test(parts.Signature))
		throw incomplete('Signature must be 64 lower-case hexadecimal characters.');
	return {
		akid: scope[0],
		scopeDate: scope[1],
		region: scope[2],
		service: scope[3],
		signedHeaders: parts.SignedHeaders.split(';'),
		signature: parts.Signature,
	};
}

function checkWindow(signedMs, nowMs, xAmzDate) {
	if (signedMs < nowMs - WINDOW_MS) {
		throw new ApiError('InvalidSignatureException',
			`Signature expired: ${xAmzDate} is now earlier than ${amzDate(nowMs - WINDOW_MS)} ` +
			`(${amzDate(nowMs)} - 15 min.)`);
	}
	if (signedMs > nowMs + WINDOW_MS) {
		throw new ApiError('InvalidSignatureException',
			`Signature not yet current: ${xAmzDate} is still later than ${amzDate(nowMs + WINDOW_MS)} ` +
			`(${amzDate(nowMs)} + 15 min.)`);
	}
}

function checkCredentials(req, cred, auth, nowMs) {
	const invalid = () => new ApiError('UnrecognizedClientException',
		'The security token included in the request is invalid.');
	if (!cred)
		throw invalid();
	const token = req.headers['x-amz-security-token'];
	if ((cred.token || null) !== (token ?? null))
		throw invalid();
	if (token !== undefined && !auth.signedHeaders.includes('x-amz-security-token'))
		throw invalid();
	if (cred.expiration && nowMs >= cred.expiration)
		throw new ApiError('ExpiredTokenException', 'The security token included in the request is expired');
}

function buildRequest(req, rawBody, signedHeaders) {
	const url = new URL(req.url, 'http://placeholder');
	const headers = {};
	for (const name of signedHeaders) {
		if (req.headers[name] !== undefined)
			headers[name] = String(req.headers[name]);
	}
	const query = {};
	for (const [k, v] of url.searchParams)
		query[k] = k in query ? [].concat(query[k], v) : v;
	return new HttpRequest({
		method: req.method,
		protocol: 'http:',
		hostname: (req.headers.host || '').split(':')[0],
		path: url.pathname,
		query,
		headers,
		body: rawBody,
	});
}

// Logs what we expected, with the session token masked, to the emulator's
// stderr: the quickest way to see why a client's signature differs.
async function explain(log, request, auth) {
	const hdrs = getCanonicalHeaders(request, undefined, new Set(auth.signedHeaders));
	if (hdrs['x-amz-security-token'])
		hdrs['x-amz-security-token'] = '<session token>';
	const payloadHash = await getPayloadHash(request, sha256);
	const lines = Object.keys(hdrs).sort().map((k) => `${k}:${hdrs[k]}`);
	log(`expected canonical request (headers):\n${request.method}\n${request.path}\n${lines.join('\n')}\n` +
		`\n${Object.keys(hdrs).sort().join(';')}\n${payloadHash}`);
}

// Verifies req; returns {akid, cred, region}. opts: {store, nowMs, service,
// region (optional: required scope region), log}.
export async function verifySigV4(req, rawBody, opts) {
	const auth = parseAuthorization(req.headers.authorization);
	const xAmzDate = req.headers['x-amz-date'];
	const signedMs = parseAmzDate(xAmzDate);
	if (signedMs === null)
		throw incomplete(`Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.`);
	if (auth.scopeDate !== xAmzDate.slice(0, 8)) {
		throw new ApiError('InvalidSignatureException',
			`Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: ` +
			`'${auth.scopeDate}' != '${xAmzDate.slice(0, 8)}', from 'X-Amz-Date'.`);
	}
	if (auth.service !== opts.service)
		throw new ApiError('InvalidSignatureException', `Credential should be scoped to correct service: '${opts.service}'. `);
	if (opts.region && auth.region !== opts.region)
		throw new ApiError('InvalidSignatureException', `Credential should be scoped to a valid region, not '${auth.region}'. `);
	if (!auth.signedHeaders.includes('host'))
		throw new ApiError('InvalidSignatureException', `'Host' must be a 'SignedHeader' in the AWS Authorization.`);
	const cred = opts.store.lookup(auth.akid);
	checkCredentials(req, cred, auth, opts.nowMs);
	checkWindow(signedMs, opts.nowMs, xAmzDate);

	const request = buildRequest(req, rawBody, auth.signedHeaders);
	const signer = new SignatureV4({
		credentials: {
			accessKeyId: cred.akid,
			secretAccessKey: cred.secret,
			sessionToken: auth.signedHeaders.includes('x-amz-security-token') ? cred.token : undefined,
		},
		region: auth.region,
		service: auth.service,
		sha256,
		applyChecksum: false,
	});
	const signed = await signer.sign(request, {
		signingDate: new Date(signedMs),
		signableHeaders: new Set(auth.signedHeaders),
	});
	const m = /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization);
	const ok = m && crypto.timingSafeEqual(Buffer.from(m[1]), Buffer.from(auth.signature));
	if (!ok) {
		if (opts.log)
			await explain(opts.log, request, auth);
		throw new ApiError('InvalidSignatureException',
			'The request signature we calculated does not match the signature you provided. ' +
			'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
	}
	return { akid: auth.akid, cred, region: auth.region };
}
