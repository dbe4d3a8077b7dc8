// The credentials registry shared between the AWS credential emulators
// (ECS, IMDS, STS), which append what they issue, and the SSM emulator, which
// verifies signatures with it. It is a JSON-lines file:
//   {"akid":"ASIA…","secret":"…","token":"…","expiration":EPOCH_MS|null}
// Appending whole lines with one write keeps concurrent writers safe.

import fs from 'node:fs';
import crypto from 'node:crypto';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomFrom(alphabet, n) {
	const bytes = crypto.randomBytes(n);
	let s = '';
	for (const b of bytes)
		s += alphabet[b % alphabet.length];
	return s;
}

// New temporary credentials valid for lifetimeS seconds from nowMs.
export function mintCredentials(nowMs, lifetimeS) {
	return {
		akid: 'ASIA' + randomFrom(ALNUM, 16),
		secret: crypto.randomBytes(30).toString('base64'),
		token: 'IQoJb3JpZ2luX2VjE' + crypto.randomBytes(96).toString('base64'),
		expiration: nowMs + lifetimeS * 1000,
	};
}

export function appendCredentials(path, cred) {
	if (!path)
		return;
	fs.appendFileSync(path, JSON.stringify(cred) + '\n');
}

// Static keys from `AKID:SECRET[,AKID2:SECRET2]` plus, when a file is given,
// every line of it (re-read whenever its size changes).
export class CredStore {
	constructor(spec, path) {
		this.static = new Map();
		for (const pair of (spec || '').split(',').filter(Boolean)) {
			const i = pair.indexOf(':');
			if (i <= 0)
				throw new Error(`bad credentials pair ${pair}`);
			const akid = pair.slice(0, i);
			this.static.set(akid, { akid, secret: pair.slice(i + 1), token: null, expiration: null });
		}
		this.path = path;
		this.fileSize = -1;
		this.fromFile = new Map();
	}

	reload() {
		if (!this.path)
			return;
		let text;
		try {
			text = fs.readFileSync(this.path, 'utf8');
		} catch {
			return;
		}
		if (text.length === this.fileSize)
			return;
		this.fileSize = text.length;
		this.fromFile.clear();
		for (const line of text.split('\n')) {
			if (!line.trim())
				continue;
			const c = JSON.parse(line);
			this.fromFile.set(c.akid, c);
		}
	}

	lookup(akid) {
		if (this.static.has(akid))
			return this.static.get(akid);
		this.reload();
		return this.fromFile.get(akid) || null;
	}
}
