#!/usr/bin/env bash
# Bounded memory when replies cannot leave as fast as queries come in: a
# client asks for a ~1 KB TXT answer 12 000 times as fast as it can, over a
# link shaped to 10 Mbit/s. erdns's socket send buffer fills, and the replies
# it cannot send at once queue in libuv; that queue must stop at its bound
# (udp_listener.c, ER_UDP_SEND_QUEUE_MAX) instead of holding every answer
# (~13 MB here). erdns must go on answering once the link drains, and shut
# down cleanly with replies still queued.
#
# The link: two network namespaces made here (client in one, erdns in the
# other) joined by a veth pair on 198.18.0.0/30 (RFC 2544 benchmark space)
# with a tbf qdisc on erdns's side; traffic between two addresses of one
# namespace would go through loopback, which never pushes back. Needs root.
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	not_ok "this test creates network namespaces and must run as root"
	finish
	exit 1
fi

NS_C="erdns-bp-c-$$"
NS_S="erdns-bp-s-$$"
drop_namespaces() {
	ip netns del "$NS_C" 2>/dev/null
	ip netns del "$NS_S" 2>/dev/null
	return 0
}
trap 'cleanup; drop_namespaces' EXIT
ip netns add "$NS_C" && ip netns add "$NS_S" &&
	ip link add "bpc$$" type veth peer name "bps$$" &&
	ip link set "bpc$$" netns "$NS_C" && ip link set "bps$$" netns "$NS_S" &&
	ip -n "$NS_C" addr add 198.18.0.2/30 dev "bpc$$" &&
	ip -n "$NS_S" addr add 198.18.0.1/30 dev "bps$$" &&
	ip -n "$NS_C" link set "bpc$$" up && ip -n "$NS_S" link set "bps$$" up &&
	ip -n "$NS_C" link set lo up && ip -n "$NS_S" link set lo up &&
	tc -n "$NS_S" qdisc add dev "bps$$" root tbf rate 10mbit burst 32kbit limit 64mb
check_eq "namespaces, veth pair and shaping set up" 0 "$?"

TXT=$(printf '"%0200d" ' 1 2 3 4 5)
cat >"$W/big.test.zone" <<ZONE
\$ORIGIN big.test.
\$TTL 300
@    SOA ns hostmaster 1 3600 600 86400 300
@    NS  ns
ns   A   198.18.0.1
txt  TXT $TXT
ZONE
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["198.18.0.1:5353"], "threads": 1, "allow": ["198.18.0.0/30"] },
  "upstreams": { "none": { "servers": ["127.0.0.1:9"] } },
  "zones": [ { "file": "$W/big.test.zone" } ],
  "default": "none"
}
JSON
# flood N: N queries for the TXT answer (EDNS 1232) from the client's
# namespace, as fast as they go, no answer read.
flood() {
	RAWDNS_HOST=198.18.0.1 ip netns exec "$NS_C" \
		python3 "$SRCDIR/tests/integration/rawdns.py" 5353 flood "$1" txt.big.test TXT
}

cdig() { ip netns exec "$NS_C" dig @198.18.0.1 -p 5353 +tries=1 +time=3 "$@"; }

# Under ASan, freed memory sits in a quarantine (256 MB by default) and would
# count as growth: turn it off so RSS measures what erdns holds.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
	ip netns exec "$NS_S" "$ERDNS" serve -c "$W/erdns.json" 2>"$W/erdns.log" &
ERDNS_PID=$!
BG_PIDS+=("$ERDNS_PID")
if ! await_ready "$ERDNS_PID" cdig +short -c CH -t TXT id.server; then
	not_ok "erdns did not start in its namespace"
	cat "$W/erdns.log"
	finish
	exit 1
fi
size=$(cdig +bufsize=1232 txt.big.test TXT | sed -n 's/.*MSG SIZE  rcvd: \([0-9]*\).*/\1/p')
check_le "the TXT answer is large (over 1000 bytes)" 1000 "${size:-0}"

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$ERDNS_PID/status"; }
rss0=$(rss)
flood 12000
sleep 1 # erdns has read and answered (or queued) every query by now
rss1=$(rss)
grow=$((rss1 - rss0))
check_le "RSS growth with replies backed up stays under 6 MB (${grow} KB; ~13 MB unbounded)" \
	"$grow" 6144

# erdns keeps answering: a new reply goes out as soon as the send buffer has
# room (the queue drains at 10 Mbit/s, ~1.2 MB per second).
answered=""
for _ in $(seq 20); do
	answered=$(cdig +short +bufsize=1232 txt.big.test TXT | head -c 12)
	[ -n "$answered" ] && break
	sleep 0.5
done
check_eq "erdns still answers with the link backed up" '"00000000000' "${answered:0:12}"

# Flood again and stop while replies are queued: the queued sends are
# cancelled and freed (ASan build: no leak report), exit 0.
flood 3000
sleep 0.3
stop_erdns
finish
