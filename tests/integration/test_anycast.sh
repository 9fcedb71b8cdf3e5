#!/usr/bin/env bash
# Two erdns instances behind BGP anycast (SPEC 4; docs/anycast.md), through
# the real processes: BIRD 2 on a router and on each instance, the
# instances' BIRD driven by contrib/anycast/erdns-announce from erdns's
# /health, ECMP with an L4 hash in the router, clients on several addresses.
#
#   client ns --- router ns (BIRD, ECMP) --- instance ns 1: erdns, BIRD, announcer,
#   198.18.1.10-41    198.18.1.1                 HQ and branch stand-ins on its lo
#                     198.18.0.1 / .5 ----- 198.18.0.2 and 198.18.0.6: the same,
#                                           instance 2; both own 198.19.0.53/32
#
# It shows, and measures (the figures go to docs/anycast.md):
#  1. both instances announce and both serve (CHAOS id.server answers the
#     instance's server.identity, counted per instance);
#  2. stop instance 1 the way systemd does (erdns-announce.service is stopped
#     first: it withdraws and waits, then erdns gets SIGTERM): the route is
#     gone before erdns stops, and no query is lost;
#  3. bring it back: announced again after the rise count;
#  4. SIGKILL erdns 1: withdrawn within 3 s, <= 1 % of queries lost;
#  5. HQ unreachable from instance 1: /health degraded, its route less
#     preferred, >= 90 % of new flows on instance 2 within 5 s;
#  6. HQ unreachable from both: both stay announced and answer, from the
#     branch group, TTLs <= fallback_ttl_s;
#  7. HQ back: both announced normally again after the rise count;
#  8. instance 1's whole host frozen: BFD withdraws within 3 s.
# Client traffic is anycast_client.py: CHAOS queries at 20/s, each from a
# new socket (a new flow), 1 s timeout and one retry on the same socket.
#
# Everything is made here and removed on exit, also on failure: four
# network namespaces joined by veth pairs, addresses in 198.18.0.0/15 (RFC
# 2544 benchmarking space, never routed) and loopback only. Needs root and
# Debian's bird2 (contrib/dev.sh installs it); where namespaces cannot be
# made it says why and exits 77 (ctest: skipped; CI fails on a skip).
. "$(dirname "$0")/lib.sh"

# One build is enough for a test of routing and timing, and the sanitizer
# build is slower than the timing targets allow for.
case "$ERDNS" in
*build-asan*)
	echo "test_anycast: runs in the gcc build only, not in the sanitizer build ($ERDNS)"
	exit 0
	;;
esac
if [ "$(id -u)" -ne 0 ]; then
	echo "test_anycast: SKIPPED: network namespaces need root"
	exit 77
fi
for tool in bird birdc ip curl dig; do
	command -v "$tool" >/dev/null || {
		not_ok "$tool is missing (contrib/dev.sh installs bird2, iproute2, curl, bind9-dnsutils)"
		finish
		exit 1
	}
done

NS_R="erdns-ac-r-$$"
NS_C="erdns-ac-c-$$"
NS_I=("" "erdns-ac-1-$$" "erdns-ac-2-$$")
ADDR_I=("" 198.18.0.2 198.18.0.6)  # each instance's own address
ADDR_R=("" 198.18.0.1 198.18.0.5)  # the router's side of each link
SERVICE=198.19.0.53                # the anycast address
FB_TTL=5
ANNOUNCE="$SRCDIR/contrib/anycast/erdns-announce"
CLIENT="$SRCDIR/tests/integration/anycast_client.py"
SOURCES=()
for i in $(seq 10 41); do SOURCES+=("198.18.1.$i"); done

