# Debian packages tokend needs. Sourced by autogen.sh and docker/Dockerfile,
# so the image and the developer machine install the same lists.

# To build tokend and tokenctl.
TOKEND_BUILD_PACKAGES="build-essential autoconf automake libtool pkg-config
libevent-dev libcurl4-openssl-dev libjansson-dev libssl-dev libsystemd-dev
libinih-dev libhttp-parser-dev"

# To run the test suite and the demo (the local issuer and AWS emulators are
# node programs under tests/servers; integration tests are pytest).
# procps (pgrep, kill) is not in a minimal Debian system or image: the
# benchmarks use pgrep. prometheus brings promtool (test_metrics.py);
# python3-botocore the AWS SDK's ECS model the task definition is checked
# against (test_ecs.py).
TOKEND_TEST_PACKAGES="check python3 python3-pytest curl ca-certificates
mandoc systemd clang libclang-rt-14-dev prometheus valgrind procps
python3-botocore"

# What the runtime image needs, and nothing more.
TOKEND_RUNTIME_PACKAGES="libevent-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7
libcurl4 libjansson4 libssl3 libsystemd0 libinih1 libhttp-parser2.9 ca-certificates"

# packages_missing PKG... prints the packages dpkg does not have installed.
packages_missing() {
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed'; then
			printf ' %s' "$p"
		fi
	done
}

# packages_install PKG... installs with apt-get; a fresh machine has empty
# package lists, so they are fetched first when apt has none.
packages_install() {
	if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
		apt-get update
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" ||
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; }
}
