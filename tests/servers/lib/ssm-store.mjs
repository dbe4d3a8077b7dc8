// The parameter store behind ssm.mjs: names, versions, types, tiers and the
// errors AWS SSM answers (wire-formats.md §4). Pure data, no HTTP.

import crypto from 'node:crypto';

export class ApiError extends Error {
	// status 400 unless given; SSM's own TooManyUpdates/InternalServerError
	// shapes carry "Message" rather than "message".
	constructor(code, message, status = 400, messageKey = 'message') {
		super(message);
		this.code = code;
		this.status = status;
		this.messageKey = messageKey;
	}

	body() {
		return { __type: this.code, [this.messageKey]: this.message };
	}
}

const LIMITS = { Standard: 4096, Advanced: 8192 };
const TYPES = new Set(['String', 'StringList', 'SecureString']);
const MAX_VERSIONS = 100;

function validation(msg) {
	return new ApiError('ValidationException', msg);
}

function checkName(name) {
	if (typeof name !== 'string' || name.length === 0)
		throw validation("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null");
	if (/\s/.test(name.trim()))
		throw validation(`Parameter name: can't contain spaces: ${name}`);
	if (/^\/?(aws|ssm)/i.test(name))
		throw validation(`No access to reserved parameter name: ${name}.`);
	if (!/^[a-zA-Z0-9_.\-/]+$/.test(name))
		throw new ApiError('ParameterPatternMismatchException',
			'Parameter name: can be a combination of letters, numbers, and the symbols .-_/');
	if (name.split('/').filter(Boolean).length > 15)
		throw new ApiError('HierarchyLevelLimitExceededException',
			'Parameter name hierarchy is too deep: at most 15 levels are allowed.');
}

export class SsmStore {
	constructor(region = 'us-east-1', account = '123456789012') {
		this.region = region;
		this.account = account;
		this.params = new Map();
	}

	arn(name) {
		const path = name.startsWith('/') ? name.slice(1) : name;
		return `arn:aws:ssm:${this.region}:${this.account}:parameter/${path}`;
	}

	// "name", "name:VERSION" or an ARN. Labels are not modelled.
	resolve(sel) {
		let name = sel;
		const prefix = `arn:aws:ssm:${this.region}:${this.account}:parameter`;
		if (name.startsWith(prefix))
			name = name.slice(prefix.length);
		let version = null;
		const m = /^(.*):(\d+)$/.exec(name);
		if (m) {
			name = m[1];
			version = Number(m[2]);
		}
		const p = this.params.get(name);
		if (!p)
			throw new ApiError('ParameterNotFound', '');
		const v = version === null ? p.versions[p.versions.length - 1] : p.versions.find((x) => x.version === version);
		if (!v)
			throw new ApiError('ParameterVersionNotFound', `Systems Manager could not find version ${version} of ${name}.`);
		return { name, p, v, selector: version === null ? undefined : `:${version}` };
	}

	// What GetParameter hands out: SecureStrings are "ciphertext" unless
	// decryption was asked for.
	shape(r, withDecryption) {
		let value = r.v.value;
		if (r.p.type === 'SecureString' && !withDecryption) {
			const h = crypto.createHash('sha256').update(`${r.v.keyId}\0${r.v.version}\0${value}`).digest();
			value = 'AQICAHh' + Buffer.concat([h, h]).toString('base64');
		}
		const out = {
			Name: r.name,
			Type: r.p.type,
			Value: value,
			Version: r.v.version,
			LastModifiedDate: r.v.lastModified / 1000,
			ARN: this.arn(r.name),
			DataType: r.p.dataType,
		};
		if (r.selector)
			out.Selector = r.selector;
		return out;
	}

	get(input) {
		if (typeof input.Name !== 'string')
			throw validation("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null");
		return { Parameter: this.shape(this.resolve(input.Name), input.WithDecryption === true) };
	}

	getMany(input) {
		const names = input.Names;
		if (!Array.isArray(names) || names.length < 1 || names.length > 10)
			throw validation("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10");
		const out = { Parameters: [], InvalidParameters: [] };
		for (const n of names) {
			try {
				out.Parameters.push(this.shape(this.resolve(n), input.WithDecryption === true));
			} catch (e) {
				if (!(e instanceof ApiError) || !e.code.startsWith('Parameter'))
					throw e;
				out.InvalidParameters.push(n);
			}
		}
		return out;
	}

