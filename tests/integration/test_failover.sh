#!/usr/bin/env bash
# Failover (SPEC 2.1): a silent first group hands over to the next group of
# the chain within 1 s of arrival; a SERVFAIL/REFUSED server is skipped for
# the next one; a known-down server is skipped at once; an all-dead chain
# answers SERVFAIL with EDE 22 within query_timeout_ms.
. "$(dirname "$0")/lib.sh"

start_standin DEAD --id 9 --mode silent
start_standin DEAD2 --id 8 --mode silent
start_standin SF --id 7 --mode servfail
start_standin RF --id 6 --mode refused
start_standin GOOD --id 2
start_standin SLOW --id 4 --mode delay --delay-ms 300
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 1, "query_timeout_ms": 2000 },
  "upstreams": {
    "hq":     { "servers": ["127.0.0.1:$DEAD", "127.0.0.1:$DEAD2"], "select": "ordered", "max_fails": 2 },
    "bad":    { "servers": ["127.0.0.1:$SF", "127.0.0.1:$RF", "127.0.0.1:$GOOD"], "select": "ordered" },
    "dead":   { "servers": ["127.0.0.1:$DEAD"], "max_fails": 2 },
    "slow":   { "servers": ["127.0.0.1:$SLOW"] },
    "branch": { "servers": ["127.0.0.1:$GOOD"] }
  },
  "routes": [
    { "domains": ["chain.example"], "via": ["hq", "branch"] },
    { "domains": ["sf.example"], "via": "bad" },
    { "domains": ["dead.example"], "via": "dead" },
    { "domains": ["slow.example"], "via": "slow" }
  ],
  "default": "branch"
}
JSON
start_erdns "$W/erdns.json"

t0=$(now_ms)
ans=$(qs a.chain.example)
t1=$(now_ms)
check_eq "silent first group: answer from the next group" "192.0.2.2" "$ans"
check_le "failover to the next group within 1 s of arrival (ms)" $((t1 - t0)) 1000
check_eq "both silent servers were tried first" 2 $(($(standin_count "$DEAD_LOG") >= 1 && $(standin_count "$DEAD2_LOG") >= 1 ? 2 : 0))

# After max_fails the dead servers are known down: skipped at once. (Each
# query spends at most the 800 ms group budget on them, so it takes a few
# queries before both have failed max_fails times.)
for i in 1 2 3 4 5 6; do
	[ "$(grep -c 'marked down' "$W/erdns.log")" -ge 2 ] && break
	qs b$i.chain.example >/dev/null
done
check_eq "both silent servers marked down" 2 "$(grep -c 'marked down' "$W/erdns.log")"
# queries for c.chain.example only: the prober's ". NS" probes may land in between
t0=$(now_ms)
ans=$(qs c.chain.example)
t1=$(now_ms)
check_eq "known-down group: answer from the next group" "192.0.2.2" "$ans"
check_le "known-down servers skipped at once (ms)" $((t1 - t0)) 400
check_eq "no attempt sent to a known-down server" 0 "$(grep -c 'c.chain.example' "$DEAD_LOG")"

ans=$(qs x.sf.example)
check_eq "SERVFAIL and REFUSED servers are skipped for the next one" "192.0.2.2" "$ans"
check_eq "the SERVFAIL server was asked" 1 "$(standin_count "$SF_LOG")"
check_eq "the REFUSED server was asked" 1 "$(standin_count "$RF_LOG")"

t0=$(now_ms)
out=$(q x.dead.example)
t1=$(now_ms)
check_has "all dead: SERVFAIL" "status: SERVFAIL" "$out"
check_has "with EDE 22 (No Reachable Authority)" "EDE: 22" "$out"
check_le "within query_timeout_ms (2000 ms + slack)" $((t1 - t0)) 2300

check_eq "a slow (300 ms) server is waited for" "192.0.2.4" "$(qs x.slow.example)"

stop_erdns
finish
