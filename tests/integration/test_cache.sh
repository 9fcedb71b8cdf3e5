#!/usr/bin/env bash
# The cache through the real binary (SPEC 3, issue 4), against stand-ins that
# count queries: hit after miss, TTL decrement, negative caching, coalescing
# of identical in-flight questions, route-partitioned answers, serve-stale
# with EDE 3 once the upstream stops answering, fallback TTL cap, prefetch.
. "$(dirname "$0")/lib.sh"

echo answer >"$W/mode-up"
start_standin UP --id 2 --mode-file "$W/mode-up"
start_standin HQ --id 1
start_standin SLOW --id 4 --mode delay --delay-ms 250
start_standin DEAD --id 9 --mode silent
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 1, "allow": ["127.0.0.0/8"],
              "query_timeout_ms": 1500 },
  "upstreams": {
    "branch": { "servers": ["127.0.0.1:$UP"] },
    "hq":     { "servers": ["127.0.0.1:$HQ"] },
    "slow":   { "servers": ["127.0.0.1:$SLOW"] },
    "dead":   { "servers": ["127.0.0.1:$DEAD"], "max_fails": 100 }
  },
  "routes": [
    { "domains": ["slow.test"], "via": "slow" },
    { "domains": ["fb.test"], "via": ["dead", "branch"] }
  ],
  "views": [ { "name": "pilot", "clients": ["127.0.0.2/32"],
               "routes": [ { "domains": ["office.test"], "via": "hq" } ] } ],
  "cache": { "max_ttl_s": 5, "serve_stale_s": 3600, "fallback_ttl_s": 2, "max_negative_ttl_s": 30 }
}
JSON
start_erdns "$W/erdns.json"
count() { grep -c " $1 " "$UP_LOG"; }

# Hit after miss.
check_eq "miss: answered" "192.0.2.2" "$(qs www.example.org)"
check_eq "hit: same answer" "192.0.2.2" "$(qs www.example.org)"
check_eq "hit: asked upstream once" 1 "$(count www.example.org)"
check_eq "hit: case-insensitive key" "192.0.2.2" "$(qs WWW.Example.ORG)"
check_eq "case variant did not go upstream" 1 "$(grep -ci " www.example.org " "$UP_LOG")"
check_has "hit: question case echoed" ";WWW.Example.ORG." "$(q WWW.Example.ORG)"
check_eq "different type is another entry" "2001:db8::2" "$(qs AAAA www.example.org)"

# TTL decrement (the stand-in's A TTL is 60, clamped to max_ttl_s 5).
ttl1=$(q +noall +answer ttl.example.org | awk '{print $2}')
sleep 2.2
ttl2=$(q +noall +answer ttl.example.org | awk '{print $2}')
check_eq "first answer: the upstream's TTL (60) as relayed" 60 "$ttl1"
check_le "cached TTL clamped to max_ttl_s and decremented by >= 2 s" "$ttl2" 3
check_le "cached TTL never grows" "$ttl2" "$ttl1"
check_eq "still one upstream query" 1 "$(count ttl.example.org)"

# Negative caching (RFC 2308): the stand-in's SOA minimum is 60, capped at 30.
q nx-a.example.org >/dev/null
out=$(q nx-a.example.org)
check_has "NXDOMAIN from the cache" "status: NXDOMAIN" "$out"
check_eq "NXDOMAIN asked upstream once" 1 "$(count nx-a.example.org)"
soa_ttl=$(echo "$out" | awk '/IN SOA/ {print $2}')
check_le "negative TTL capped by max_negative_ttl_s" "$soa_ttl" 30
q nodata1.example.org >/dev/null
q nodata1.example.org >/dev/null
check_eq "NODATA cached" 1 "$(count nodata1.example.org)"

# Coalescing: 30 identical questions sent at once from 30 sockets (one
# process, so they really are concurrent), one upstream query.
answered=$(python3 - "$PORT" <<'PY'
import select, socket, struct, sys, time
port = int(sys.argv[1])
name = b"".join(bytes([len(l)]) + l.encode() for l in "same.slow.test".split(".")) + b"\0"
socks = []
for i in range(30):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(struct.pack("!HHHHHH", 100 + i, 0x100, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1),
             ("127.0.0.1", port))
    socks.append(s)
got, deadline = 0, time.time() + 4
while socks and time.time() < deadline:
    ready, _, _ = select.select(socks, [], [], 0.2)
    for s in ready:
        data = s.recv(4096)
        if data[-4:] == bytes([192, 0, 2, 4]):
            got += 1
        socks.remove(s)
print(got)
PY
)
check_eq "30 concurrent identical queries all answered" 30 "$answered"
check_eq "one upstream query for all 30" 1 "$(grep -c ' same.slow.test ' "$SLOW_LOG")"

# Route-partitioned: the pilot view sends office.test to hq, others to branch.
check_eq "branch path answer" "192.0.2.2" "$(qs www.office.test)"
check_eq "pilot path answer (not the branch's cached one)" "192.0.2.1" "$(qs -b 127.0.0.2 www.office.test)"
check_eq "branch path answer still cached" "192.0.2.2" "$(qs www.office.test)"
check_eq "branch asked once" 1 "$(count www.office.test)"

# Fallback answers are cached for at most fallback_ttl_s (2).
check_has "fallback group answered" "192.0.2.2" "$(q +noall +answer x.fb.test)"
fb_ttl=$(q +noall +answer x.fb.test | awk '{print $2}')
check_le "fallback answer's cached TTL capped at fallback_ttl_s" "$fb_ttl" 2

# Prefetch: an entry asked for in the last 10% of its 5 s life is refreshed
# in the background; the client still gets the cached answer at once.
t0=$(now_ms)
qs pf.example.org >/dev/null
sleep 4.6
check_eq "near expiry: answered from the cache" "192.0.2.2" "$(qs pf.example.org)"
sleep 0.3
check_eq "prefetch asked upstream in the background" 2 "$(count pf.example.org)"
sleep 0.5 # past the first entry's expiry: the refreshed one answers
check_eq "after the old expiry: still a hit (refreshed entry)" "192.0.2.2" "$(qs pf.example.org)"
check_eq "no third upstream query" 2 "$(count pf.example.org)"

# Serve-stale (RFC 8767): an entry expires, then the upstream goes silent.
qs zz.example.org >/dev/null
sleep 5.2
echo silent >"$W/mode-up"
t0=$(now_ms)
out=$(q zz.example.org)
t1=$(now_ms)
check_has "stale answer served when the whole chain fails" "192.0.2.2" "$out"
check_has "with EDE 3 (Stale Answer)" "EDE: 3" "$out"
check_has "stale answer's TTL is 30 (RFC 8767)" "zz.example.org. 30 IN A" "$(echo "$out" | tr -s '\t ' ' ')"
check_le "served within query_timeout_ms (ms)" $((t1 - t0)) 1900
out=$(q never-seen.example.org)
check_has "no stale entry: SERVFAIL" "status: SERVFAIL" "$out"
check_has "with EDE 22" "EDE: 22" "$out"
echo answer >"$W/mode-up"

stop_erdns
finish
