#!/usr/bin/env bash
# erdns developer entry point, for a fresh Debian 12 machine (root or sudo):
#   contrib/dev.sh demo   install what is missing, build, run the loopback demo
#   contrib/dev.sh test   install what is missing, build, run the whole suite twice:
#                         gcc (build/) and clang with ASan+UBSan (build-asan/)
#   contrib/dev.sh build  install what is missing and build build/ only
# A second run reinstalls nothing and rebuilds incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
	build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
	libldns-dev libuv1-dev libcjson-dev libcmocka-dev libsystemd-dev libmicrohttpd-dev
	bind9-dnsutils knot-dnsutils knot ldnsutils iproute2 procps python3 curl nodejs strace
	bird2 # BGP for contrib/anycast and test_anycast.sh
	prometheus # promtool, and the server test_metrics_prom.sh starts
)

ensure_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "dev.sh: installing ${missing[*]}" >&2
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

# build DIR [cmake args...]: configure once, then incremental builds.
build() {
	local dir=$1
	shift
	if [ ! -f "$dir/CMakeCache.txt" ]; then
		cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
	fi
	cmake --build "$dir" -j "$(nproc)"
}

# A test that cannot run here exits 77 and ctest counts it as skipped, not
# failed. CI (root, network namespaces) can run every test, so a skip there
# hides a defect: any skip fails the suite, after ctest's own summary.
run_suite() {
	local dir=$1 log rc=0
	log=$(mktemp)
	ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" --timeout 300 2>&1 | tee "$log" || rc=$?
	if grep -q -e '\*\*\*Skipped' -e '(Skipped)' -e '(Not Run)' "$log"; then
		echo "dev.sh: some tests were skipped in $dir (above; why: $dir/Testing/Temporary/LastTest.log); every test must run" >&2
		rc=1
	fi
	rm -f "$log"
	return "$rc"
}

cmd=${1:-}
case "$cmd" in
build)
	ensure_packages
	build build
	;;
demo)
	ensure_packages
	build build
	shift
	exec contrib/demo.sh build/erdns "$@"
	;;
test)
	ensure_packages
	build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	# -O3 lets gcc see warnings -O2 does not (-Wformat-truncation did): built, not run
	build build-release -DCMAKE_BUILD_TYPE=Release
	run_suite build
	# Sanitizers: any report aborts the process, and the integration tests
	# fail on a non-zero exit or a report in erdns' log.
	export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	CC=clang build build-asan -DERDNS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	run_suite build-asan
	;;
*)
	echo "usage: contrib/dev.sh demo|test|build" >&2
	exit 2
	;;
esac
