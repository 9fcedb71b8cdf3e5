#!/usr/bin/env bash
# The HTTP side of metrics.listen (SPEC 4): /health's three states as the
# upstreams fail, status codes for other paths and methods, promtool on a
# real scrape, 200 slow and idle clients that delay neither DNS answers nor
# a scrape (and the idle ones closed after the 10 s timeout), the per-address
# connection limit, /health during a stop, a bind error at start, IPv6.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_metrics.sh"
SLOW="python3 $SRCDIR/tests/integration/slowhttp.py"

for s in HQ1 HQ2 BR; do echo answer >"$W/mode-$s"; done
start_standin HQ1 --id 1 --mode-file "$W/mode-HQ1"
start_standin HQ2 --id 3 --mode-file "$W/mode-HQ2"
start_standin BR --id 2 --mode-file "$W/mode-BR"
PORT=$(free_port)
MPORT=$(free_port)
config() { # FILE DNS-PORT METRICS-LISTEN
	cat >"$1" <<JSON
{
  "server": { "listen": ["127.0.0.1:$2"], "threads": 2, "query_timeout_ms": 1500 },
  "upstreams": {
    "hq":     { "servers": ["127.0.0.1:$HQ1", "127.0.0.1:$HQ2"], "max_fails": 1,
                "probe_interval_ms": 30000, "timeout_ms": 300 },
    "branch": { "servers": ["127.0.0.1:$BR"], "max_fails": 1, "probe_interval_ms": 300,
                "timeout_ms": 300 }
  },
  "routes": [ { "domains": ["chain.test"], "via": ["hq", "branch"] } ],
  "default": "branch",
  "cache": { "max_ttl_s": 1, "serve_stale_s": 0 },
  "metrics": { "listen": "$3" }
}
JSON
}
config "$W/erdns.json" "$PORT" "127.0.0.1:$MPORT"
start_erdns "$W/erdns.json"
check_has "the log names the endpoint" "metrics: http://127.0.0.1:$MPORT/metrics" "$(cat "$W/erdns.log")"

# --- status codes ------------------------------------------------------------
code() { curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$@"; }
check_eq "GET /health: ok" "200 ok" "$(health)"
check_eq "GET /nothing: 404" 404 "$(code "http://127.0.0.1:$MPORT/nothing")"
check_eq "GET /: 404" 404 "$(code "http://127.0.0.1:$MPORT/")"
check_eq "POST /metrics: 405" 405 "$(code -X POST -d x=1 "http://127.0.0.1:$MPORT/metrics")"
check_eq "DELETE /health: 405" 405 "$(code -X DELETE "http://127.0.0.1:$MPORT/health")"
check_has "405 says what is allowed" "Allow: GET, HEAD" \
	"$(curl -s -D - -o /dev/null -X PUT --max-time 5 "http://127.0.0.1:$MPORT/metrics")"
check_eq "HEAD /health: 200" 200 "$(code -I "http://127.0.0.1:$MPORT/health")"
check_eq "GET /metrics?x=1: query strings are ignored" 200 "$(code "http://127.0.0.1:$MPORT/metrics?x=1")"
check_has "keep-alive: two requests, one connection" "Re-using existing connection" \
	"$(curl -sv -o /dev/null -o /dev/null --max-time 5 "http://127.0.0.1:$MPORT/health" \
		"http://127.0.0.1:$MPORT/metrics" 2>&1)"

# --- promtool on a real scrape, after some traffic -----------------------------
for i in 1 2 3; do qs w$i.example.org >/dev/null; qs c$i.chain.test >/dev/null; done
scrape >"$W/scrape.txt"
out=$(promtool check metrics <"$W/scrape.txt" 2>&1)
check_eq "promtool check metrics passes (exit 0, no complaint)" "0:" "$?:$out"

