#!/usr/bin/env bash
# ECS over the whole chain (SPEC 3): whether a question may be shared
# (coalesced) or cached is decided over the whole chain. An answer fetched
# with a client's own subnet (`ecs: pass` on ANY group that may be asked) is
# given to that client only: never cached for others, never shared with a
# concurrent client. Here the first group strips ECS (and fails), the second
# passes it. Controls: a chain whose groups all strip caches and coalesces.
. "$(dirname "$0")/lib.sh"
# check_ge DESCRIPTION VALUE MIN
check_ge() { if [ "$2" -ge "$3" ]; then ok "$1 ($2 >= $3)"; else not_ok "$1: expected at least $3, got $2"; fi; }

start_standin HQ --id 1 --mode servfail # first group: fails at once, alive
start_standin BR --id 2                 # ecs pass
start_standin BRS --id 3                # ecs strip (control)
start_standin SLOW --id 4 --mode delay --delay-ms 150  # ecs pass, for coalescing
start_standin SLOWS --id 5 --mode delay --delay-ms 150 # ecs strip (control)
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 4, "query_timeout_ms": 2500 },
  "upstreams": {
    "hq":           { "servers": ["127.0.0.1:$HQ"], "ecs": "strip" },
    "branch":       { "servers": ["127.0.0.1:$BR"], "ecs": "pass" },
    "branch-strip": { "servers": ["127.0.0.1:$BRS"], "ecs": "strip" },
    "slow":         { "servers": ["127.0.0.1:$SLOW"], "ecs": "pass", "max_fails": 100 },
    "slow-strip":   { "servers": ["127.0.0.1:$SLOWS"], "ecs": "strip", "max_fails": 100 }
  },
  "routes": [
    { "domains": ["pass.test"], "via": ["hq", "branch"] },
    { "domains": ["strip.test"], "via": ["hq", "branch-strip"] },
    { "domains": ["copass.test"], "via": ["hq", "slow"] },
    { "domains": ["costrip.test"], "via": ["hq", "slow-strip"] }
  ],
  "default": "branch-strip"
}
JSON
start_erdns "$W/erdns.json"
count() { grep -c " $2 A" "$1"; }

# --- cache: two clients one after the other -----------------------------------
check_eq "client 198.51.100.0/24: answered by the second group" "192.0.2.2" \
	"$(qs +subnet=198.51.100.0/24 x.pass.test)"
check_eq "client 203.0.113.0/24: answered" "192.0.2.2" "$(qs +subnet=203.0.113.0/24 x.pass.test)"
check_eq "ecs pass on a later group: the first client's answer was not cached for the second (branch asked twice)" \
	2 "$(count "$BR_LOG" x.pass.test)"
check_has "the first client's own subnet went to the pass group" \
	"x.pass.test A ecs=198.51.100.0/24" "$(cat "$BR_LOG")"
check_has "the second client's own subnet went to the pass group" \
	"x.pass.test A ecs=203.0.113.0/24" "$(cat "$BR_LOG")"
check_lacks "the strip group never saw a subnet" "ecs=" "$(cat "$HQ_LOG")"

# Control: every group strips, so the answer is cached for everyone.
check_eq "all-strip chain: client 1 answered" "192.0.2.3" "$(qs +subnet=198.51.100.0/24 x.strip.test)"
check_eq "all-strip chain: client 2 answered" "192.0.2.3" "$(qs +subnet=203.0.113.0/24 x.strip.test)"
check_eq "all-strip chain: the answer was cached (one upstream query)" 1 "$(count "$BRS_LOG" x.strip.test)"
check_lacks "all-strip chain: no subnet left" "ecs=" "$(cat "$BRS_LOG")"

# --- coalescing: two clients at once -------------------------------------------
# Two queries with different subnets from ONE UDP socket (the same 4-tuple,
# so SO_REUSEPORT hands both to the same worker), the second sent while the
# first waits on the 150 ms upstream (well inside the 400 ms
# first-attempt timeout, so no retransmission muddles the counts). Prints "ID:rcode:last-A" per answer.
pair() { # NAME
	python3 - "$PORT" "$1" <<'PY'
import select, socket, struct, sys, time
port, name = int(sys.argv[1]), sys.argv[2]
qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
def query(qid, subnet):
    a, b, c, _ = (int(x) for x in subnet.split("."))
    ecs = struct.pack("!HBB", 1, 24, 0) + bytes([a, b, c])
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 4 + len(ecs)) + struct.pack("!HH", 8, len(ecs)) + ecs
    return struct.pack("!HHHHHH", qid, 0x100, 1, 0, 0, 1) + qname + struct.pack("!HH", 1, 1) + opt
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(query(4101, "198.51.100.0"), ("127.0.0.1", port))
time.sleep(0.03)
s.sendto(query(4102, "203.0.113.0"), ("127.0.0.1", port))
got, deadline = {}, time.time() + 4
while len(got) < 2 and time.time() < deadline:
    r, _, _ = select.select([s], [], [], 0.2)
    if r:
        d = s.recv(4096)
        i = d.find(b"\x00\x01\x00\x01\x00\x00", 12 + len(qname) + 4)  # an A/IN record
        addr = ".".join(str(x) for x in d[i + 10:i + 14]) if i > 0 else "-"
        got[struct.unpack("!H", d[:2])[0]] = "%d:%d:%s" % (struct.unpack("!H", d[:2])[0], d[3] & 15, addr)
print(" ".join(got[k] for k in sorted(got)))
PY
}
check_eq "pass chain: both concurrent clients answered" "4101:0:192.0.2.4 4102:0:192.0.2.4" "$(pair y.copass.test)"
check_ge "ecs pass on a later group: concurrent clients not coalesced (upstream queries)" \
	"$(count "$SLOW_LOG" y.copass.test)" 2
check_has "each concurrent client's own subnet went upstream (1)" \
	"y.copass.test A ecs=198.51.100.0/24" "$(cat "$SLOW_LOG")"
check_has "each concurrent client's own subnet went upstream (2)" \
	"y.copass.test A ecs=203.0.113.0/24" "$(cat "$SLOW_LOG")"

# Control: every group strips, so the two share one upstream query.
check_eq "all-strip chain: both concurrent clients answered" "4101:0:192.0.2.5 4102:0:192.0.2.5" "$(pair y.costrip.test)"
check_eq "all-strip chain: concurrent clients coalesced (one upstream query)" 1 "$(count "$SLOWS_LOG" y.costrip.test)"

stop_erdns
finish
