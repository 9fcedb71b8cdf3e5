#!/usr/bin/env bash
# GET /metrics (SPEC 4) through the real binary with two workers, against
# stand-ins: every family moves as a scripted run says it must. Cache hits,
# misses and a stale answer; a failover from a silent first group, the
# server marked down after max_fails and up again; per-upstream queries,
# timeouts, error rcodes and the RTT histogram; a client outside `allow`;
# malformed queries; the in-flight gauge; reloads (good and bad); the age
# and version of an imported Microsoft 365 list.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_metrics.sh"
RAW="python3 $SRCDIR/tests/integration/rawdns.py"

start_standin BR --id 2
echo silent >"$W/mode-hq"
start_standin HQ --id 1 --mode-file "$W/mode-hq"
echo answer >"$W/mode-st"
start_standin ST --id 3 --mode-file "$W/mode-st"
start_standin SF --id 7 --mode servfail
start_standin SLOW --id 4 --mode delay --delay-ms 1000
cp "$SRCDIR/tests/fixtures/m365/small.json" "$W/small.json" # never the fixture itself
PORT=$(free_port)
MPORT=$(free_port)
config() {
	cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2, "allow": ["127.0.0.1/32"],
              "query_timeout_ms": 1500 },
  "upstreams": {
    "branch": { "servers": ["127.0.0.1:$BR"] },
    "hq":     { "servers": ["127.0.0.1:$HQ"], "max_fails": 2, "probe_interval_ms": 300 },
    "st":     { "servers": ["127.0.0.1:$ST"], "max_fails": 100 },
    "bad":    { "servers": ["127.0.0.1:$SF"] },
    "slow":   { "servers": ["127.0.0.1:$SLOW"] }
  },
  "routes": [
    { "domains": ["chain.test"], "via": ["hq", "branch"] },
    { "domains": ["stale.test"], "via": "st" },
    { "domains": ["sf.test"], "via": "$1" },
    { "domains": ["slow.test"], "via": "slow" },
    { "m365": { "file": "small.json" }, "via": "branch" }
  ],
  "default": "branch",
  "cache": { "max_ttl_s": 1, "serve_stale_s": 3600 },
  "metrics": { "listen": "127.0.0.1:$MPORT" }
}
JSON
}
config bad
t_start=$(date +%s)
start_erdns "$W/erdns.json"
HQS="server=127.0.0.1:$HQ" BRS="server=127.0.0.1:$BR" SFS="server=127.0.0.1:$SF"

out=$(curl -s -D "$W/headers" --max-time 5 "http://127.0.0.1:$MPORT/metrics")
check_has "GET /metrics: 200" "HTTP/1.1 200" "$(head -1 "$W/headers")"
check_has "text format 0.0.4" "Content-Type: text/plain; version=0.0.4" "$(cat "$W/headers")"
check_has "build info" 'erdns_build_info{version="' "$out"
start_s=$(echo "$out" | $PROM erdns_start_time_seconds)
check_le "start time is this run's" "$t_start" "${start_s%.*}"
check_eq "no reload yet" 0 "$(echo "$out" | $PROM erdns_reloads_total result=ok)"
check_eq "every upstream up" 5 "$(echo "$out" | $PROM erdns_upstream_up)"
expect_ge "the readiness probe was a CHAOS answer" 1 erdns_chaos_answers_total
expect_ge "... labelled route=chaos" 1 erdns_answers_total route=chaos cache=local

