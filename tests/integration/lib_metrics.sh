# Helpers for the tests of metrics.listen (SPEC 4), sourced after lib.sh:
# scrapes with curl, values read by prom.py. Set MPORT to the metrics port.
PROM="python3 $SRCDIR/tests/integration/prom.py"

scrape() { curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics"; }
# val NAME [LABEL=VALUE...]: the sum of the matching samples now, or "none".
val() { scrape | $PROM "$@"; }
# num NAME [LABEL=VALUE...]: the same, 0 when nothing matches (labelled
# families leave out cells that are still zero).
num() {
	local v
	v=$(val "$@")
	[ "$v" = none ] && v=0
	echo "$v"
}
# await_num EXPECTED NAME [LABEL=VALUE...]: polls (40 x 0.05 s) until the value
# is EXPECTED, then prints the last value seen. A worker counts a reply as
# it sends it, so a scrape right after dig returns may be a moment early.
await_num() {
	local want=$1 got
	shift
	for _ in $(seq 40); do
		got=$(num "$@")
		[ "$got" = "$want" ] && break
		sleep 0.05
	done
	echo "$got"
}
# expect DESCRIPTION EXPECTED NAME [LABEL=VALUE...]
expect() {
	local desc=$1 want=$2
	shift 2
	check_eq "$desc" "$want" "$(await_num "$want" "$@")"
}
# expect_ge DESCRIPTION MIN NAME [LABEL=VALUE...]: the value reaches MIN.
expect_ge() {
	local desc=$1 min=$2 got
	shift 2
	for _ in $(seq 40); do
		got=$(num "$@")
		[ "${got%.*}" -ge "$min" ] && break
		sleep 0.05
	done
	check_le "$desc (min $min)" "$min" "${got%.*}"
}
# health: "STATUS BODY" of GET /health ("000 " when nothing answered).
health() {
	local code
	: >"$W/health.body"
	code=$(curl -s --max-time 5 -o "$W/health.body" -w '%{http_code}' \
		"http://127.0.0.1:$MPORT/health")
	echo "$code $(cat "$W/health.body")"
}
