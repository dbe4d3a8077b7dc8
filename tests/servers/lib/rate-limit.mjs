// Account-wide request quotas as token buckets, the way AWS throttles an
// account's calls of an API: a bucket holds up to `burst` tokens, refills at
// `tps` tokens a second, and a request is admitted only when it can take a
// whole token (a refused request takes none). Time is the host's monotonic
// clock, not the emulator's skewed one: a quota does not move with a clock.

class Bucket {
	constructor() {
		this.tps = null;
		this.burst = null;
		this.tokens = 0;
		this.last = 0;
		this.ok = 0;
		this.throttled = 0;
	}

	// tps null/0: unlimited. burst defaults to one second's worth (at least 1).
	configure(tps, burst) {
		this.tps = tps > 0 ? tps : null;
		this.burst = this.tps === null ? null : Math.max(1, burst > 0 ? burst : this.tps);
		this.tokens = this.burst ?? 0;
		this.last = performance.now();
	}

	admit() {
		if (this.tps === null) {
			this.ok++;
			return true;
		}
		const now = performance.now();
		this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.tps);
		this.last = now;
		if (this.tokens >= 1) {
			this.tokens -= 1;
			this.ok++;
			return true;
		}
		this.throttled++;
		return false;
	}

	describe() {
		return {
			tps: this.tps, burst: this.burst, ok: this.ok, throttled: this.throttled,
		};
	}
}

function number(v, what) {
	if (v === undefined || v === null || v === '')
		return null;
	const n = Number(v);
	if (!Number.isFinite(n) || n < 0)
		throw new Error(`${what} must be a number >= 0, got ${v}`);
	return n;
}

export class RateLimits {
	// classOf: operation name -> bucket name; operations not named are free.
	constructor(classOf) {
		this.classOf = classOf;
		this.buckets = {};
		for (const c of new Set(Object.values(classOf)))
			this.buckets[c] = new Bucket();
	}

	// {CLASS_tps, CLASS_burst}: a class whose tps key is absent keeps its
	// limit unless its burst is given; tps 0 or null lifts it.
	set(args) {
		for (const [c, b] of Object.entries(this.buckets)) {
			const hasTps = args[`${c}_tps`] !== undefined;
			const tps = number(args[`${c}_tps`], `${c}_tps`);
			const burst = number(args[`${c}_burst`], `${c}_burst`);
			if (hasTps || burst !== null)
				b.configure(hasTps ? tps : b.tps, burst);
		}
	}

	admit(op) {
		const c = this.classOf[op];
		return c === undefined ? true : this.buckets[c].admit();
	}

	resetCounts() {
		for (const b of Object.values(this.buckets)) {
			b.ok = 0;
			b.throttled = 0;
		}
	}

	describe() {
		const out = {};
		for (const [c, b] of Object.entries(this.buckets))
			out[c] = { ...b.describe(), ops: Object.keys(this.classOf).filter((op) => this.classOf[op] === c) };
		return out;
	}
}
