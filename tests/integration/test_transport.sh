#!/usr/bin/env bash
# Transport (SPEC 3): TCP with pipelining and out-of-order answers, UDP
# replies cut to the client's size with TC=1, the upstream TC=1 -> TCP retry,
# and answers from upstreams that misbehave (spoofed, garbage) rejected.
. "$(dirname "$0")/lib.sh"
RAW="python3 $SRCDIR/tests/integration/rawdns.py"

start_standin UP --id 2 --peer-log "$W/up-peers.log"
start_standin TRUNC --id 3 --mode truncate
start_standin SLOW --id 4 --mode delay --delay-ms 400
start_standin WID --id 5 --mode wrongid
start_standin WQ --id 6 --mode wrongq
start_standin WP --id 7 --mode wrongport
start_standin GARB --id 8 --mode garbage
start_standin TCPX --id 9 --mode tcpclose
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2 },
  "upstreams": {
    "branch": { "servers": ["127.0.0.1:$UP"] },
    "trunc":  { "servers": ["127.0.0.1:$TRUNC"] },
    "slow":   { "servers": ["127.0.0.1:$SLOW"] },
    "wid":    { "servers": ["127.0.0.1:$WID"] },
    "wq":     { "servers": ["127.0.0.1:$WQ"] },
    "wp":     { "servers": ["127.0.0.1:$WP"] },
    "garb":   { "servers": ["127.0.0.1:$GARB", "127.0.0.1:$UP"], "select": "ordered" },
    "tcpx":   { "servers": ["127.0.0.1:$TCPX", "127.0.0.1:$UP"], "select": "ordered" },
    "always": { "servers": ["127.0.0.1:$UP"], "tcp": "always" }
  },
  "routes": [
    { "domains": ["trunc.test"], "via": "trunc" },
    { "domains": ["slow.test"], "via": "slow" },
    { "domains": ["wid.test"], "via": "wid" },
    { "domains": ["wq.test"], "via": "wq" },
    { "domains": ["wp.test"], "via": "wp" },
    { "domains": ["garb.test"], "via": "garb" },
    { "domains": ["tcpx.test"], "via": "tcpx" },
    { "domains": ["always.test"], "via": "always" }
  ],
  "default": "branch"
}
JSON
start_erdns "$W/erdns.json"

check_eq "TCP query" "192.0.2.2" "$(qs +tcp www.example.org)"
# 40 A records (~680 bytes): over 512 without EDNS, under 1232 with it.
out=$(q +noedns +ignore big.example.org)
check_has "no EDNS: cut to 512 with TC=1" "flags: qr tc rd ra" "$out"
size=$(q +noedns +ignore big.example.org | sed -n 's/.*MSG SIZE *rcvd: \([0-9]*\)/\1/p')
check_le "no EDNS: reply <= 512 bytes" "$size" 512
out=$(q +bufsize=1232 +ignore big.example.org)
check_lacks "EDNS 1232: whole answer" " tc " "$out"
check_eq "EDNS 1232: 40 records" 40 "$(q +bufsize=1232 +short big.example.org | wc -l)"
out=$(q +bufsize=600 +ignore big.example.org)
check_has "EDNS 600: cut with TC=1" "flags: qr tc rd ra" "$out"
check_has "EDNS reply advertises 1232" "udp: 1232" "$(q +bufsize=4096 www.example.org)"
# 100 records (~1650 bytes): the upstream truncates, erdns retries over TCP.
out=$(q +bufsize=4096 +ignore huge.example.org)
check_has "over 1232 via UDP: TC=1 even when the client offers 4096" "flags: qr tc rd ra" "$out"
check_eq "over TCP: the whole answer" 100 "$(q +tcp +short huge.example.org | wc -l)"
check_has "upstream saw the TCP retry" "tcp huge.example.org A" "$(cat "$UP_LOG")"
check_eq "upstream TC=1 answers retried over TCP" "192.0.2.3" "$(qs x.trunc.test)"
check_has "truncating upstream got the TCP retry" "tcp x.trunc.test A" "$(cat "$TRUNC_LOG")"
check_eq "tcp=always: no UDP" "192.0.2.2" "$(qs x.always.test)"
check_has "tcp=always upstream query over TCP" "tcp x.always.test A" "$(cat "$UP_LOG")"

