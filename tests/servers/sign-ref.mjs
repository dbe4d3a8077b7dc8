// sign-ref.mjs - the reference IAM tokens, made by AWS's own JS signers,
// for tests/integration/test_sign_crosscheck.py.
//
//   node servers/sign-ref.mjs '{"kind":"rds", ...}'     (or the JSON on stdin)
//
// Input keys: kind ("rds" | "elasticache"), access_key, secret,
// session_token (optional), region, time (epoch seconds), and host, port,
// user (rds) or cache, user, serverless (elasticache). Prints the token.
//
// rds: @aws-sdk/rds-signer's Signer. getAuthToken() takes no signing date
// and signs at `new Date()`, so the global Date is frozen at `time` first.
// elasticache: @smithy/signature-v4 SignatureV4.presign of
// GET http://CACHE/?Action=connect&User=USER[&ResourceType=ServerlessCache]
// with an explicit signingDate, expiresIn 900, scheme stripped.
import { readFileSync } from "node:fs";
import { Hash } from "@smithy/hash-node";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import { Signer } from "@aws-sdk/rds-signer";

function readInput() {
	const text = process.argv[2] ?? readFileSync(0, "utf8");
	return JSON.parse(text);
}

function freezeClock(ms) {
	const RealDate = Date;
	class FrozenDate extends RealDate {
		constructor(...args) {
			if (args.length === 0) super(ms);
			else super(...args);
		}
		static now() {
			return ms;
		}
	}
	globalThis.Date = FrozenDate;
	return () => {
		globalThis.Date = RealDate;
	};
}

// RFC 3986 unreserved characters stay, everything else is %XX (upper case):
// what AWS's formatUrl/escapeUri do.
function uriEncode(s) {
	return encodeURIComponent(s).replace(
		/[!'()*]/g,
		(c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
	);
}

function credentials(input) {
	const creds = { accessKeyId: input.access_key, secretAccessKey: input.secret };
	if (input.session_token) creds.sessionToken = input.session_token;
	return creds;
}

async function rdsToken(input) {
	const signer = new Signer({
		credentials: credentials(input),
		region: input.region,
		hostname: input.host,
		port: input.port,
		username: input.user,
	});
	const restore = freezeClock(input.time * 1000);
	try {
		return await signer.getAuthToken();
	} finally {
		restore();
	}
}

async function elasticacheToken(input) {
	const signer = new SignatureV4({
		service: "elasticache",
		region: input.region,
		credentials: credentials(input),
		sha256: Hash.bind(null, "sha256"),
	});
	const query = { Action: "connect", User: input.user };
	if (input.serverless) query.ResourceType = "ServerlessCache";
	const request = new HttpRequest({
		method: "GET",
		protocol: "http:",
		hostname: input.cache,
		path: "/",
		query,
		headers: { host: input.cache },
	});
	const presigned = await signer.presign(request, {
		signingDate: new Date(input.time * 1000),
		expiresIn: 900,
	});
	const pairs = Object.entries(presigned.query).map(
		([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`,
	);
	return `${input.cache}/?${pairs.join("&")}`;
}

const input = readInput();
const token =
	input.kind === "rds"
		? await rdsToken(input)
		: input.kind === "elasticache"
			? await elasticacheToken(input)
			: null;
if (token === null) {
	process.stderr.write(`sign-ref: unknown kind ${input.kind}\n`);
	process.exit(2);
}
process.stdout.write(token + "\n");
