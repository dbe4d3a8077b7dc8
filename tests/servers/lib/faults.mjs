// Fault injection shared by the peers. A fault is a plain object:
//   {kind, count?, fraction?, op?, ...params}
// count: how many matching requests it hits (absent: until cleared);
// fraction: probability that a matching request is hit (default 1);
// op: only requests of that operation (peer-specific, e.g. "token",
// "GetParameter", "PutParameter"). The first matching fault wins.

export class Faults {
	constructor(kinds) {
		this.kinds = new Set(kinds);
		this.list = [];
	}

	add(spec) {
		if (!this.kinds.has(spec.kind))
			throw new Error(`unknown fault kind ${spec.kind}; known: ${[...this.kinds].join(', ')}`);
		const count = spec.count === undefined || spec.count === null ? Infinity : Number(spec.count);
		const fraction = spec.fraction === undefined ? 1 : Number(spec.fraction);
		if (!(count > 0) || !(fraction > 0 && fraction <= 1))
			throw new Error('count must be > 0 and fraction in (0, 1]');
		this.list.push({ ...spec, remaining: count, fraction, hits: 0 });
		return { faults: this.describe() };
	}

	clear() {
		this.list = [];
		return { faults: [] };
	}

	// Returns the fault to apply to this request, or null.
	take(op) {
		for (const f of this.list) {
			if (f.op && f.op !== op)
				continue;
			if (f.fraction < 1 && Math.random() >= f.fraction)
				continue;
			f.remaining--;
			f.hits++;
			this.list = this.list.filter((x) => x.remaining > 0);
			return f;
		}
		return null;
	}

	describe() {
		return this.list.map((f) => ({
			...f,
			remaining: f.remaining === Infinity ? null : f.remaining,
		}));
	}
}
