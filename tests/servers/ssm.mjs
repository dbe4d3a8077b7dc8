// AWS Systems Manager Parameter Store emulator (awsJson1_1, wire-formats.md
// §4) that checks every request's SigV4 signature (§1) and clock window (§7).
//
//   node servers/ssm.mjs [--port N] [--credentials AKID:SECRET[,…]]
//                        [--credentials-file PATH] [--region R]
//                        [--get-tps T --get-burst B] [--put-tps T --put-burst B]
//
// --credentials-file is the JSON-lines registry the ECS/IMDS/STS emulators
// append to, so credentials they issue are accepted here. --region, when
// given, is enforced in the credential scope (and used in ARNs).
//
// Rate limits are account-wide token buckets, as Parameter Store's quotas
// are: "get" is shared by GetParameter, GetParameters, GetParametersByPath
// and DescribeParameters, "put" by PutParameter and DeleteParameter(s).
// A bucket holds --*-burst tokens (default: one second's worth) and refills
// at --*-tps per second; no --*-tps means unlimited. A request that finds
// its bucket empty is answered as SSM answers over quota: HTTP 400,
// X-Amzn-ErrorType ThrottlingException, {"__type":"ThrottlingException",
// "message":"Rate exceeded"}, counted as result "throttled". The signature
// is checked first, so a throttled request was still a valid one.
//
// Control API (JSON):
//   state            counts per operation and result, faults, clock offset
//   calls            recent calls: t, op, result, status, name, akid
//   fault {kind, count?, fraction?, op?, …}  kinds: throttle,
//                    too_many_updates (PutParameter only), status {status},
//                    access_denied, delay {ms}, reset, invalid_json,
//                    drop_answer (the operation is done, the socket closed)
//   clear_faults · reset (counters and calls)
//   clock {offset_s} emulator time = now + offset (Date header and window)
//   parameter {name} read a parameter, plaintext and all versions
//   put_parameter {name, value, type?, …}  write as PutParameter Overwrite
//   corrupt {name, value?}  replace the current value in place (no new version)
//   delete_parameter {name}
//   credentials {akid, secret, token?, expiration?}  accept one more key
//   limits {get_tps?, get_burst?, put_tps?, put_burst?}  change the rate
//                    limits (0 or null tps: unlimited); answers the limits
//                    with their ok/throttled counts, as state does

import crypto from 'node:crypto';
import {
	History, handleControl, httpDate, log, parseFlags, readBody, sendJson, serve, sleep,
} from './lib/common.mjs';
import { CredStore } from './lib/credstore.mjs';
import { Faults } from './lib/faults.mjs';
import { RateLimits } from './lib/rate-limit.mjs';
import { ApiError, SsmStore } from './lib/ssm-store.mjs';
import { verifySigV4 } from './lib/sigv4-verify.mjs';

