#!/usr/bin/env bash
# server.client_qps through the real binary with two workers, answering
# from a local zone. A client flooding from 16 source ports (which
# SO_REUSEPORT spreads over both workers) gets its burst plus what refills
# while it floods, not more: one budget shared by the workers, where
# per-worker buckets would let about twice that through. The rest are
# dropped without a reply and counted in erdns_rate_limited_total. A second
# client address flooding at the same time has a budget of its own; TCP
# and CHAOS queries are limited alike; a client outside `allow` is refused,
# not limited. Without the key every query is answered; a reload turns the
# limit on and off.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_metrics.sh"
CLIENT="python3 $SRCDIR/tests/integration/rate_client.py"
NAME=printer.branch.contoso.com # in the local zone: answered by the worker itself
QPS=20
BURST=20
N=200

start_standin UP --id 2
PORT=$(free_port)
MPORT=$(free_port)
# config [SERVER-MEMBERS]: the config file, with extra "server" members.
config() {
	cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2,
              "allow": ["127.0.0.1/32", "127.0.0.2/32", "127.0.0.3/32"] ${1:+, $1} },
  "control": { "socket": "$W/control.sock" },
  "metrics": { "listen": "127.0.0.1:$MPORT" },
  "upstreams": { "branch": { "servers": ["127.0.0.1:$UP"] } },
  "zones": [ { "file": "$SRCDIR/zones/branch.contoso.com.zone" } ]
}
JSON
}
reload() { "$ERDNS" ctl -s "$W/control.sock" reload; }
# field LINE KEY: the value of KEY=... in a rate_client.py line
field() { sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" <<<"$1"; }
# within_limit DESC LINE: A answers of the line's queries are at least the
# burst (less two for a datagram lost) and at most the burst plus what
# refills in the window (plus two: a tick of the ms clock each end).
within_limit() {
	local desc=$1 line=$2 answered window most
	answered=$(field "$line" answered)
	window=$(field "$line" window_ms)
	most=$((BURST + QPS * window / 1000 + 2))
	if [ "$most" -ge "$N" ]; then
		not_ok "$desc: the flood took $window ms, too slow to tell a limit from none"
		return
	fi
	if [ "$answered" -ge $((BURST - 2)) ] && [ "$answered" -le "$most" ]; then
		ok "$desc: $answered answered (between $((BURST - 2)) and $most, window $window ms)"
	else
		not_ok "$desc: $answered answered, not between $((BURST - 2)) and $most (window $window ms): $line"
	fi
}

config
start_erdns "$W/erdns.json"
check_has "erdns check: the limit is off by default" "client limit: off" \
	"$("$ERDNS" check -c "$W/erdns.json")"
out=$($CLIENT "$PORT" udp "$N" "$NAME" 16 127.0.0.1)
check_eq "no key: every query of a flood answered" "$N" "$(field "$out" answered)"
expect "no key: nothing counted as rate-limited" 0 erdns_rate_limited_total

# On by a reload: the workers read the limit from the snapshot.
config "\"client_qps\": $QPS, \"client_burst\": $BURST"
check_has "erdns check prints the limit" \
	"client limit: $QPS queries/s, burst $BURST, per IPv4 /32 and IPv6 /64" \
	"$("$ERDNS" check -c "$W/erdns.json")"
check_has "reload applies it" "configuration reloaded" "$(reload 2>&1)"
check_has "the reload logs the new limit" \
	"client rate limit: $QPS queries/s, burst $BURST" "$(cat "$W/erdns.log")"
check_lacks "no restart needed for it" "restart erdns to apply" "$(cat "$W/erdns.log")"

# Two clients flood at once, 16 source ports each, their queries interleaved.
queries0=$(num erdns_queries_udp_total)
out=$($CLIENT "$PORT" udp "$N" "$NAME" 16 127.0.0.1,127.0.0.2)
echo "$out"
one=$(grep '^127.0.0.1 ' <<<"$out")
two=$(grep '^127.0.0.2 ' <<<"$out")
within_limit "client 127.0.0.1 over both workers: one budget" "$one"
within_limit "client 127.0.0.2 at the same time: a budget of its own" "$two"
dropped=$((2 * N - $(field "$one" answered) - $(field "$two" answered)))
expect "every query not answered was counted as rate-limited" "$dropped" erdns_rate_limited_total
expect "and was received (counted in queries)" $((queries0 + 2 * N)) erdns_queries_udp_total

# The bucket refills: a second later the client has its burst again.
sleep 1.1
out=$($CLIENT "$PORT" udp "$N" "$NAME" 16 127.0.0.1)
within_limit "after 1.1 s, 127.0.0.1 has its burst back" "$out"
dropped=$((dropped + N - $(field "$out" answered)))

# TCP, and CHAOS queries: limited alike, dropped without a reply.
out=$($CLIENT "$PORT" tcp "$N" id.server 127.0.0.3 CH)
within_limit "TCP, CHAOS id.server from 127.0.0.3: limited alike" "$out"
dropped=$((dropped + N - $(field "$out" answered)))
expect "TCP queries dropped counted too" "$dropped" erdns_rate_limited_total

# The allow list comes first: a client outside it is refused every time
# (REFUSED is its reply) and spends nothing.
limited=$(num erdns_rate_limited_total)
refused=$(num erdns_refused_acl_total)
out=$($CLIENT "$PORT" udp "$N" "$NAME" 16 127.0.0.4)
check_eq "outside allow: every query refused, not limited" "$N" "$(field "$out" answered)"
expect "outside allow: counted as refused" $((refused + N)) erdns_refused_acl_total
check_eq "outside allow: not counted as rate-limited" "$limited" "$(num erdns_rate_limited_total)"

# Off again by a reload: the client whose bucket is spent gets every answer.
$CLIENT "$PORT" udp "$N" "$NAME" 16 127.0.0.1 >/dev/null # spend it
config
check_has "reload with the key removed" "configuration reloaded" "$(reload 2>&1)"
check_has "the reload logs the limit off" "client rate limit: off" "$(cat "$W/erdns.log")"
before=$(num erdns_rate_limited_total)
out=$($CLIENT "$PORT" udp "$N" "$NAME" 16 127.0.0.1)
check_eq "key removed: every query answered again" "$N" "$(field "$out" answered)"
check_eq "key removed: nothing more counted" "$before" "$(num erdns_rate_limited_total)"
stop_erdns
finish
