#!/bin/sh
# run-fuzz.sh - builds tokend's libFuzzer harnesses with clang under
# ASan/UBSan and runs each for a while on a copy of its committed corpus.
#
#   tests/fuzz/run-fuzz.sh [SECONDS] [TARGET...]   fuzz (default 60 s, all)
#   tests/fuzz/run-fuzz.sh --merge [TARGET...]     minimise the corpora
#
# Environment: FUZZ_BUILD_DIR (default /tmp/tokend-fuzz), FUZZ_JOBS (fuzzers
# run at once, default 2), CC (default clang), FUZZ_ARGS (more libFuzzer
# flags). Prints "fuzz TARGET: N execs, 0 crashes" per target and exits 1 if
# any target crashed, leaked, timed out or ran out of memory: its input is
# kept under $FUZZ_BUILD_DIR/artifacts/TARGET/ and the log's tail printed.
# The source tree is never written, except by --merge, which replaces
# tests/fuzz/corpus/TARGET with the minimised union of it and the inputs
# the last run found.
# Flag lists ($CFLAGS, $DEPS_LIBS...) are split into words on purpose.
# shellcheck disable=SC2086,SC2089,SC2090
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
fuzzdir="$srcdir/tests/fuzz"
build=${FUZZ_BUILD_DIR:-/tmp/tokend-fuzz}
jobs=${FUZZ_JOBS:-2}
CC=${CC:-clang}
ALL_TARGETS="config oauth2 disco ssm creds jwt router"

# Longest input per target: a little over the largest thing each parser
# accepts (16 KiB tokens, 8 KiB SSM values, a config file of a few tokens).
max_len() {
	case $1 in
	oauth2 | jwt) echo 20480 ;;
	ssm) echo 12288 ;;
	*) echo 8192 ;;
	esac
}

die() {
	echo "run-fuzz: $*" >&2
	exit 2
}

merge=0
seconds=60
if [ "${1:-}" = "--merge" ]; then
	merge=1
	shift