# --- /health's three states ----------------------------------------------------
# Every server of the hq chain's first group silent and marked down (max_fails
# 1): degraded, since the chain still answers from branch.
echo silent >"$W/mode-HQ1"
echo silent >"$W/mode-HQ2"
for i in 1 2 3 4 5 6; do
	[ "$(num erdns_upstream_up "server=127.0.0.1:$HQ1")$(num erdns_upstream_up "server=127.0.0.1:$HQ2")" = 00 ] && break
	qs d$i.chain.test >/dev/null
done
check_eq "hq's servers marked down" 0 "$(($(num erdns_upstream_up "server=127.0.0.1:$HQ1") + $(num erdns_upstream_up "server=127.0.0.1:$HQ2")))"
check_eq "the chain still answers from branch" "192.0.2.2" "$(qs e.chain.test)"
check_eq "first group down: degraded, 200" \
	"200 degraded: no reachable server in group hq, first of chain hq,branch" "$(health)"
# The default chain's only group down: down, 503.
echo silent >"$W/mode-BR"
for i in 1 2 3; do
	[ "$(num erdns_upstream_up "server=127.0.0.1:$BR")" = 0 ] && break
	qs x$i.example.org >/dev/null
done
check_eq "default chain unreachable: down, 503" \
	"503 down: no reachable server in any group of the default chain branch" "$(health)"
# branch answers again: the prober marks it up; hq stays down (30 s probes).
echo answer >"$W/mode-BR"
for _ in $(seq 50); do
	[ "$(health | cut -c1-3)" = 200 ] && break
	sleep 0.1
done
check_has "branch back: degraded again" "200 degraded: no reachable server in group hq" "$(health)"

# --- 200 slow or idle clients ----------------------------------------------------
# Baseline scrape times, then the same with 200 connections held open from 20
# addresses (10 each, below the per-address limit): 150 idle after half a
# request, 50 sending one header byte a second.
scrape_times() { # N: one curl -w time_total (seconds) per line
	for _ in $(seq "$1"); do
		curl -s -o /dev/null --max-time 5 -w '%{time_total}\n' "http://127.0.0.1:$MPORT/metrics"
	done
}
base=$(scrape_times 10 | sort -n | sed -n 5p)
$SLOW "$MPORT" 200 10 20 13 50 >"$W/slow.out" 2>&1 &
slow_pid=$!
BG_PIDS+=("$slow_pid")
for _ in $(seq 100); do grep -q '^connected' "$W/slow.out" && break; sleep 0.05; done
check_eq "200 clients connected" "connected 200" "$(head -1 "$W/slow.out")"
sleep 0.3
held=$(ss -Htn state established "sport = :$MPORT" | wc -l)
check_le "the server holds the 200 connections" 200 "$held"
# 20 scrapes: the 18th slowest must be within 100 ms of the baseline, and the
# 9th slowest of 10 DNS answers under 200 ms (an outlier or two is the 2-core
# machine's other jobs, not the endpoint); all printed. The sanitizer build
# (build-asan) is slower: both bounds doubled there.
slack=1
case "$ERDNS" in *build-asan*) slack=2 ;; esac
scrape_max=$((100 * slack))
dns_max=$((200 * slack))
scrape_times 20 | sort -n >"$W/scrape-times"
worst=$(sed -n 18p "$W/scrape-times")
for i in $(seq 10); do
	t=$(dig @127.0.0.1 -p "$PORT" +tries=1 +time=2 "slow$i.example.org" | sed -n 's/;; Query time: \([0-9]*\) msec/\1/p')
	echo "${t:-9999}"
