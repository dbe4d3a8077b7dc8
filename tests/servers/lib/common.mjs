// Plumbing shared by the test peers: argument parsing, the listen/SIGTERM
// lifecycle, JSON replies, request bodies and the /__control router.
//
// Every peer binds 127.0.0.1, prints exactly one line `{"port":N}` on stdout
// once it listens (the harness waits for it) and logs to stderr only, so that
// stdout stays machine-readable.

import http from 'node:http';
import { parseArgs } from 'node:util';

export function log(name, ...args) {
	const ts = new Date().toISOString();
	process.stderr.write(`${ts} ${name}: ${args.join(' ')}\n`);
}

// node:util parseArgs with the options every peer shares (--port, --name).
export function parseFlags(options) {
	const { values } = parseArgs({
		options: {
			port: { type: 'string', default: '0' },
			...options,
		},
		strict: true,
	});
	return values;
}

export function readBody(req, limit = 1 << 20) {
	return new Promise((resolve, reject) => {
		const chunks = [];
		let size = 0;
		req.on('data', (c) => {
			size += c.length;
			if (size > limit) {
				reject(new Error('body too large'));
				req.destroy();
				return;
			}
			chunks.push(c);
		});
		req.on('end', () => resolve(Buffer.concat(chunks)));
		req.on('error', reject);
	});
}

export function sendJson(res, status, obj, headers = {}) {
	const body = Buffer.from(JSON.stringify(obj));
	res.writeHead(status, {
		'Content-Type': 'application/json',
		'Content-Length': body.length,
		...headers,
	});
	res.end(body);
}

export function sendText(res, status, text, headers = {}) {
	const body = Buffer.from(text);
	res.writeHead(status, {
		'Content-Type': 'text/plain',
		'Content-Length': body.length,
		...headers,
	});
	res.end(body);
}

export function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

// Parses a body as JSON, or as a form when the content type says so.
export function parseBody(req, raw) {
	const ct = (req.headers['content-type'] || '').toLowerCase();
	const text = raw.toString('utf8');
	if (ct.startsWith('application/x-www-form-urlencoded'))
		return Object.fromEntries(new URLSearchParams(text));
	if (text.length === 0)
		return {};
	return JSON.parse(text);
}

// Dispatches /__control/NAME to handlers[NAME](args, req) where args is the
// JSON body (POST) merged over the query string. A handler returns the JSON
// answer; a thrown Error becomes a 400 so a typo in a test fails loudly.
export async function handleControl(req, res, url, handlers) {
	const name = url.pathname.slice('/__control/'.length);
	const handler = handlers[name];
	if (!handler) {
		sendJson(res, 404, { error: `unknown control endpoint ${name}` });
		return;
	}
	try {
		const raw = await readBody(req);
		const args = Object.fromEntries(url.searchParams);
		if (raw.length)
			Object.assign(args, JSON.parse(raw.toString('utf8')));
		const answer = await handler(args, req);
		sendJson(res, 200, answer ?? { ok: true });
	} catch (e) {
		sendJson(res, 400, { error: String(e.message || e) });
	}
}

// Starts an HTTP server on 127.0.0.1, prints the port line and exits 0 on
// SIGTERM/SIGINT after closing every connection (keep-alive ones included:
// tokend keeps connections open, and a peer that waits for them never exits).
export function serve(name, port, handler) {
	const server = http.createServer((req, res) => {
		Promise.resolve(handler(req, res)).catch((e) => {
			log(name, `handler error: ${e.stack || e}`);
			if (!res.headersSent)
				sendJson(res, 500, { error: 'emulator bug', message: String(e) });
			else
				res.destroy();
		});
	});
	server.keepAliveTimeout = 5000;
	const stop = (sig) => {
		log(name, `${sig}: shutting down`);
		server.close(() => process.exit(0));
		server.closeAllConnections();
		setTimeout(() => process.exit(0), 2000).unref();
	};
	process.on('SIGTERM', () => stop('SIGTERM'));
	process.on('SIGINT', () => stop('SIGINT'));
	server.on('error', (e) => {
		log(name, `listen error: ${e.message}`);
		process.exit(1);
	});
	server.listen(Number(port), '127.0.0.1', () => {
		const addr = server.address();
		process.stdout.write(JSON.stringify({ port: addr.port }) + '\n');
		log(name, `listening on 127.0.0.1:${addr.port}`);
	});
	return server;
}

export function httpDate(ms) {
	return new Date(ms).toUTCString();
}

// ISO 8601 without milliseconds, the way AWS writes Expiration.
export function isoSeconds(ms) {
	return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

// A bounded log of recent requests so a control call can show them.
export class History {
	constructor(limit = 500) {
		this.limit = limit;
		this.items = [];
	}

	push(item) {
		this.items.push(item);
		if (this.items.length > this.limit)
			this.items.shift();
	}

	clear() {
		this.items = [];
	}
}