elif [ $# -gt 0 ] && [ "$1" -eq "$1" ] 2>/dev/null; then
	seconds=$1
	shift
fi
targets=${*:-$ALL_TARGETS}
for t in $targets; do
	[ -f "$fuzzdir/fuzz_$t.c" ] || die "no harness tests/fuzz/fuzz_$t.c"
done

PKGS="libevent libcurl jansson libcrypto libsystemd inih"
DEPS_CFLAGS=$(pkg-config --cflags $PKGS) || die "pkg-config: missing libraries"
DEPS_LIBS="$(pkg-config --libs $PKGS) -lhttp_parser -lm"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
# What configure would define (AC_INIT's version).
version=$(sed -n 's/^AC_INIT(\[tokend\], \[\([^]]*\)\].*/\1/p' "$srcdir/configure.ac")
CFLAGS="-std=c11 -D_GNU_SOURCE -DPACKAGE_VERSION=\"${version:-fuzz}\" -g -O1 -fno-omit-frame-pointer $SAN $DEPS_CFLAGS -I$srcdir/src"
WARN="-Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wvla -Werror"

echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' \
	>"${TMPDIR:-/tmp}/run-fuzz-probe.$$.c"
if ! $CC -fsanitize=fuzzer "${TMPDIR:-/tmp}/run-fuzz-probe.$$.c" \
	-o "${TMPDIR:-/tmp}/run-fuzz-probe.$$" 2>/dev/null; then
	rm -f "${TMPDIR:-/tmp}/run-fuzz-probe.$$"*
	die "$CC cannot build libFuzzer programs (Debian: apt-get install clang)"
fi
rm -f "${TMPDIR:-/tmp}/run-fuzz-probe.$$"*

mkdir -p "$build/obj"

# in_lanes FUNCTION ITEM...: FUNCTION on each item, $jobs at a time (items
# dealt round-robin to lanes that run in the background); 1 if any failed.
in_lanes() {
	fn=$1
	shift
	lane=0
	while [ "$lane" -lt "$jobs" ]; do
		(
			i=0 rc=0
			for item in "$@"; do
				[ $((i % jobs)) -eq "$lane" ] && { "$fn" "$item" || rc=1; }
				i=$((i + 1))
			done
			exit $rc
		) &
		eval "lane_pid_$lane=\$!"
		lane=$((lane + 1))
	done
	rc=0 lane=0
	while [ "$lane" -lt "$jobs" ]; do
		eval "wait \$lane_pid_$lane" || rc=1
		lane=$((lane + 1))
	done
	return $rc
}

# stale OBJ SRC: true when OBJ is missing or older than SRC or any header
# of src/ or tests/fuzz/.
stale() {
	[ ! -f "$1" ] && return 0
	[ -n "$(find "$2" "$srcdir/src" "$fuzzdir" -newer "$1" \
		\( -path "$2" -o -name '*.h' \) -print | head -n 1)" ]
}

# Every module but the programs' main files, instrumented for coverage.
compile_module() {
	obj="$build/obj/$(basename "$1" .c).o"
	stale "$obj" "$1" || return 0
	$CC $CFLAGS -fsanitize=fuzzer-no-link -c "$1" -o "$obj"
}

build_target() {
	for f in fuzz "fuzz_$1"; do
		stale "$build/$f.o" "$fuzzdir/$f.c" || continue
		$CC $CFLAGS $WARN -fsanitize=fuzzer-no-link -c "$fuzzdir/$f.c" -o "$build/$f.o"
	done
	$CC $SAN -fsanitize=fuzzer "$build/fuzz_$1.o" "$build/fuzz.o" \
		"$build/libtokend-fuzz.a" $DEPS_LIBS -o "$build/fuzz_$1"
}

echo "run-fuzz: building into $build"
modules=$(ls "$srcdir"/src/*.c | grep -v -e '/main\.c$' -e '/tokenctl\.c$')
in_lanes compile_module $modules || die "building the modules failed"
rm -f "$build/libtokend-fuzz.a"
ar rcs "$build/libtokend-fuzz.a" "$build"/obj/*.o
# fuzz.o is shared: build it before the lanes.
build_target "${targets%% *}" || die "building fuzz_${targets%% *} failed"
in_lanes build_target $targets || die "building the harnesses failed"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# run_one TARGET: fuzzes a fresh copy of the committed corpus; the status
# and the final stats land in $build/logs/TARGET.{rc,log}.
run_one() {
	t=$1
	rm -rf "$build/corpus/$t" "$build/artifacts/$t"
	mkdir -p "$build/corpus/$t" "$build/artifacts/$t" "$build/logs"
	if [ -d "$fuzzdir/corpus/$t" ]; then
		cp "$fuzzdir/corpus/$t"/* "$build/corpus/$t/" 2>/dev/null || true
	fi
	rc=0
	"$build/fuzz_$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/artifacts/$t/" ${FUZZ_ARGS:-} \
		"$build/corpus/$t" </dev/null >"$build/logs/$t.log" 2>&1 || rc=$?
	echo "$rc" >"$build/logs/$t.rc"
}

# report TARGET: prints its line; 1 if it failed.
report() {
	t=$1
	rc=$(cat "$build/logs/$t.rc")
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/logs/$t.log" | tail -n 1)
	crashes=$(find "$build/artifacts/$t" -type f | wc -l)
	if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] && [ -n "$execs" ]; then
		echo "fuzz $t: $execs execs, 0 crashes"
		return 0
	fi
	echo "fuzz $t: ${execs:-?} execs, FAILED (exit $rc, $crashes inputs kept in $build/artifacts/$t)"
	tail -n 40 "$build/logs/$t.log" | sed "s/^/  $t| /"
	return 1
}

merge_one() {
	t=$1
	new="$build/merged/$t"
	rm -rf "$new"
	mkdir -p "$new" "$fuzzdir/corpus/$t" "$build/corpus/$t"
	"$build/fuzz_$t" -merge=1 -max_len="$(max_len "$t")" "$new" \
		"$fuzzdir/corpus/$t" "$build/corpus/$t" </dev/null >"$build/logs/$t.merge.log" 2>&1 ||
		die "merge of $t failed: $build/logs/$t.merge.log"
	rm -f "$fuzzdir/corpus/$t"/*
	cp "$new"/* "$fuzzdir/corpus/$t/"
	echo "fuzz $t: corpus $(ls "$new" | wc -l) files, $(du -sk "$new" | cut -f1) KiB"
}

if [ "$merge" -eq 1 ]; then
	for t in $targets; do
		merge_one "$t"
	done
	exit 0
fi

echo "run-fuzz: $seconds s per target, $jobs at a time: $targets"
in_lanes run_one $targets || true
status=0
for t in $targets; do
	report "$t" || status=1
done
exit $status
