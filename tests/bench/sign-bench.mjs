// sign-bench.mjs - IAM token signing throughput of AWS's own JS signers,
// the node side of tests/bench/sign.
//
//   node bench/sign-bench.mjs '{"kind":"rds", ..., "ops":N}'
//
// Input: what tests/servers/sign-ref.mjs takes (kind, access_key, secret,
// session_token?, region, time, host/port/user or cache/user/serverless)
// plus ops. Signs ops tokens the way an application would (rds:
// @aws-sdk/rds-signer Signer.getAuthToken(); elasticache: @smithy/
// signature-v4 presign of the connect request, as sign-ref.mjs does), after
// a warm-up of ops/10 so the JIT has settled, and prints
// {"ops":N,"seconds":X,"ops_per_s":Y} - the same line as sign-tool --bench.
// The token of the last op is checked for a signature so a broken signer
// cannot look fast.
import { Hash } from "@smithy/hash-node";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import { Signer } from "@aws-sdk/rds-signer";

function credentials(input) {
	const creds = { accessKeyId: input.access_key, secretAccessKey: input.secret };
	if (input.session_token) creds.sessionToken = input.session_token;
	return creds;
}

// One signer per run, as an application keeps one; each op makes a token.
function rdsSigner(input) {
	const signer = new Signer({
		credentials: credentials(input),
		region: input.region,
		hostname: input.host,
		port: input.port,
		username: input.user,
	});
	return () => signer.getAuthToken();
}

function elasticacheSigner(input) {
	const signer = new SignatureV4({
		service: "elasticache",
		region: input.region,
		credentials: credentials(input),
		sha256: Hash.bind(null, "sha256"),
	});
	const query = { Action: "connect", User: input.user };
	if (input.serverless) query.ResourceType = "ServerlessCache";
	const signingDate = new Date(input.time * 1000);
	return async () => {
		const request = new HttpRequest({
			method: "GET",
			protocol: "http:",
			hostname: input.cache,
			path: "/",
			query: { ...query },
			headers: { host: input.cache },
		});
		const p = await signer.presign(request, { signingDate, expiresIn: 900 });
		const pairs = Object.entries(p.query).map(
			([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`,
		);
		return `${input.cache}/?${pairs.join("&")}`;
	};
}

const input = JSON.parse(process.argv[2]);
const ops = Number(input.ops);
const sign = input.kind === "rds" ? rdsSigner(input) : elasticacheSigner(input);
let token = "";
for (let i = 0; i < Math.ceil(ops / 10); i++) token = await sign();
const start = process.hrtime.bigint();
for (let i = 0; i < ops; i++) token = await sign();
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
if (!/X-Amz-Signature(=|%3D)[0-9a-f]{64}/.test(token)) {
	process.stderr.write("sign-bench: the last token has no signature\n");
	process.exit(1);
}
process.stdout.write(JSON.stringify({ ops, seconds, ops_per_s: ops / seconds }) + "\n");