	tierFor(input, existing) {
		const len = Buffer.byteLength(input.Value, 'utf8');
		let tier = input.Tier ?? existing?.tier ?? 'Standard';
		if (tier === 'Intelligent-Tiering')
			tier = len > LIMITS.Standard || existing?.tier === 'Advanced' ? 'Advanced' : 'Standard';
		if (!(tier in LIMITS))
			throw validation(`1 validation error detected: Value '${tier}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]`);
		if (existing?.tier === 'Advanced' && tier === 'Standard')
			throw validation('This parameter uses the advanced-parameter tier. You can\'t downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.');
		if (len > LIMITS.Advanced)
			throw validation(`1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to ${LIMITS.Advanced}`);
		if (len > LIMITS[tier])
			throw validation('Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html');
		return tier;
	}

	put(input, nowMs) {
		checkName(input.Name);
		if (typeof input.Value !== 'string' || input.Value.length === 0)
			throw validation("1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1");
		if (input.Type !== undefined && !TYPES.has(input.Type))
			throw new ApiError('UnsupportedParameterType', `The parameter type ${input.Type} is not supported.`);
		if ((input.Description ?? '').length > 1024)
			throw validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1024");
		if (input.KeyId !== undefined && !/^[a-zA-Z0-9:/_-]{1,256}$/.test(input.KeyId))
			throw new ApiError('InvalidKeyId', `Invalid KeyId ${input.KeyId}`);
		const name = input.Name.trim();
		const existing = this.params.get(name);
		if (existing && input.Overwrite !== true)
			throw new ApiError('ParameterAlreadyExists', 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.');
		if (!existing && input.Type === undefined)
			throw validation('A parameter type is required when you create a parameter.');
		if (existing && input.Type !== undefined && input.Type !== existing.type)
			throw new ApiError('HierarchyTypeMismatchException', 'The parameter type can\'t be changed. To change the type, delete the parameter and create a new one.');
		const tier = this.tierFor(input, existing);
		const p = existing ?? { type: input.Type, dataType: input.DataType ?? 'text', versions: [], next: 1 };
		p.tier = tier;
		const type = p.type;
		p.versions.push({
			version: p.next++,
			value: input.Value,
			lastModified: nowMs,
			description: input.Description ?? p.versions.at(-1)?.description ?? '',
			keyId: type === 'SecureString' ? (input.KeyId ?? p.versions.at(-1)?.keyId ?? 'alias/aws/ssm') : null,
		});
		if (p.versions.length > MAX_VERSIONS)
			p.versions.shift();
		this.params.set(name, p);
		return { Version: p.versions.at(-1).version, Tier: tier };
	}

	delete(input) {
		checkName(input.Name);
		if (!this.params.delete(input.Name))
			throw new ApiError('ParameterNotFound', '');
		return {};
	}

	deleteMany(input) {
		const out = { DeletedParameters: [], InvalidParameters: [] };
		for (const n of input.Names || [])
			(this.params.delete(n) ? out.DeletedParameters : out.InvalidParameters).push(n);
		return out;
	}

	// DescribeParameters: metadata, never values. Only what tokend and the
	// SDK check use is modelled: ParameterFilters Key "Name" with Option
	// "Equals" (the default), several names; no filter lists every
	// parameter. No paging: at most MaxResults (default 10, 1 to 50).
	describe(input) {
		const max = input.MaxResults ?? 10;
		if (!Number.isInteger(max) || max < 1 || max > 50)
			throw validation("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50");
		let names = [...this.params.keys()];
		for (const f of input.ParameterFilters ?? []) {
			if (f.Key !== 'Name')
				throw new ApiError('InvalidFilterKey', `The filter key ${f.Key} is not modelled by this emulator.`);
			if ((f.Option ?? 'Equals') !== 'Equals')
				throw new ApiError('InvalidFilterOption', `The filter option ${f.Option} is not modelled by this emulator.`);
			const want = new Set((f.Values ?? []).map((v) => v.trim()));
			names = names.filter((n) => want.has(n));
		}
		const Parameters = names.sort().slice(0, max).map((name) => {
			const p = this.params.get(name);
			const v = p.versions.at(-1);
			const out = {
				Name: name, ARN: this.arn(name), Type: p.type, LastModifiedDate: v.lastModified / 1000,
				Version: v.version, Tier: p.tier, Policies: [], DataType: p.dataType,
			};
			if (v.description)
				out.Description = v.description;
			if (v.keyId)
				out.KeyId = v.keyId;
			return out;
		});
		return { Parameters };
	}

	// Everything about one parameter, plaintext included (control API only).
	dump(name) {
		const p = this.params.get(name);
		if (!p)
			return null;
		return { name, type: p.type, tier: p.tier, data_type: p.dataType, versions: p.versions };
	}
}
