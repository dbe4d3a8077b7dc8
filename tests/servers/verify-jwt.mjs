// Verifies a JWT against a JWKS URL with jose and prints its payload as JSON.
//   node servers/verify-jwt.mjs TOKEN JWKS_URL [ISSUER]
// Exit 0 when the signature (and the issuer, when given) verify, 1 otherwise.

import { createRemoteJWKSet, jwtVerify } from 'jose';

const [token, jwksUrl, issuer] = process.argv.slice(2);
if (!token || !jwksUrl) {
	process.stderr.write('usage: verify-jwt.mjs TOKEN JWKS_URL [ISSUER]\n');
	process.exit(2);
}

try {
	const jwks = createRemoteJWKSet(new URL(jwksUrl));
	const options = issuer ? { issuer } : {};
	const { payload } = await jwtVerify(token, jwks, options);
	process.stdout.write(JSON.stringify(payload) + '\n');
	process.exit(0);
} catch (e) {
	process.stderr.write(`verify-jwt: ${e.code || 'error'}: ${e.message}\n`);
	process.exit(1);
}