# Cache: a miss, then a hit (max_ttl_s 1: both within the second, so both
# questions are sent by one dig, one right after the other).
miss=$(num erdns_answers_total route=default cache=miss)
hit=$(num erdns_answers_total route=default cache=hit)
lk_hit=$(num erdns_cache_lookups_total result=hit)
lk_miss=$(num erdns_cache_lookups_total result=miss)
udp_a=$(num erdns_queries_total transport=udp qtype=A)
check_eq "miss, then hit: both answered" "192.0.2.2 192.0.2.2" "$(qs www.example.org www.example.org)"
expect "answers_total{cache=miss} +1" $((miss + 1)) erdns_answers_total route=default cache=miss
expect "answers_total{cache=hit} +1" $((hit + 1)) erdns_answers_total route=default cache=hit
expect "answers_total NOERROR from the cache" $((hit + 1)) erdns_answers_total route=default rcode=NOERROR cache=hit
expect "cache lookups hit +1" $((lk_hit + 1)) erdns_cache_lookups_total result=hit
expect_ge "cache lookups miss +1" $((lk_miss + 1)) erdns_cache_lookups_total result=miss
expect_ge "cache entries" 1 erdns_cache_entries
expect_ge "cache inserts" 1 erdns_cache_inserts_total
expect_ge "cache bytes" 1 erdns_cache_bytes
expect "queries{udp,A} +2" $((udp_a + 2)) erdns_queries_total transport=udp qtype=A
aaaa=$(num erdns_queries_total transport=udp qtype=AAAA)
tcp=$(num erdns_queries_tcp_total)
qs AAAA www.example.org >/dev/null
qs +tcp tcp.example.org >/dev/null
expect "queries{udp,AAAA} +1" $((aaaa + 1)) erdns_queries_total transport=udp qtype=AAAA
expect "queries_tcp_total +1" $((tcp + 1)) erdns_queries_tcp_total
expect_ge "queries{tcp,A}" 1 erdns_queries_total transport=tcp qtype=A

# RTT histogram of the branch server: cumulative, +Inf = count, a sum.
count=$(num erdns_upstream_rtt_seconds_count "$BRS")
check_le "RTT samples for branch" 3 "$count"
check_eq "+Inf bucket = count" "$count" "$(num erdns_upstream_rtt_seconds_bucket "$BRS" le=+Inf)"
b1=$(num erdns_upstream_rtt_seconds_bucket "$BRS" le=0.005)
b2=$(num erdns_upstream_rtt_seconds_bucket "$BRS" le=0.1)
check_le "buckets are cumulative (5 ms <= 100 ms)" "$b1" "$b2"
check_le "buckets are cumulative (100 ms <= +Inf)" "$b2" "$count"
sum=$(val erdns_upstream_rtt_seconds_sum "$BRS")
awk -v s="$sum" 'BEGIN { exit !(s > 0 && s < 1) }' && ok "RTT sum in seconds ($sum)" ||
	not_ok "RTT sum in seconds: $sum"
check_le "per-upstream queries for branch" 3 "$(num erdns_upstream_queries_total "$BRS")"

# Failover: hq is silent, so chain.test is answered by branch.
fo=$(num erdns_failovers_by_chain_total chain=hq,branch from=hq to=branch)
fb=$(num erdns_forwarded_answers_total chain=hq,branch path=fallback)
check_eq "failover answer from branch" "192.0.2.2" "$(qs a.chain.test)"
expect "failovers_by_chain +1" $((fo + 1)) erdns_failovers_by_chain_total chain=hq,branch from=hq to=branch
expect "forwarded_answers{path=fallback} +1" $((fb + 1)) erdns_forwarded_answers_total chain=hq,branch path=fallback
expect "forwarded_answers{path=first} still 0" 0 erdns_forwarded_answers_total chain=hq,branch path=first
expect_ge "failovers_total" 1 erdns_failovers_total
expect_ge "hq: attempts counted" 1 erdns_upstream_queries_total "$HQS"
expect_ge "hq: timeouts counted" 1 erdns_upstream_timeouts_by_server_total "$HQS"
# max_fails 2: bounded, until hq is marked down (all workers share it).
for i in 1 2 3 4 5 6; do
	[ "$(num erdns_upstream_up "$HQS")" = 0 ] && break
	qs b$i.chain.test >/dev/null