drop_namespaces() {
	local ns pid
	for ns in "$NS_C" "${NS_I[1]}" "${NS_I[2]}" "$NS_R"; do
		# Anything still running in a namespace would keep it alive.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}
trap 'cleanup; drop_namespaces' EXIT

if ! ip netns add "$NS_R" 2>"$W/netns.err"; then
	echo "test_anycast: SKIPPED: cannot make a network namespace: $(cat "$W/netns.err")"
	exit 77
fi

# --- the network ---------------------------------------------------------------
# veth ends: acrN/aciN router/instance N, acrc/acc router/client.
link() { # NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B
	ip link add "$2" type veth peer name "$5" &&
		ip link set "$2" netns "$1" && ip link set "$5" netns "$4" &&
		ip -n "$1" addr add "$3" dev "$2" && ip -n "$4" addr add "$6" dev "$5" &&
		ip -n "$1" link set "$2" up && ip -n "$4" link set "$5" up
}
setup_network() {
	local n s
	ip netns add "$NS_C" && ip netns add "${NS_I[1]}" && ip netns add "${NS_I[2]}" || return 1
	for n in "$NS_R" "$NS_C" "${NS_I[1]}" "${NS_I[2]}"; do ip -n "$n" link set lo up || return 1; done
	link "$NS_R" "acrc$$" 198.18.1.1/24 "$NS_C" "acc$$" "${SOURCES[0]}/24" || return 1
	for s in "${SOURCES[@]:1}"; do ip -n "$NS_C" addr add "$s/24" dev "acc$$" || return 1; done
	ip -n "$NS_C" route add default via 198.18.1.1 || return 1
	for n in 1 2; do
		link "$NS_R" "acr$n$$" "${ADDR_R[$n]}/30" "${NS_I[$n]}" "aci$n$$" "${ADDR_I[$n]}/30" &&
			ip -n "${NS_I[$n]}" route add default via "${ADDR_R[$n]}" &&
			ip -n "${NS_I[$n]}" addr add "$SERVICE/32" dev lo || return 1
	done
	# The router forwards and spreads flows on the 5-tuple; no reverse-path
	# filter: a reply from the service address may come back on either link.
	ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}
setup_network
check_eq "namespaces, veth pairs, addresses and router sysctls set up" 0 "$?"

# --- the processes ---------------------------------------------------------------
# BIRD configs: contrib/anycast's files as they are, but for the per-instance
# defines, a log file instead of syslog and no IPv6 (the test has IPv4
# addresses only; the file's own recipe for an IPv4-only link).
bird_conf() { # SRC DEST LOG [SED-EXPR...]
	local src=$1 dest=$2 log=$3
	shift 3
	local args=(-e '/SERVICE6\|ipv6/d' -e "s|^log syslog all;|log \"$log\" all;|")
	local e
	for e in "$@"; do args+=(-e "$e"); done
	sed "${args[@]}" "$src" >"$dest"
}
bird_conf "$SRCDIR/contrib/anycast/bird-router.conf" "$W/bird-r.conf" "$W/bird-r.log"
for n in 1 2; do
	bird_conf "$SRCDIR/contrib/anycast/bird-instance.conf" "$W/bird-$n.conf" "$W/bird-$n.log" \
		"s/^define ROUTER_ID .*/define ROUTER_ID = ${ADDR_I[$n]};/" \
		"s/^define LOCAL_ADDR .*/define LOCAL_ADDR = ${ADDR_I[$n]};/" \
		"s/^define ROUTER_ADDR .*/define ROUTER_ADDR = ${ADDR_R[$n]};/"
done
parse=""
for c in r 1 2; do parse+=$(bird -p -c "$W/bird-$c.conf" 2>&1); done
# The contrib files as shipped, IPv6 included, parse too.
for c in router instance; do parse+=$(bird -p -c "$SRCDIR/contrib/anycast/bird-$c.conf" 2>&1); done
check_eq "BIRD accepts the contrib configs (as shipped and as run here)" "" "$parse"

# The unit: systemd accepts it (the complaint allowed: the programs are not
# installed here), and it requires erdns.service and starts after it, which
# is what makes systemd stop it first; section 2 runs that stop path.
UNIT="$SRCDIR/contrib/anycast/erdns-announce.service"
verify=$(systemd-analyze verify "$SRCDIR/contrib/systemd/erdns.service" "$UNIT" 2>&1 |
	grep -v -e '^$' -e 'is not executable: No such file or directory')
check_eq "systemd-analyze verify accepts erdns-announce.service" "" "$verify"
check_eq "erdns-announce.service: Requires= and After= erdns.service" "Requires=erdns.service After=erdns.service bird.service" \
	"$(grep -e '^Requires=' -e '^After=' "$UNIT" | tr '\n' ' ' | sed 's/ $//')"

# start_bird WHICH NS: BIRD in the foreground (-f), so it is our child.
start_bird() {
	ip netns exec "$2" bird -f -c "$W/bird-$1.conf" -s "$W/bird-$1.ctl" 2>>"$W/bird-$1.log" &
	echo "$!" >"$W/bird-$1.pid"
	BG_PIDS+=("$!")
}
start_bird r "$NS_R"

# Per instance: HQ (127.0.0.1:5301) and branch (127.0.0.1:5302) stand-ins on
# the instance's own loopback, whose modes the test switches by file.
declare -a ERDNS_PIDS ANN_PIDS
for n in 1 2; do
	echo answer >"$W/mode-hq-$n"
	ip netns exec "${NS_I[$n]}" "$STANDIN" --listen 127.0.0.1:5301 --id "${n}1" \
		--mode-file "$W/mode-hq-$n" --log "$W/hq-$n.log" >"$W/hq-$n.out" 2>&1 &
	BG_PIDS+=("$!")
	ip netns exec "${NS_I[$n]}" "$STANDIN" --listen 127.0.0.1:5302 --id "${n}2" \
		--log "$W/branch-$n.log" >"$W/branch-$n.out" 2>&1 &
	BG_PIDS+=("$!")
	cat >"$W/erdns-$n.json" <<JSON
{
  "server": { "listen": ["$SERVICE:53"], "threads": 2, "identity": "erdns-$n",
              "allow": ["198.18.0.0/15"], "query_timeout_ms": 1500 },
  "upstreams": {
    "hq":     { "servers": ["127.0.0.1:5301"], "max_fails": 2, "probe_interval_ms": 500,
                "timeout_ms": 300 },
    "branch": { "servers": ["127.0.0.1:5302"], "max_fails": 2, "probe_interval_ms": 500,
                "timeout_ms": 300 }
  },
  "routes": [ { "domains": ["corp.test"], "via": ["hq", "branch"] } ],
  "default": "branch",
  "cache": { "fallback_ttl_s": $FB_TTL, "serve_stale_s": 0 },
  "metrics": { "listen": "${ADDR_I[$n]}:9253" },
  "control": { "socket": "$W/control-$n.sock" }
}
JSON
	start_bird "$n" "${NS_I[$n]}"
done
for n in 1 2; do
	for f in "$W/hq-$n.out" "$W/branch-$n.out"; do
		for _ in $(seq 100); do grep -qx ready "$f" && break; sleep 0.05; done
	done
done

in_i() { local n=$1; shift; ip netns exec "${NS_I[$n]}" "$@"; }
# health N: "200 ok", "200 degraded: ...", "503 down: ..." or "000 " (no answer).
health() {
	in_i "$1" curl -s --max-time 1 -w '%{http_code} ' -o "$W/health-$1.body" \
		"http://${ADDR_I[$1]}:9253/health"
	cat "$W/health-$1.body" 2>/dev/null
	rm -f "$W/health-$1.body"
}

# start_instance N: erdns, then (if not running) its announcer.
start_instance() {
	local n=$1
	# ip netns exec execs the command: $! is erdns itself (a shell
	# function here would put a subshell between).
	ip netns exec "${NS_I[$n]}" "$ERDNS" serve -c "$W/erdns-$n.json" 2>>"$W/erdns-$n.log" &
	ERDNS_PIDS[n]=$!
	BG_PIDS+=("$!")
	if ! await_ready "${ERDNS_PIDS[$n]}" in_i "$n" dig @"$SERVICE" +tries=1 +time=1 +short \
		-c CH -t TXT id.server; then
		not_ok "erdns $n did not start: $(cat "$W/erdns-$n.log")"
		finish
		exit 1
	fi
	if [ -z "${ANN_PIDS[$n]:-}" ]; then
		ip netns exec "${NS_I[$n]}" python3 "$ANNOUNCE" --url "http://${ADDR_I[$n]}:9253/health" \
			--bird-socket "$W/bird-$n.ctl" --withdraw-wait 2 2>>"$W/announce-$n.log" &
		ANN_PIDS[n]=$!
		BG_PIDS+=("$!")
	fi
}

# term_and_wait PID: SIGTERM, at most 10 s for the exit (then SIGKILL);
# sets STATUS to the exit status (not printed: a command substitution's
# subshell cannot wait for our children).
term_and_wait() {
	STATUS=0
	kill -TERM "$1"
	for _ in $(seq 200); do is_running "$1" || break; sleep 0.05; done
	is_running "$1" && kill -KILL "$1"
	wait "$1" || STATUS=$?
}

# nexthops: the router's kernel route to the service, its next hops sorted
# ("198.18.0.2 198.18.0.6", one of them, or nothing).
nexthops() {
	ip -n "$NS_R" -4 route show "$SERVICE/32" | grep -o 'via [0-9.]*' | cut -d' ' -f2 | sort |
		tr '\n' ' ' | sed 's/ $//'
}
BOTH="${ADDR_I[1]} ${ADDR_I[2]}"
# await_nexthops EXPECTED MAX_MS: polls every 50 ms; prints the ms it took
# (or "timeout"), returns 1 on timeout.
await_nexthops() {
	local t0 now
	t0=$(now_ms)
	while :; do
		now=$(now_ms)
		[ "$(nexthops)" = "$1" ] && echo $((now - t0)) && return 0
		[ $((now - t0)) -gt "$2" ] && echo timeout && return 1
		sleep 0.05
	done
}
# await_health N PREFIX MAX_TRIES [DIG-NAME]: polls every 0.2 s until
# /health starts with PREFIX; with DIG-NAME, asks erdns N for a fresh name
# under it each round (the queries that let erdns see HQ fail).
await_health() {
	local i
	for i in $(seq "$3"); do
		[[ "$(health "$1")" == "$2"* ]] && return 0
		[ -n "${4:-}" ] && in_i "$1" dig @"$SERVICE" +tries=1 +time=2 "q$i-$RANDOM.$4" >/dev/null
		sleep 0.2
	done
	return 1
}
# clients COUNT RATE LOG: anycast_client.py from the client namespace.
clients() {
	ip netns exec "$NS_C" python3 "$CLIENT" "$SERVICE" 53 "$1" "$2" "$3" "${SOURCES[@]}"
}
# share ID SUMMARY: percent of answered queries from ID in a client summary.
share() {
	awk -v id="$1" '{ for (i = 1; i <= NF; i++) { split($i, kv, "=");
		if (kv[1] ~ /^erdns-/) { all += kv[2]; if (kv[1] == id) mine = kv[2] } } }
		END { print (all ? int(100 * mine / all) : 0) }' <<<"$2"
}
field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2"; }
# is_num VALUE: a decimal number (digits, optionally a fraction).
is_num() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
# lost_pct SUMMARY: lost queries in percent of those sent, to 0.1; nothing
# when the summary lacks either count or sent nothing.
lost_pct() {
	awk -v l="$(field lost "$1")" -v s="$(field sent "$1")" 'BEGIN {
		if (l !~ /^[0-9]+$/ || s !~ /^[0-9]+$/ || s == 0) exit 1
		printf "%.1f", 100 * l / s }'
}
# pct_le DESCRIPTION VALUE MAX: decimal comparison; a VALUE that is not a
# number (an empty client summary) fails.
pct_le() {
	if ! is_num "$2" || ! is_num "$3"; then
		not_ok "$1: [$2] % is not a number to compare with [$3] %"
	elif awk -v v="$2" -v m="$3" 'BEGIN { exit !(v <= m) }'; then ok "$1 ($2 % <= $3 %)"; else not_ok "$1: $2 % > $3 %"; fi
}
# check_sent WHAT SUMMARY: the clients sent 100 queries or more, so that
# the percentages drawn from SUMMARY mean something (an empty summary, from
# a client that failed, would pass them). Returns 1 when not.
check_sent() {
	local sent
	sent=$(field sent "$2")
	if is_num "$sent" && [ "$sent" -ge 100 ]; then
		ok "$1: the clients sent $sent queries (>= 100)"
	else
		not_ok "$1: the clients sent [$sent] queries, 100 or more wanted (summary: $2)"
		return 1
	fi
}
# check_spread WHAT MIN SUMMARY: a client run over both instances: 100 or
# more queries sent, every one answered on its first try, and each
# instance answering MIN % or more of the flows.
check_spread() {
	local what=$1 min=$2 sum=$3 n s
	check_sent "$what" "$sum" || return
	check_eq "$what: every query answered" "lost=0 late=0" \
		"lost=$(field lost "$sum") late=$(field late "$sum")"
	for n in 1 2; do
		s=$(share "erdns-$n" "$sum")
		if [ "$s" -ge "$min" ]; then ok "$what: instance $n answers $s % of the flows (>= $min %)"; else
			not_ok "$what: instance $n answers only $s % of the flows, $min % wanted ($sum)"; fi
	done
}
RESULTS="$W/results.txt" # the measured figures, printed at the end
: >"$RESULTS"
figure() { echo "$*" | tee -a "$RESULTS"; }
# section TITLE: a heading with the time since the start, for the log.
section() { echo "--- $* (at $(($(now_ms) - t_start)) ms)"; }