done | sort -n >"$W/dns-times"
dns_worst=$(sed -n 9p "$W/dns-times")
delay_ms=$(awk -v w="$worst" -v b="$base" 'BEGIN { d = (w - b) * 1000; printf "%d", d < 0 ? 0 : d }')
echo "scrape: median $base s alone; with 200 clients held: 90th percentile $worst s, max $(tail -1 "$W/scrape-times") s; DNS: 9th of 10 $dns_worst ms, max $(tail -1 "$W/dns-times") ms"
check_le "a new scrape is delayed < $scrape_max ms by 200 slow clients (18th of 20, ms)" "$delay_ms" $((scrape_max - 1))
check_le "DNS answers < $dns_max ms meanwhile (9th of 10, ms)" "${dns_worst:-9999}" $((dns_max - 1))
wait "$slow_pid"
res=$(tail -1 "$W/slow.out")
echo "slow clients: $res"
check_has "none refused at accept" "early=0 " "$res"
check_has "every idle one closed by the 10 s timeout" "idle_closed=150 " "$res"
first=$(echo "$res" | sed -n 's/.*first=\([0-9.]*\).*/\1/p')
check_le "... not before 9 s (first close, s)" 9 "${first%.*}"
last=$(echo "$res" | sed -n 's/.*last=\([0-9.]*\).*/\1/p')
check_le "... nor after 12 s (last close, s)" "${last%.*}" 12
check_has "trickling ones are not idle: kept (bounded by the limits)" "trickle_closed=0 " "$res"

# One address may hold 32 connections; more are closed at accept, and other
# addresses are still served. (An address of its own: the server may not have
# seen the last run's clients go yet.)
$SLOW "$MPORT" 40 50 1 1.5 >"$W/perip.out" 2>&1
check_has "40 from one address: 8 closed at accept" "early=8 " "$(tail -1 "$W/perip.out")"
check_eq "other addresses still served" "200 degraded: no reachable server in group hq, first of chain hq,branch" "$(health)"

# --- a bind error at start; IPv6 -------------------------------------------------
P2=$(free_port)
config "$W/second.json" "$P2" "127.0.0.1:$MPORT"
timeout 10 "$ERDNS" serve -c "$W/second.json" 2>"$W/second.log"
check_eq "metrics port taken: exit 1" 1 "$?"
check_has "... saying why" "cannot listen on metrics.listen 127.0.0.1:$MPORT: Address already in use" \
	"$(cat "$W/second.log")"
check_lacks "... before anything runs" " ready: " "$(cat "$W/second.log")"
if ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128'; then
	P6=$(free_port)
	config "$W/v6.json" "$P2" "[::1]:$P6"
	"$ERDNS" serve -c "$W/v6.json" 2>"$W/v6.log" &
	v6=$!
	BG_PIDS+=("$v6")
	if await_ready "$v6" curl -sf -g --max-time 1 "http://[::1]:$P6/health"; then
		check_has "metrics.listen [::1]:PORT serves" "ok" "$(curl -s -g --max-time 5 "http://[::1]:$P6/health")"
		kill -TERM "$v6"
		wait "$v6"
		check_eq "IPv6 instance stops cleanly" 0 "$?"
	else
		not_ok "IPv6 instance did not serve /health: $(cat "$W/v6.log")"
	fi
else
	echo "SKIPPED IPv6: no ::1 on lo"
fi

# --- /health during a stop: never "ok" again once it said otherwise ----------------
(
	for _ in $(seq 150); do
		health >>"$W/stop-health"
		sleep 0.02
	done
) &
poll=$!
# stop only once the poller has seen the server up (bounded: 5 s): under load
# its first curl can take longer than any fixed sleep
for _ in $(seq 100); do
	grep -q '^200' "$W/stop-health" 2>/dev/null && break
	sleep 0.05
done
stop_erdns
wait "$poll"
seq_seen=$(cut -c1-3 "$W/stop-health" | uniq | tr '\n' ' ')
echo "health codes across the stop: $seq_seen"
check_has "answered before the stop" "200" "$seq_seen"
check_eq "then only down (503) or refused (000), never 200 again" "" \
	"$(cut -c1-3 "$W/stop-health" | uniq | sed '1{/^200$/d}' | grep -v -e 503 -e 000)"
check_has "ends refused" "000" "$(tail -1 "$W/stop-health")"
grep -q "503 down: not serving" "$W/stop-health" && echo "(saw 503 down: not serving during the stop)"

finish