done
expect "hq marked down: up=0" 0 erdns_upstream_up "$HQS"
expect "hq: marked_down_total 1 (once, whichever worker saw it)" 1 erdns_upstream_marked_down_total "$HQS"
expect "servers_down_total 1" 1 erdns_servers_down_total
expect "branch still up" 1 erdns_upstream_up "$BRS"
# hq answers again: the prober (every 300 ms, backing off) marks it up.
echo answer >"$W/mode-hq"
for _ in $(seq 100); do
	[ "$(num erdns_upstream_up "$HQS")" = 1 ] && break
	sleep 0.1
done
expect "hq marked up again: up=1" 1 erdns_upstream_up "$HQS"
expect "hq: marked_up_total 1" 1 erdns_upstream_marked_up_total "$HQS"
expect_ge "probes sent while down" 1 erdns_probes_sent_total
first=$(num erdns_forwarded_answers_total chain=hq,branch path=first)
check_eq "hq answers its chain again" "192.0.2.1" "$(qs c.chain.test)"
expect "forwarded_answers{path=first} +1" $((first + 1)) erdns_forwarded_answers_total chain=hq,branch path=first

# Error rcodes: the servfail stand-in is counted per address, stays up.
err=$(num erdns_upstream_error_rcodes_total "$SFS" rcode=SERVFAIL)
sf_all=$(num erdns_upstream_servfail_total)
sf_ans=$(num erdns_answers_total route=2 rcode=SERVFAIL)
check_eq "SERVFAIL upstream: SERVFAIL" "SERVFAIL" "$(qstatus x.sf.test)"
expect "error_rcodes{SERVFAIL} +1" $((err + 1)) erdns_upstream_error_rcodes_total "$SFS" rcode=SERVFAIL
expect "upstream_servfail_total +1" $((sf_all + 1)) erdns_upstream_servfail_total
expect "answers{route=2,SERVFAIL} +1" $((sf_ans + 1)) erdns_answers_total route=2 rcode=SERVFAIL
expect "error_rcodes{REFUSED} 0" 0 erdns_upstream_error_rcodes_total "$SFS" rcode=REFUSED
expect "a SERVFAIL server is not marked down" 1 erdns_upstream_up "$SFS"

# Stale: an expired entry, then its upstream goes silent (RFC 8767).
st=$(num erdns_stale_sent_total)
st_ans=$(num erdns_answers_total route=1 cache=stale)
st_lk=$(num erdns_cache_lookups_total result=stale)
qs z.stale.test >/dev/null
sleep 1.3
echo silent >"$W/mode-st"
check_has "stale answer with EDE 3" "EDE: 3" "$(q z.stale.test)"
expect "stale_sent_total +1" $((st + 1)) erdns_stale_sent_total
expect "answers{route=1,cache=stale} +1" $((st_ans + 1)) erdns_answers_total route=1 cache=stale
expect "cache lookups stale +1" $((st_lk + 1)) erdns_cache_lookups_total result=stale
expect_ge "timeouts for the silent server" 1 erdns_upstream_timeouts_by_server_total "server=127.0.0.1:$ST"
echo answer >"$W/mode-st"

# A client outside `allow`, and malformed queries.
acl=$(num erdns_refused_acl_total)
refused=$(num erdns_answers_total route=none rcode=REFUSED cache=local)
check_has "127.0.0.2 refused" "status: REFUSED" "$(q -b 127.0.0.2 www.example.org)"
expect "refused_acl_total +1" $((acl + 1)) erdns_refused_acl_total
expect "answers{route=none,REFUSED,local} +1" $((refused + 1)) erdns_answers_total route=none rcode=REFUSED cache=local
mal=$(num erdns_malformed_dropped_total)
fe=$(num erdns_formerr_sent_total)
check_eq "5-byte datagram dropped" "no-reply" "$(timeout 5 $RAW "$PORT" short)"
check_eq "QDCOUNT=2: FORMERR" 1 "$(timeout 5 $RAW "$PORT" formerr)"
expect "malformed_dropped_total +1" $((mal + 1)) erdns_malformed_dropped_total
expect "formerr_sent_total +1" $((fe + 1)) erdns_formerr_sent_total

