#!/bin/sh
# make demo: runs tokend for real against the local stack — the OAuth2
# issuer (oauth2-mock-server), the ECS credentials emulator and the SSM
# Parameter Store emulator — and shows OAuth2, RDS and ElastiCache tokens
# flowing with tokenctl, then a second instance adopting them from SSM.
# Runs until Ctrl-C (or DEMO_SECONDS seconds), then stops everything it
# started.
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
TOKEND_BIN=${TOKEND_BIN:-$srcdir/src/tokend}
TOKENCTL_BIN=${TOKENCTL_BIN:-$srcdir/src/tokenctl}
tmp=$(mktemp -d /tmp/tokend-demo.XXXXXX)
pids=""

cleanup() {
	trap - EXIT INT TERM
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
	echo "demo: stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# start_server NAME ARGS...: starts tests/servers/NAME.mjs, waits for the
# {"port":N} line it prints when listening, and sets $port. (Not run in a
# $(...) subshell: the parent must know the pid to stop it.)
start_server() {
	name=$1
	shift
	(cd "$srcdir/tests" && exec node "servers/$name.mjs" "$@") \
		>"$tmp/$name.out" 2>"$tmp/$name.log" &
	pids="$pids $!"
	i=0
	while ! grep -q '"port"' "$tmp/$name.out" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 200 ]; then
			echo "demo: $name did not start; its log:" >&2
			cat "$tmp/$name.log" >&2
			exit 1
		fi
		sleep 0.05
	done
	port=$(sed -n 's/.*"port": *\([0-9]*\).*/\1/p' "$tmp/$name.out" | head -n 1)
}

DEMO_CLIENT_SECRET=demo-secret
export DEMO_CLIENT_SECRET
start_server issuer --client-id demo-client \
	--client-secret "$DEMO_CLIENT_SECRET" --expires-in 60
issuer_port=$port
echo "demo: OAuth2 issuer on http://127.0.0.1:$issuer_port"

# AWS credentials the way an ECS task gets them: a container-credentials
# endpoint with an authorization token (the full-URI form works on loopback).
ecs_token=demo-ecs-authorization
start_server aws-creds --mode ecs --auth-token "$ecs_token" --lifetime 900 \
	--credentials-file "$tmp/issued-credentials.jsonl"
ecs_port=$port
echo "demo: ECS credentials endpoint on http://127.0.0.1:$ecs_port"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$ecs_port/v2/credentials/tokend-test
AWS_CONTAINER_AUTHORIZATION_TOKEN=$ecs_token
AWS_EC2_METADATA_DISABLED=true
export AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_EC2_METADATA_DISABLED

# SSM Parameter Store emulator: it checks every request's SigV4 signature
# against the credentials the ECS endpoint hands out.
start_server ssm --credentials-file "$tmp/issued-credentials.jsonl"
AWS_ENDPOINT_URL_SSM=http://127.0.0.1:$port
export AWS_ENDPOINT_URL_SSM
echo "demo: SSM Parameter Store emulator on $AWS_ENDPOINT_URL_SSM"

sock=$tmp/tokend.sock
sed -e "s|@SOCKET@|$sock|" -e "s|@ISSUER_PORT@|$issuer_port|" \
	"$srcdir/conf/demo.conf" >"$tmp/tokend.conf"
"$TOKEND_BIN" -c "$tmp/tokend.conf" 2>"$tmp/tokend.log" &
pids="$pids $!"
echo "demo: tokend started (config $tmp/tokend.conf, log $tmp/tokend.log)"

TOKEND_SOCKET=$sock
export TOKEND_SOCKET
i=0
until "$TOKENCTL_BIN" health >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 400 ]; then
		echo "demo: tokend did not become healthy; its log:" >&2
		cat "$tmp/tokend.log" >&2
		exit 1
	fi
	sleep 0.05
done

echo
echo "\$ tokenctl list"
"$TOKENCTL_BIN" list
echo
echo "\$ tokenctl get demo-api"
"$TOKENCTL_BIN" get demo-api
echo
echo "\$ curl --unix-socket $sock http://localhost/v1/tokens/demo-auth0-style"
curl -s --unix-socket "$sock" http://localhost/v1/tokens/demo-auth0-style
echo
echo
echo "\$ tokenctl get orders-db --json      # RDS IAM token, use as PGPASSWORD"
"$TOKENCTL_BIN" get orders-db --json
echo
echo "\$ tokenctl get sessions              # ElastiCache IAM token, for AUTH app-web <token>"
"$TOKENCTL_BIN" get sessions
echo
issued() {
	curl -s "http://127.0.0.1:$issuer_port/__control/state" |
		sed -n 's/.*"tokens_issued": *\([0-9]*\).*/\1/p'
}
echo
echo "demo: the issuer has minted $(issued) tokens so far; starting a second"
echo "demo: tokend on another socket: it adopts the OAuth2 tokens from SSM, warm"
sed -e "s|$sock|$tmp/second.sock|" "$tmp/tokend.conf" >"$tmp/second.conf"
"$TOKEND_BIN" -c "$tmp/second.conf" 2>"$tmp/second.log" &
pids="$pids $!"
i=0
until "$TOKENCTL_BIN" -s "$tmp/second.sock" health >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 400 ]; then
		echo "demo: the second tokend did not become healthy; its log:" >&2
		cat "$tmp/second.log" >&2
		exit 1
	fi
	sleep 0.05
done
echo "\$ tokenctl -s $tmp/second.sock list"
"$TOKENCTL_BIN" -s "$tmp/second.sock" list
echo "demo: the issuer has still minted $(issued) tokens: the second instance took both from SSM"
echo
echo "demo: tokens refresh every ~40 s; try: TOKEND_SOCKET=$sock $TOKENCTL_BIN list"
echo "demo: press Ctrl-C to stop"

if [ -n "${DEMO_SECONDS:-}" ]; then
	sleep "$DEMO_SECONDS"
	"$TOKENCTL_BIN" list
else
	tail -f "$tmp/tokend.log" &
	pids="$pids $!"
	wait
fi