t_start=$(now_ms)
section "start both instances"
for n in 1 2; do start_instance "$n"; done
up_ms=$(await_nexthops "$BOTH" 20000)
check_eq "both instances announced: ECMP route with both next hops" "$BOTH" "$(nexthops)"
figure "start: both next hops in the router ${up_ms} ms after both erdns answered (rise 3)"
check_eq "/health ok on instance 1" "200 ok" "$(health 1)"
check_eq "/health ok on instance 2" "200 ok" "$(health 2)"

# --- 1. both serve ----------------------------------------------------------------
section "1. both serve"
sum=$(clients 200 100 "$W/spread.log")
echo "spread over both: $sum"
check_spread "both serve (ECMP spreads the flows)" 25 "$sum"
out=$(ip netns exec "$NS_C" dig @"$SERVICE" +tries=1 +time=2 +noall +answer www.corp.test | tr -s '\t' ' ')
check_has "a corp.test name resolves from HQ through the anycast address" "60 IN A 192.0.2." "$out"

# --- 2. stop instance 1 as systemd does: announcer first ---------------------------
section "2. stop instance 1 through the announcer"
# erdns-announce.service is ordered after erdns.service, so systemd stops it
# first: SIGTERM to the announcer, which withdraws and waits; erdns gets its
# SIGTERM only once the announcer has exited.
clients 120 20 "$W/term.log" >"$W/term.sum" &
cpid=$!
BG_PIDS+=("$cpid")
sleep 1
t_term=$(now_ms)
kill -TERM "${ANN_PIDS[1]}"
wd_ms=$(await_nexthops "${ADDR_I[2]}" 5000)
for _ in $(seq 100); do is_running "${ANN_PIDS[1]}" || break; sleep 0.05; done
wait "${ANN_PIDS[1]}"
check_eq "the announcer exits 0 after its withdraw wait" 0 "$?"
ANN_PIDS[1]=""
ann_ms=$(($(now_ms) - t_term))
hops_before_erdns_stops=$(nexthops)
t_erdns_term=$(now_ms)
term_and_wait "${ERDNS_PIDS[1]}"
check_eq "erdns 1 exits 0 on SIGTERM" 0 "$STATUS"
check_has "erdns 1 stopped cleanly" "stopped cleanly" "$(cat "$W/erdns-1.log")"
wait "$cpid"
sum=$(cat "$W/term.sum")
check_eq "stop path: the route was withdrawn before erdns got SIGTERM" "${ADDR_I[2]}" "$hops_before_erdns_stops"
if [ "$wd_ms" != timeout ]; then
	check_le "stop path: withdrawn in the router within 1 s of the announcer's SIGTERM (ms)" "$wd_ms" 1000
	# The announcer's 2 s wait lies between the two.
	check_le "stop path: erdns got SIGTERM 1.5 s or more after the withdraw (ms)" \
		$((wd_ms + 1500)) $((t_erdns_term - t_term))