# In flight: a query waiting for the 1000 ms stand-in (500 ms under the
# 1500 ms query and upstream timeouts, and a 1 s window for the polled
# scrape on a loaded machine).
expect "nothing in flight" 0 erdns_inflight
qs x.slow.test >"$W/slow.out" &
slow=$!
expect_ge "in flight while the slow upstream works" 1 erdns_inflight
wait $slow
check_eq "slow answer" "192.0.2.4" "$(cat "$W/slow.out")"
expect "nothing in flight again" 0 erdns_inflight

# M365 list: age from the file's mtime, version from LIST.version.
check_eq "no version file: no version_info" none "$(val erdns_m365_list_version_info)"
touch -d "@$(($(date +%s) - 864000))" "$W/small.json"
age=$(num erdns_m365_list_age_seconds view="-" route="4")
check_le "list age >= 10 days" 864000 "$age"
check_le "list age ~ 10 days" "$age" 864010
check_has "file label" "small.json" "$(scrape | $PROM labels erdns_m365_list_age_seconds file)"
echo 2026033100 >"$W/small.json.version"
expect "version_info from small.json.version" 1 erdns_m365_list_version_info view="-" route="4" version=2026033100

# Reloads: good, bad, good; counters survive them.
answers=$(num erdns_answers_total)
t_hup=$(date +%s)
config bad
kill -HUP "$ERDNS_PID"
expect "reloads{ok} 1" 1 erdns_reloads_total result=ok
last=$(num erdns_config_last_reload_success_timestamp_seconds)
check_le "last good load: the reload's time" "$t_hup" "${last%.*}"
config nope
kill -HUP "$ERDNS_PID"
expect "reloads{failed} 1" 1 erdns_reloads_total result=failed
check_eq "a failed reload keeps the last good time" "$last" "$(num erdns_config_last_reload_success_timestamp_seconds)"
config branch
kill -HUP "$ERDNS_PID"
expect "reloads{ok} 2" 2 erdns_reloads_total result=ok
check_le "counters survive reloads" "$answers" "$(num erdns_answers_total)"
check_eq "sf.test follows the new routes" "192.0.2.2" "$(qs y.sf.test)"

# The plain counters and the labelled families count the same events, but
# for health probes (in the plain upstream counters, not per address) and
# datagrams dropped before a question was read (in queries_udp_total only).
out=$(scrape)
p() { echo "$out" | $PROM "$@"; }
check_eq "upstream_attempts_total = sum of upstream_queries_total + probes_sent_total" \
	"$(p erdns_upstream_attempts_total)" \
	"$(($(p erdns_upstream_queries_total) + $(p erdns_probes_sent_total)))"
t_all=$(p erdns_upstream_timeouts_total) t_srv=$(p erdns_upstream_timeouts_by_server_total)
check_le "timeouts by server <= upstream_timeouts_total" "$t_srv" "$t_all"
check_le "upstream_timeouts_total <= timeouts by server + probes" "$t_all" \
	"$((t_srv + $(p erdns_probes_sent_total)))"
check_eq "servers_down_total = sum of upstream_marked_down_total" \
	"$(p erdns_servers_down_total)" "$(p erdns_upstream_marked_down_total)"
check_eq "servers_up_total = sum of upstream_marked_up_total" \
	"$(p erdns_servers_up_total)" "$(p erdns_upstream_marked_up_total)"
check_eq "cache_answers_total = answers{cache=hit}" \
	"$(p erdns_cache_answers_total)" "$(p erdns_answers_total cache=hit)"
check_eq "stale_sent_total = answers{cache=stale}" \
	"$(p erdns_stale_sent_total)" "$(p erdns_answers_total cache=stale)"
check_eq "queries_udp_total + queries_tcp_total = sum of queries_total + malformed_dropped_total" \
	"$(($(p erdns_queries_udp_total) + $(p erdns_queries_tcp_total)))" \
	"$(($(p erdns_queries_total) + $(p erdns_malformed_dropped_total)))"
check_eq "every query answered once: sum of answers_total = sum of queries_total" \
	"$(p erdns_queries_total)" "$(p erdns_answers_total)"

stop_erdns
finish
