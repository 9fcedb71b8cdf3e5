#!/usr/bin/env bash
# Upstream health and RTT belong to the server's address, shared by all
# worker threads (SPEC 2.1 "Health"): a server marked down is skipped by
# every worker from then on, after max_fails failures in total (not per
# worker), and a `fastest` group converges once for the whole server, not
# once per worker. Four workers on purpose: each dig runs from its own
# source port, so SO_REUSEPORT spreads the queries over the workers.
. "$(dirname "$0")/lib.sh"

start_standin DEAD --id 9 --mode silent
start_standin GOOD --id 2
start_standin SLOW --id 4 --mode delay:40
start_standin FAST --id 5
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 4 },
  "upstreams": {
    "hq":     { "servers": ["127.0.0.1:$DEAD", "127.0.0.1:$GOOD"], "select": "ordered",
                "max_fails": 3 },
    "fast":   { "servers": ["127.0.0.1:$SLOW", "127.0.0.1:$FAST"], "select": "fastest" },
    "branch": { "servers": ["127.0.0.1:$GOOD"] }
  },
  "routes": [
    { "domains": ["hq.test"], "via": "hq" },
    { "domains": ["fast.test"], "via": "fast" }
  ],
  "default": "branch"
}
JSON
start_erdns "$W/erdns.json"

# check_ge DESCRIPTION VALUE MIN
check_ge() {
	if [ "$2" -ge "$3" ]; then ok "$1 ($2 >= $3)"; else not_ok "$1: $2 < $3"; fi
}
# count_names LOG SUFFIX: queries for names under SUFFIX in a stand-in log
# ("udp NAME TYPE"). Health probes ask ". NS" and never match.
count_names() { grep -c "^[a-z]* [a-z0-9.-]*\.$2 " "$1"; }

# --- a) ordered: DEAD is silent, marked down once for all workers ------------
# Each query waits for DEAD's attempt timeout (400 ms with no RTT yet,
# backing off to 800 and 1500 ms after timeouts), then GOOD answers. Shared health: after max_fails = 3 failed attempts in all,
# DEAD is down for every worker, so at most 3 client queries reach it.
# Per-worker health: every worker spends its own 3 (about 12 in all) and
# logs its own "marked down".
t0=$(now_ms)
good=0
for i in $(seq 30); do
	[ "$(qs "h$i.hq.test")" = "192.0.2.2" ] && good=$((good + 1))
done
echo "ordered: 30 queries in $(($(now_ms) - t0)) ms"
check_eq "ordered: every query answered by GOOD" 30 "$good"
dead_q=$(count_names "$DEAD_LOG" hq.test)
echo "ordered: DEAD received $dead_q client queries" \
	"(and $(grep -c ' \. NS$' "$DEAD_LOG") probes)"
check_le "ordered: at most max_fails client queries reach DEAD (shared failure count)" \
	"$dead_q" 3
check_ge "ordered: DEAD was asked before it was marked down" "$dead_q" 1
check_eq "ordered: DEAD marked down exactly once (not once per worker)" 1 \
	"$(grep -c "127\.0\.0\.1:$DEAD[^0-9].*marked down" "$W/erdns.log")"

# --- b) fastest: one worker's RTT samples serve all workers ------------------
# SLOW (listed first) answers after 40 ms, FAST at once. Both start without
# an RTT (400 ms assumed, ties in configuration order), so SLOW is used
# until an exploration (5% of selections, select.h) samples FAST.
# The warm-up runs from ONE fixed source port: SO_REUSEPORT hashes the
# 4-tuple, so all 200 warm-up queries land on the same worker, which
# learns that FAST is faster. After a pause longer than the 100 ms merge
# period of SPEC 2.1, 40 queries from random source ports spread over all
# four workers: with shared RTT they go to FAST (bar explorations); with
# per-worker RTT the three other workers still sit on SLOW (about 30 of 40).
#
# Chance that correct code fails this by chance: the warm-up worker never
# explores in 200 selections, 0.95^200 = 3.5e-5, plus 8 or more of the 40
# last selections exploring SLOW, P(Binomial(40, 0.05) >= 8) = 7.1e-4:
# about 7.5e-4 in all (1 run in ~1300); a threshold of 32 would make it
# 1.6e-4. With per-worker RTT about 17 of the 40 reach FAST on average;
# the three cold workers all exploring early enough to reach 33 happens in
# ~0.9% of runs (Monte Carlo), so this check alone misses the defect that
# rarely, part a) never.
pin=$(free_port)
warm_ok=0
for i in $(seq 200); do
	ans=$(dig @127.0.0.1 -p "$PORT" -b "127.0.0.1#$pin" +tries=1 +time=4 +short "w$i.fast.test")
	case "$ans" in 192.0.2.4 | 192.0.2.5) warm_ok=$((warm_ok + 1)) ;; esac
done
check_eq "fastest: warm-up from one source port answered" 200 "$warm_ok"
check_ge "fastest: the warm-up worker sampled FAST (explored at least once)" \
	"$(count_names "$FAST_LOG" fast.test)" 1
sleep 0.5
fast_before=$(count_names "$FAST_LOG" fast.test)
slow_before=$(count_names "$SLOW_LOG" fast.test)
answered=0
for i in $(seq 40); do
	case "$(qs "t$i.fast.test")" in 192.0.2.4 | 192.0.2.5) answered=$((answered + 1)) ;; esac
done
check_eq "fastest: the 40 spread queries answered" 40 "$answered"
fast_n=$(($(count_names "$FAST_LOG" fast.test) - fast_before))
slow_n=$(($(count_names "$SLOW_LOG" fast.test) - slow_before))
echo "fastest: of 40 spread queries $fast_n went to FAST, $slow_n to SLOW"
check_ge "fastest: of 40 spread queries, those that reach FAST (RTT shared by workers)" "$fast_n" 33

stop_erdns
finish