else
	not_ok "stop path: the route was not withdrawn within 5 s"
fi
check_sent "stop path" "$sum" && check_eq "stop path: no query lost" 0 "$(field lost "$sum")"
figure "SIGTERM through the announcer: withdrawn in the router ${wd_ms} ms after the announcer's" \
	"SIGTERM; erdns got SIGTERM $((t_erdns_term - t_term)) ms after it (announcer exit ${ann_ms} ms);" \
	"clients: $sum"

# --- 3. bring it back ----------------------------------------------------------------
section "3. restart instance 1"
t_ready=$(now_ms)
start_instance 1
back_ms=$(await_nexthops "$BOTH" 10000)
check_eq "instance 1 announced again after restart" "$BOTH" "$(nexthops)"
figure "restart: announced again ${back_ms} ms after erdns answered ($(($(now_ms) - t_ready)) ms after start; rise 3 x 1 s)"
if [ "$back_ms" != timeout ] && [ "$back_ms" -ge 1500 ]; then
	ok "not before the rise count ($back_ms ms >= 1500 ms)"
else
	not_ok "re-announced after $back_ms ms: rise 3 polls 1 s apart should take 2-4 s"
fi

# --- 4. SIGKILL erdns 1 ------------------------------------------------------------------
section "4. SIGKILL erdns 1"
clients 120 20 "$W/kill.log" >"$W/kill.sum" &
cpid=$!
BG_PIDS+=("$cpid")
# The announcer polls once a second: a random moment within its period, so
# that runs sample the whole range of detection times (0 to 1 s).
sleep "1.$((RANDOM % 10))"
t_kill=$(now_ms)
kill -KILL "${ERDNS_PIDS[1]}"
kill_ms=$(await_nexthops "${ADDR_I[2]}" 10000)
wait "${ERDNS_PIDS[1]}" 2>/dev/null
wait "$cpid"
sum=$(cat "$W/kill.sum")
if [ "$kill_ms" != timeout ]; then
	check_le "SIGKILL: withdrawn in the router within 3 s (ms)" "$kill_ms" 3000