# Spoofed answers (wrong ID, wrong question, wrong source port) carry
# 192.0.2.66 and arrive first; erdns must wait for the real one.
check_eq "wrong-ID answer ignored" "192.0.2.5" "$(qs x.wid.test)"
check_eq "wrong-question answer ignored" "192.0.2.6" "$(qs x.wq.test)"
check_eq "wrong-port answer ignored" "192.0.2.7" "$(qs x.wp.test)"
check_eq "garbage answer: next server" "192.0.2.2" "$(qs x.garb.test)"
check_eq "upstream closes TCP mid-query: next server" "192.0.2.2" "$(qs x.tcpx.test)"

# SPEC 3: every upstream attempt leaves from its own random source port with
# its own random ID, also when queries come one after another (the sockets
# are reused, each time on a new kernel-chosen port: upstream/udp_pool.c).
: >"$W/up-peers.log"
for i in $(seq 20); do qs "s$i.ports.example.org" >/dev/null; done
check_eq "20 sequential misses reached the upstream over UDP" 20 "$(wc -l <"$W/up-peers.log")"
check_le "at least 18 distinct source ports among 20 sequential queries" 18 \
	"$(cut -d' ' -f1 "$W/up-peers.log" | sort -u | wc -l)"
check_le "at least 18 distinct IDs among them" 18 "$(cut -d' ' -f2 "$W/up-peers.log" | sort -u | wc -l)"
check_eq "no source port below 1024" 0 "$(awk '$1 < 1024' "$W/up-peers.log" | wc -l)"

# Pipelining: 10 queries in one write; one slow name first must not hold
# back the others (out-of-order answers).
ids=$(timeout 10 $RAW "$PORT" tcp 1000 $(seq -f 'p%g.example.org' 0 9))
check_eq "10 pipelined queries, 10 answers" 10 "$(echo "$ids" | wc -w)"
check_eq "every ID answered once" "$(seq 1000 1009 | tr '\n' ' ' | sed 's/ $//')" "$(echo "$ids" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')"
ooo=$(timeout 10 $RAW "$PORT" tcp 1 a.slow.test fast.example.org)
check_eq "out-of-order: the fast answer overtakes the slow one" "2 1" "$ooo"

# More pipelined queries than a connection may have in flight (32), five
# names asked eight times each, all slow: reading pauses, coalesced answers
# free their waiters, reading resumes; every one of the 40 is answered once.
ids=$(timeout 10 $RAW "$PORT" tcp 500 $(for i in $(seq 0 39); do echo "n$((i % 5)).p.slow.test"; done))
burst="$(echo "$ids" | wc -w) $(echo "$ids" | tr ' ' '\n' | sort -u | grep -c .)"
check_eq "40 pipelined queries over the in-flight limit: 40 distinct answers" "40 40" "$burst"

# RFC 7766 6.2.3: an idle client connection is closed after 10 s; one
# that is used in the meantime is not.
idle=$(python3 - "$PORT" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
name = b"\x03www\x07example\x03org\x00"
q = struct.pack("!HHHHHH", 7, 0x100, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1)
busy = socket.create_connection(("127.0.0.1", port), timeout=15)
idle = socket.create_connection(("127.0.0.1", port), timeout=15)
start = time.time()
for _ in range(6):  # keep `busy` in use every 2 s
    time.sleep(2)
    busy.sendall(struct.pack("!H", len(q)) + q)
    n = struct.unpack("!H", busy.recv(2, socket.MSG_WAITALL))[0]
    busy.recv(n, socket.MSG_WAITALL)
closed = idle.recv(1) == b""  # EOF once erdns closed it
print("idle-closed" if closed else "idle-open", round(time.time() - start))
busy.sendall(struct.pack("!H", len(q)) + q)
print("busy-open" if len(busy.recv(2, socket.MSG_WAITALL)) == 2 else "busy-closed")
PY
)
check_has "an idle TCP client is disconnected after 10 s" "idle-closed" "$idle"
check_has "a TCP client in use stays connected" "busy-open" "$idle"

stop_erdns
finish