const NAME = 'ssm';
const flags = parseFlags({
	credentials: { type: 'string', default: 'AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
	'credentials-file': { type: 'string' },
	region: { type: 'string' },
	'get-tps': { type: 'string' },
	'get-burst': { type: 'string' },
	'put-tps': { type: 'string' },
	'put-burst': { type: 'string' },
});

const creds = new CredStore(flags.credentials, flags['credentials-file']);
const store = new SsmStore(flags.region || 'us-east-1');
const faults = new Faults(['throttle', 'too_many_updates', 'status', 'access_denied', 'delay', 'reset', 'invalid_json', 'drop_answer']);
const state = { offsetMs: 0, counts: {}, calls: new History(1000) };
const limits = new RateLimits({
	GetParameter: 'get',
	GetParameters: 'get',
	GetParametersByPath: 'get',
	DescribeParameters: 'get',
	PutParameter: 'put',
	DeleteParameter: 'put',
	DeleteParameters: 'put',
});
limits.set({
	get_tps: flags['get-tps'], get_burst: flags['get-burst'],
	put_tps: flags['put-tps'], put_burst: flags['put-burst'],
});

const OPS = {
	GetParameter: (input) => store.get(input),
	GetParameters: (input) => store.getMany(input),
	DescribeParameters: (input) => store.describe(input),
	PutParameter: (input, now) => store.put(input, now),
	DeleteParameter: (input) => store.delete(input),
	DeleteParameters: (input) => store.deleteMany(input),
};

function now() {
	return Date.now() + state.offsetMs;
}

function reply(res, status, body, extra = {}) {
	sendJson(res, status, body, {
		'Content-Type': 'application/x-amz-json-1.1',
		'x-amzn-RequestId': crypto.randomUUID(),
		Date: httpDate(now()),
		...extra,
	});
}

function count(call, result, status) {
	call.result = result;
	call.status = status;
	const byOp = (state.counts[call.op] ??= {});
	byOp[result] = (byOp[result] ?? 0) + 1;
}

// Returns true when the fault answered the request.
async function applyFault(f, op, req, res, call) {
	switch (f.kind) {
	case 'delay':
		await sleep(Number(f.ms || 1000));
		return false;
	case 'reset':
		count(call, 'reset', 0);
		req.socket.destroy();
		return true;
	case 'invalid_json':
		count(call, 'invalid_json', 200);
		res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1', Date: httpDate(now()) });
		res.end('{"Parameter": {"Name": ');
		return true;
	}
	let err;
	if (f.kind === 'throttle')
		err = new ApiError('ThrottlingException', 'Rate exceeded');
	else if (f.kind === 'too_many_updates')
		err = new ApiError('TooManyUpdates', 'There are concurrent updates for a resource that supports one update at a time.', 400, 'Message');
	else if (f.kind === 'access_denied')
		err = new ApiError('AccessDeniedException', `User: arn:aws:sts::123456789012:assumed-role/test/tokend is not authorized to perform: ssm:${op} because no identity-based policy allows the ssm:${op} action`);
	else if (Number(f.status || 500) === 503)
		err = new ApiError('ServiceUnavailable', 'Service is unavailable', 503);
	else
		err = new ApiError('InternalServerError', 'An internal error occurred.', Number(f.status || 500), 'Message');
	count(call, err.code, err.status);
	reply(res, err.status, err.body(), { 'X-Amzn-ErrorType': err.code });
	return true;
}

async function handleApi(req, res) {
	const raw = await readBody(req);
	const target = req.headers['x-amz-target'] || '';
	const op = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : target;
	const call = { t: Date.now(), op, result: null, status: null, name: null, akid: null };
	state.calls.push(call);
	try {
		if (req.method !== 'POST' || new URL(req.url, 'http://x').pathname !== '/')
			throw new ApiError('UnknownOperationException', '', 404);
		const auth = await verifySigV4(req, raw, {
			store: creds, nowMs: now(), service: 'ssm', region: flags.region, log: (m) => log(NAME, m),
		});
		call.akid = auth.akid;
		if (!OPS[op])
			throw new ApiError('UnknownOperationException', '');
		if (!(req.headers['content-type'] || '').startsWith('application/x-amz-json-1.1'))
			throw new ApiError('SerializationException', 'Content-Type must be application/x-amz-json-1.1');
		let input;
		try {
			input = JSON.parse(raw.toString('utf8') || '{}');
		} catch {
			throw new ApiError('SerializationException', 'Start of structure or map found where not expected.');
		}
		call.name = input.Name ?? input.Names ?? null;
		if (!limits.admit(op)) {
			count(call, 'throttled', 400);
			const err = new ApiError('ThrottlingException', 'Rate exceeded');
			reply(res, err.status, err.body(), { 'X-Amzn-ErrorType': err.code });
			return;
		}
		const f = faults.take(op);
		if (f && f.kind === 'drop_answer') {
			// The operation takes effect, its answer is lost on the way.
			OPS[op](input, now());
			count(call, 'dropped', 0);
			req.socket.destroy();
			return;
		}
		if (f && await applyFault(f, op, req, res, call))
			return;
		const out = OPS[op](input, now());
		count(call, 'ok', 200);
		reply(res, 200, out);
	} catch (e) {
		if (!(e instanceof ApiError))
			throw e;
		log(NAME, `${op || '-'} ${call.name ?? ''}: ${e.code}: ${e.message}`);
		count(call, e.code, e.status);
		reply(res, e.status, e.body(), { 'X-Amzn-ErrorType': e.code });
	}
}

function needParam(a) {
	const d = store.dump(a.name);
	if (!d)
		throw new Error(`no parameter ${a.name}`);
	return d;
}

const control = {
	state: () => ({
		counts: state.counts,
		faults: faults.describe(),
		clock_offset_s: state.offsetMs / 1000,
		parameters: [...store.params.keys()],
		limits: limits.describe(),
	}),
	calls: () => ({ calls: state.calls.items }),
	fault: (a) => faults.add(a.kind === 'too_many_updates' && !a.op ? { ...a, op: 'PutParameter' } : a),
	clear_faults: () => faults.clear(),
	limits: (a) => {
		limits.set(a);
		return { limits: limits.describe() };
	},
	reset: () => {
		state.counts = {};
		state.calls.clear();
		limits.resetCounts();
		return control.state();
	},
	clock: (a) => {
		state.offsetMs = Number(a.offset_s || 0) * 1000;
		return { clock_offset_s: state.offsetMs / 1000, now: httpDate(now()) };
	},
	parameter: (a) => needParam(a),
	put_parameter: (a) => store.put({
		Name: a.name,
		Value: a.value,
		Type: a.type ?? (store.params.has(a.name) ? undefined : 'SecureString'),
		Description: a.description,
		Tier: a.tier,
		KeyId: a.key_id,
		Overwrite: true,
	}, now()),
	corrupt: (a) => {
		needParam(a);
		store.params.get(a.name).versions.at(-1).value = a.value ?? '\u0000}{corrupt';
		return needParam(a);
	},
	delete_parameter: (a) => {
		needParam(a);
		store.params.delete(a.name);
		return {};
	},
	credentials: (a) => {
		creds.static.set(a.akid, {
			akid: a.akid, secret: a.secret, token: a.token ?? null, expiration: a.expiration ?? null,
		});
		return { akid: a.akid };
	},
};

serve(NAME, flags.port, (req, res) => {
	const url = new URL(req.url, 'http://127.0.0.1');
	if (url.pathname.startsWith('/__control/'))
		return handleControl(req, res, url, control);
	return handleApi(req, res);
});