else
	not_ok "SIGKILL: the route was not withdrawn within 10 s"
fi
check_sent "SIGKILL" "$sum" && pct_le "SIGKILL: queries lost" "$(lost_pct "$sum")" 1
# Every query sent 1 s or more after the withdraw was answered on its first try.
after=$(awk -v t=$((t_kill + kill_ms + 1000)) '$1 >= t && $4 != 1' "$W/kill.log" | wc -l)
check_eq "SIGKILL: every query sent 1 s after the withdraw answered at once" 0 "$after"
figure "SIGKILL: withdrawn in the router ${kill_ms} ms after the kill; clients: $sum"
start_instance 1
back_ms=$(await_nexthops "$BOTH" 10000)
check_eq "instance 1 announced again after the SIGKILL and a restart" "$BOTH" "$(nexthops)"
figure "restart after SIGKILL: announced again ${back_ms} ms after erdns answered"

# --- 5. HQ unreachable from instance 1: degraded, less preferred -------------------------
section "5. HQ unreachable from instance 1"
echo silent >"$W/mode-hq-1"
if await_health 1 "200 degraded" 30 corp.test; then ok "instance 1: /health degraded"; else
	not_ok "instance 1 never degraded: $(health 1)"; fi
t_deg=$(now_ms)
clients 140 20 "$W/deg.log" >"$W/deg.sum" &
cpid=$!
BG_PIDS+=("$cpid")
pref_ms=$(await_nexthops "${ADDR_I[2]}" 8000)
routes=$(ip netns exec "$NS_R" birdc -s "$W/bird-r.ctl" show route "$SERVICE/32" all)
wait "$cpid"
sum=$(cat "$W/deg.sum")
check_eq "degraded: the router still has instance 1's route (2 routes in BIRD)" 2 \
	"$(grep -c 'unicast \[erdns' <<<"$routes")"
