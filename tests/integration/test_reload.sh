#!/usr/bin/env bash
# Reload (SPEC 3): SIGHUP loads and validates the new config completely; a
# bad one leaves the old in force (and says so); a good one is swapped in
# without losing queries in flight or closing listeners.
. "$(dirname "$0")/lib.sh"

start_standin HQ --id 1
start_standin BR --id 2
start_standin SLOW --id 4 --mode delay --delay-ms 800
start_standin DEAD --id 9 --mode silent
PORT=$(free_port)
config() { # identity group-for-x.example
	cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2, "identity": "$1" },
  "upstreams": {
    "hq": { "servers": ["127.0.0.1:$HQ"] },
    "branch": { "servers": ["127.0.0.1:$BR"] },
    "slow": { "servers": ["127.0.0.1:$SLOW"] },
    "dead": { "servers": ["127.0.0.1:$DEAD"], "max_fails": 1, "probe_interval_ms": 30000 }
  },
  "routes": [ { "domains": ["x.example"], "via": "$2" }, { "domains": ["slow.example"], "via": "slow" },
              { "domains": ["d.example"], "via": ["dead", "hq"] } ]
}
JSON
}
config before hq
start_erdns "$W/erdns.json"
check_eq "before reload: x.example via hq" "192.0.2.1" "$(qs x.example)"
# threads: 2 -- mark the dead server down on both workers (bounded).
for i in 1 2 3 4 5 6; do
	[ "$(grep -c 'marked down' "$W/erdns.log")" -ge 2 ] && break
	qs q$i.d.example >/dev/null
done
dead_before=$(standin_count "$DEAD_LOG")

# Queries in flight across the reload: 6 slow ones over UDP and TCP.
digs=()
for i in 1 2 3; do
	qs a$i.slow.example >"$W/inflight-udp-$i" &
	digs+=($!)
	qs +tcp b$i.slow.example >"$W/inflight-tcp-$i" &
	digs+=($!)
done
sleep 0.2
config after branch
kill -HUP "$ERDNS_PID"
wait_for_log() { # pattern; bounded 50 x 0.1 s
	for _ in $(seq 50); do grep -q "$1" "$W/erdns.log" && return 0; sleep 0.1; done
	return 1
}
wait_for_log "configuration reloaded" && ok "reload logged" || not_ok "reload not logged"
check_has "routes changed: the cache (keyed by chain) was flushed" "cache entries flushed" "$(cat "$W/erdns.log")"
check_eq "after reload: x.example via branch, not hq's cached answer" "192.0.2.2" "$(qs x.example)"
check_eq "after reload: new identity" '"after"' "$(qs -c CH -t TXT id.server)"
for i in 1 2 3 4; do qs r$i.d.example >/dev/null; done
check_eq "after reload: a server marked down stays down (health carried over)" "$dead_before" "$(standin_count "$DEAD_LOG")"
wait "${digs[@]}"
answered=0
for f in "$W"/inflight-*; do [ "$(cat "$f")" = "192.0.2.4" ] && answered=$((answered + 1)); done
check_eq "every query in flight during the reload was answered" 6 "$answered"

# A broken config is refused; the running one stays.
config broken nope
kill -HUP "$ERDNS_PID"
wait_for_log "reload failed, keeping the running configuration" && ok "bad reload refused and logged" || not_ok "bad reload not logged"
check_has "the log names the problem" 'unknown upstream group "nope"' "$(cat "$W/erdns.log")"
check_eq "old config still in force" "192.0.2.2" "$(qs x.example)"
check_eq "TCP listener still open" "192.0.2.2" "$(qs +tcp x.example)"

stop_erdns
finish
