#!/bin/sh
# make demo: runs tokend for real against the local stack — the OAuth2
# issuer (oauth2-mock-server) — and shows tokens flowing with tokenctl.
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
# {"port":N} line it prints when listening, and echoes the port.
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
	sed -n 's/.*"port": *\([0-9]*\).*/\1/p' "$tmp/$name.out" | head -n 1
}

DEMO_CLIENT_SECRET=demo-secret
export DEMO_CLIENT_SECRET
issuer_port=$(start_server issuer --client-id demo-client \
	--client-secret "$DEMO_CLIENT_SECRET" --expires-in 60)
echo "demo: OAuth2 issuer on http://127.0.0.1:$issuer_port"

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