check_has "degraded: instance 1's route has the prepended path" "BGP.as_path: 65053 65053 65053" "$routes"
check_has "degraded: and the higher MED" "BGP.med: 100" "$routes"
check_eq "degraded: only instance 2 in the kernel's route" "${ADDR_I[2]}" "$(nexthops)"
# New flows from 5 s after /health said degraded, on the healthy instance.
late_flows=$(awk -v t=$((t_deg + 5000)) '$1 >= t { all++; if ($3 == "erdns-2") on2++ }
	END { printf "%d %d", on2, all }' "$W/deg.log")
read -r on2 all <<<"$late_flows"
pct2=$((all ? 100 * on2 / all : 0))
if [ "$all" -ge 20 ] && [ "$pct2" -ge 90 ]; then
	ok "degraded: $pct2 % of new flows on instance 2 from 5 s on ($on2 of $all)"
else
	not_ok "degraded: $pct2 % of new flows on instance 2 from 5 s on ($on2 of $all; 90 % wanted)"
fi
check_sent "degraded" "$sum" &&
	check_eq "degraded: no query lost while preference moves" 0 "$(field lost "$sum")"
# Second by second after /health said degraded: the healthy instance's share.
per_s=$(awk -v t="$t_deg" '{ s = int(($1 - t) / 1000); all[s]++; if ($3 == "erdns-2") on2[s]++ }
	END { for (s = 0; s < 7; s++) if (all[s]) printf "%ds:%d%% ", s, 100 * on2[s] / all[s] }' \
	"$W/deg.log")
figure "degraded: preference moved in the router ${pref_ms} ms after /health said degraded;" \
	"from 5 s on $pct2 % of new flows on the healthy instance ($on2/$all); per second after" \
	"degraded: ${per_s% }; clients: $sum"

# --- 6. HQ unreachable from both: both stay announced ---------------------------------
section "6. HQ unreachable from both"
echo silent >"$W/mode-hq-2"
if await_health 2 "200 degraded" 30 corp.test; then ok "instance 2: /health degraded"; else
	not_ok "instance 2 never degraded: $(health 2)"; fi
both_ms=$(await_nexthops "$BOTH" 8000)
check_eq "both degraded: both announced, both in the ECMP route" "$BOTH" "$(nexthops)"
figure "both degraded: both next hops again ${both_ms} ms after the second /health said degraded"
sum=$(clients 100 50 "$W/bothdeg.log")
check_spread "both degraded" 20 "$sum"
# corp.test from the clients: answered from the branch group (192.0.2.N2)
# of whichever instance the flow reached, TTLs capped.
ttl_max=0 answered=0 seen=""
for i in $(seq 16); do
	out=$(ip netns exec "$NS_C" dig @"$SERVICE" -b "${SOURCES[$i]}" +tries=2 +time=2 +noall +answer \
		"b$i-$RANDOM.corp.test" | tr -s '\t' ' ')
	ttl=$(awk '$4 == "A" { print $2; exit }' <<<"$out")
	addr=$(awk '$4 == "A" { print $5; exit }' <<<"$out")
	[ -n "$ttl" ] || continue
	answered=$((answered + 1))
	[ "$ttl" -gt "$ttl_max" ] && ttl_max=$ttl
	seen+=" $addr"
done
check_eq "both degraded: 16 corp.test names answered through the anycast address" 16 "$answered"
check_le "both degraded: TTLs capped by fallback_ttl_s" "$ttl_max" "$FB_TTL"
check_has "both degraded: answers from instance 1's branch group" "192.0.2.12" "$seen"
check_has "both degraded: answers from instance 2's branch group" "192.0.2.22" "$seen"
check_lacks "both degraded: none from HQ" "192.0.2.11" "$seen"

# --- 7. HQ back: announced normally after the rise count --------------------------------
section "7. HQ back"
echo answer >"$W/mode-hq-1"
echo answer >"$W/mode-hq-2"
# erdns probes a down server at 0.5 s, 1 s, 2 s, 4 s, 8 s...: wait for it.
for n in 1 2; do
	if await_health "$n" "200 ok" 100; then ok "instance $n: /health ok again"; else
		not_ok "instance $n: /health not ok again: $(health "$n")"; fi
done
t_ok=$(now_ms)
for _ in $(seq 120); do
	routes=$(ip netns exec "$NS_R" birdc -s "$W/bird-r.ctl" show route "$SERVICE/32" all)
	[ "$(grep -c 'BGP.med: 0' <<<"$routes")" = 2 ] && break
	sleep 0.05
done
rise_ms=$(($(now_ms) - t_ok))
check_eq "HQ back: both announced as ok (MED 0) again" 2 "$(grep -c 'BGP.med: 0' <<<"$routes")"
check_eq "HQ back: both in the ECMP route" "$BOTH" "$(nexthops)"
figure "HQ back: both announced as ok ${rise_ms} ms after both /health said ok (rise 3)"
sum=$(clients 100 50 "$W/back.log")
check_spread "HQ back" 20 "$sum"

# --- 8. instance 1's host freezes: BFD withdraws --------------------------------------------
section "8. freeze instance 1's host"
# BIRD, erdns and the announcer stopped (SIGSTOP) together: nothing on the
# host answers or withdraws and the TCP session stays open; the router's
# BFD (5 x 200 ms) takes the route away (without BFD, the BGP hold timer,
# 3 s). Last: when the host thaws, BIRD 2.0.12's BFD may take the session
# down once more while the two ends resync (docs/anycast.md).
HOST1=("${ERDNS_PIDS[1]}" "${ANN_PIDS[1]}" "$(cat "$W/bird-1.pid")")
clients 140 20 "$W/freeze.log" >"$W/freeze.sum" &
cpid=$!
BG_PIDS+=("$cpid")
sleep "1.$((RANDOM % 10))"
kill -STOP "${HOST1[@]}"
freeze_ms=$(await_nexthops "${ADDR_I[2]}" 10000)
# Frozen 3 s longer: what reached instance 1 before the withdraw is answered
# (if at all) only after the client gave up on it, as from a dead host.
sleep 3
kill -CONT "${HOST1[@]}"
t_cont=$(now_ms)
wait "$cpid"
sum=$(cat "$W/freeze.sum")
if [ "$freeze_ms" != timeout ]; then
	check_le "frozen host: withdrawn within 3 s (BFD: 1 s)" "$freeze_ms" 3000
else
	not_ok "frozen host: the route was not withdrawn within 10 s"
fi
figure "frozen host (BIRD, erdns, announcer stopped): withdrawn in the router ${freeze_ms} ms" \
	"after the freeze (BFD 5 x 200 ms); clients: $sum"
# BIRD's BFD may take the session down once more while the two ends
# resync after the thaw: wait for both next hops to stay 3 s (at most 25 s).
flaps=0 stable_since=""
for _ in $(seq 500); do
	if [ "$(nexthops)" = "$BOTH" ]; then
		[ -z "$stable_since" ] && stable_since=$(now_ms)
		[ $(($(now_ms) - stable_since)) -ge 3000 ] && break
	else
		[ -n "$stable_since" ] && flaps=$((flaps + 1))
		stable_since=""
	fi
	sleep 0.05
done
check_eq "instance 1 announced again, for good, once its host runs again" "$BOTH" "$(nexthops)"
figure "thawed host: back within $((${stable_since:-$(now_ms)} - t_cont)) ms of SIGCONT, and stayed" \
	"(withdrawn again $flaps time(s) first while BFD resynced)"

# --- the end: announcers, erdns, BIRD -----------------------------------------------------
section "the end"
for n in 1 2; do kill -TERM "${ANN_PIDS[$n]}" 2>/dev/null; done
check_eq "all withdrawn once both announcers stop" "" "$(await_nexthops "" 5000 >/dev/null; nexthops)"
for n in 1 2; do
	term_and_wait "${ERDNS_PIDS[$n]}"
	check_eq "erdns $n exits 0 on SIGTERM" 0 "$STATUS"
done
check_lacks "no announcer error towards BIRD" "BIRD:" "$(cat "$W"/announce-*.log)"
echo "--- measured (whole test $(($(now_ms) - t_start)) ms) ---"
cat "$RESULTS"
finish
