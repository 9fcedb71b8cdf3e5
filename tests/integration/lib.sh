# Shared helpers for the integration tests: the real erdns binary and the
# scripted stand-in upstreams (tests/stand-in) on 127.0.0.1, driven by dig.
# Every wait loop is bounded; every process started here is stopped on exit.
# Environment (set by ctest): ERDNS, STANDIN, SRCDIR, WORKDIR.
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin" # knotd, ss on minimal root PATHs

: "${ERDNS:?set ERDNS to the erdns binary}"
: "${STANDIN:?set STANDIN to the erdns-standin binary}"
: "${SRCDIR:?set SRCDIR to the source tree}"
TEST_NAME=$(basename "$0" .sh)
W="${WORKDIR:-/tmp/erdns-it}/$TEST_NAME"
rm -rf "$W" && mkdir -p "$W"
PASSED=0
FAILED=0
BG_PIDS=()
ERDNS_PID=""

cleanup() {
	local pid
	for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

ok() {
	PASSED=$((PASSED + 1))
	echo "ok   $*"
}
not_ok() {
	FAILED=$((FAILED + 1))
	echo "FAIL $*"
}
# check DESCRIPTION EXPECTED ACTUAL: exact match
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: expected [$2], got [$3]"; fi
}
# check_has DESCRIPTION NEEDLE HAYSTACK
check_has() {
	if [[ "$3" == *"$2"* ]]; then ok "$1"; else not_ok "$1: [$2] not in: $3"; fi
}
check_lacks() {
	if [[ "$3" != *"$2"* ]]; then ok "$1"; else not_ok "$1: [$2] unexpectedly in: $3"; fi
}
# check_le DESCRIPTION VALUE MAX
check_le() {
	if [ "$2" -le "$3" ]; then ok "$1 ($2 <= $3)"; else not_ok "$1: $2 > $3"; fi
}

# free_port [LOW SPAN]: a TCP+UDP port free on 127.0.0.1, chosen at random in
# LOW .. LOW+SPAN-1 (default 20000-59999).
free_port() {
	local port low=${1:-20000} span=${2:-40000}
	for _ in $(seq 50); do
		port=$((low + RANDOM % span))
		if ! ss -Hltnu "sport = :$port" | grep -q .; then
			echo "$port"
			return 0
		fi
	done
	echo "free_port: no free port found" >&2
	return 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# await_ready PID CHECK...: runs CHECK (a command) every 50 ms, at most 100
# times, until it succeeds (0) or PID exits (1). On failure PID is stopped.
await_ready() {
	local pid=$1
	shift
	for _ in $(seq 100); do
		"$@" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 1
}

# start_standin VAR [standin options...]: starts a stand-in on a free port,
# sets VAR to the port and VAR_LOG to its query log. A port taken between
# free_port and bind (erdns binds random source ports too) is retried.
start_standin() {
	local var=$1 port pid try
	shift
	local log="$W/standin-$var.log" out="$W/standin-$var.out"
	for try in 1 2 3 4 5; do
		port=$(free_port) || exit 1
		: >"$log"
		"$STANDIN" --listen "127.0.0.1:$port" --log "$log" "$@" >"$out" 2>&1 &
		pid=$!
		if await_ready "$pid" grep -qx ready "$out"; then
			BG_PIDS+=("$pid")
			printf -v "$var" '%s' "$port"
			printf -v "${var}_LOG" '%s' "$log"
			return 0
		fi
	done
	echo "stand-in $var did not start:" >&2
	cat "$out" >&2
	exit 1
}

# Lines in a stand-in's query log (queries it received).
standin_count() { wc -l <"$1" | tr -d ' '; }

# start_erdns CONFIG: runs erdns serve; waits until it answers on $PORT.
# If $PORT was taken meanwhile, picks another one, rewrites it in CONFIG
# and tries again (bounded).
start_erdns() {
	local try
	for try in 1 2 3 4 5; do
		"$ERDNS" serve -c "$1" 2>"$W/erdns.log" &
		ERDNS_PID=$!
		if await_ready "$ERDNS_PID" dig @127.0.0.1 -p "$PORT" +tries=1 +time=1 +short -c CH -t TXT id.server; then
			BG_PIDS+=("$ERDNS_PID")
			return 0
		fi
		grep -q "already in use" "$W/erdns.log" || break
		local new
		new=$(free_port) || break
		sed -i "s/127\.0\.0\.1:$PORT\b/127.0.0.1:$new/g" "$1"
		PORT=$new
	done
	echo "erdns did not start; log:" >&2
	cat "$W/erdns.log" >&2
	exit 1
}

# stop_erdns: SIGTERM, then require exit 0, "stopped cleanly" and no
# sanitizer report in the log (the ASan build aborts on any report).
# is_running PID: the process exists and has not exited (an exited child
# stays a zombie until waited for, and kill -0 still succeeds on it).
is_running() {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

stop_erdns() {
	kill -TERM "$ERDNS_PID"
	local status=0 i
	# bounded: a server that does not stop (a handle never closed keeps its
	# loop alive) is killed after 10 s and fails the check below
	for i in $(seq 200); do
		is_running "$ERDNS_PID" || break
		sleep 0.05
	done
	if is_running "$ERDNS_PID"; then
		not_ok "erdns did not stop within 10 s of SIGTERM"
		kill -KILL "$ERDNS_PID"
	fi
	wait "$ERDNS_PID" || status=$?
	check_eq "erdns exits 0 on SIGTERM" 0 "$status"
	local log
	log=$(cat "$W/erdns.log")
	check_has "erdns stopped cleanly (all handles closed)" "stopped cleanly" "$log"
	check_lacks "no sanitizer report" "Sanitizer" "$log"
	check_lacks "no UB report" "runtime error" "$log"
	ERDNS_PID=""
}

# q ARGS...: dig against erdns, one try.
q() { dig @127.0.0.1 -p "$PORT" +tries=1 +time=4 "$@" | tr -s "\t" " "; }
# qs ARGS...: the short answer, on one line.
qs() { q +short "$@" | tr '\n' ' ' | sed 's/ $//'; }
# status of a dig answer: NOERROR, NXDOMAIN, ...
qstatus() { q "$@" | sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -1; }
qflags() { q "$@" | sed -n 's/.*;; flags: \([a-z ]*\);.*/\1/p' | head -1; }

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}
