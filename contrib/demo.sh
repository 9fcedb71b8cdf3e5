#!/usr/bin/env bash
# The loopback demo: erdns on 127.0.0.1:5300 in front of two stand-in
# upstreams, both erdns itself serving demo zones authoritatively:
#   "HQ"     127.0.0.1:5301  answers Office 365 names with 198.51.100.x
#   "branch" 127.0.0.1:5302  answers them with 203.0.113.x (internet breakout)
# Usage: contrib/demo.sh ERDNS_BINARY [--smoke]
#   --smoke  run the dig lines, check the answers, stop (used by the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
ERDNS=${1:?usage: contrib/demo.sh ERDNS_BINARY [--smoke]}
MODE=${2:-}
LOGDIR=$(mktemp -d /tmp/erdns-demo.XXXXXX)
pids=()

cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$LOGDIR"
}
trap cleanup EXIT INT TERM

start() { # name config
	"$ERDNS" serve -c "$2" 2>"$LOGDIR/$1.log" &
	pids+=($!)
}

wait_ready() { # port; bounded: 50 x 0.1 s
	for _ in $(seq 50); do
		dig @127.0.0.1 -p "$1" +short +tries=1 +time=1 -c CH -t TXT id.server >/dev/null 2>&1 &&
			return 0
		sleep 0.1
	done
	echo "demo: nothing answers on 127.0.0.1:$1; logs:" >&2
	cat "$LOGDIR"/*.log >&2
	exit 1
}

for conf in conf/demo/hq.json conf/demo/branch-upstream.json conf/demo/erdns.json; do
	"$ERDNS" check -c "$conf" >/dev/null
done
start hq conf/demo/hq.json
start branch conf/demo/branch-upstream.json
start erdns conf/demo/erdns.json
wait_ready 5301
wait_ready 5302
wait_ready 5300

D="dig @127.0.0.1 -p 5300 +tries=1 +time=2"
LINES=(
	"$D +short outlook.office.com                 # Office 365 -> HQ: 198.51.100.10"
	"$D +short outlook.office365.com              # CNAME chain relayed whole from HQ"
	"$D +short www.office.com                     # *.office.com -> branch: 203.0.113.20"
	"$D +short -b 127.0.0.2 www.office.com        # pilot view: office.com -> HQ: 198.51.100.20"
	"$D +short www.example.com                    # default route -> branch: 203.0.113.80"
	"$D +short intranet.branch.contoso.com        # local zone, authoritative"
	"$D +short -c CH -t TXT outlook.office.com    # the routing check"
	"$ERDNS explain -c conf/demo/erdns.json outlook.office.com"
)

if [ "$MODE" = "--smoke" ]; then
	fail=0
	expect() { # expected-substring command...
		local want=$1 got
		shift
		got=$("$@" 2>&1 || true)
		if [[ "$got" == *"$want"* ]]; then
			echo "ok   $*"
		else
			echo "FAIL $*: wanted \"$want\", got: $got"
			fail=1
		fi
	}
	expect 198.51.100.10 $D +short outlook.office.com
	expect 198.51.100.11 $D +short outlook.office365.com
	expect 203.0.113.20 $D +short www.office.com
	expect 198.51.100.20 $D +short -b 127.0.0.2 www.office.com
	expect 203.0.113.80 $D +short www.example.com
	expect 10.20.0.20 $D +short intranet.branch.contoso.com
	expect 'via=hq,branch' $D +short -c CH -t TXT outlook.office.com
	expect 'rule:    outlook.office.com' "$ERDNS" explain -c conf/demo/erdns.json outlook.office.com
	exit $fail
fi

cat <<EOF

erdns demo running (logs in $LOGDIR). Try:

$(printf '  %s\n' "${LINES[@]}")

Ctrl-C stops all three servers.
EOF
wait "${pids[@]}"
