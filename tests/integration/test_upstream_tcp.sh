#!/usr/bin/env bash
# Upstream TCP pool (RFC 7766 6.2.1-6.2.3, issue 5): with "tcp": "always",
# queries reuse pooled connections and are pipelined on them (a burst of
# slow queries runs concurrently on at most ER_TCP_POOL_PER_SERVER = 2
# connections, and a burst larger than the pool uses short-lived connections
# of its own), and a server that closes the connection mid-query still
# hands the query over to the next server. Connections are counted from the
# kernel's side with ss: every connection erdns opened to a stand-in is
# still ESTABLISHED (idle timeout 10 s) or in TIME-WAIT.
. "$(dirname "$0")/lib.sh"

start_standin UP --id 2
start_standin SLOW --id 4 --mode delay --delay-ms 300
start_standin TCPX --id 9 --mode tcpclose
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 1 },
  "upstreams": {
    "branch": { "servers": ["127.0.0.1:$UP"] },
    "always": { "servers": ["127.0.0.1:$UP"], "tcp": "always" },
    "slow":   { "servers": ["127.0.0.1:$SLOW"], "tcp": "always", "timeout_ms": 2000,
                "max_fails": 100 },
    "tcpx":   { "servers": ["127.0.0.1:$TCPX", "127.0.0.1:$UP"], "select": "ordered",
                "tcp": "always" },
    "tcpxfb": { "servers": ["127.0.0.1:$TCPX", "127.0.0.1:$UP"], "select": "ordered" }
  },
  "routes": [
    { "domains": ["always.test"], "via": "always" },
    { "domains": ["slow.test"], "via": "slow" },
    { "domains": ["tcpx.test"], "via": "tcpx" },
    { "domains": ["tcpxfb.test"], "via": "tcpxfb" }
  ],
  "default": "branch"
}
JSON
start_erdns "$W/erdns.json"

# TCP connections erdns opened to a stand-in port (any state but LISTEN).
conns_to() { ss -Htan "dport = :$1" | grep -vc LISTEN; }

check_eq "no upstream TCP connection before the first query" 0 "$(conns_to "$UP")"

# 20 sequential queries (distinct names: no cache hits) reuse one connection.
answered=0
for i in $(seq 1 20); do
	[ "$(qs "s$i.always.test")" = "192.0.2.2" ] && answered=$((answered + 1))
done
check_eq "20 sequential tcp=always queries answered" 20 "$answered"
check_eq "upstream received all 20 over TCP" 20 "$(grep -c '^tcp s[0-9]*\.always\.test A$' "$UP_LOG")"
check_le "sequential queries: TCP connections opened to the upstream" "$(conns_to "$UP")" 1

# 20 concurrent queries to a server answering after 300 ms: pipelined on at
# most 2 connections, so the burst takes ~300 ms, not 20 x 300 ms.
pids=()
t0=$(now_ms)
for i in $(seq 1 20); do
	qs "p$i.slow.test" >"$W/p$i.out" &
	pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
t1=$(now_ms)
answered=$(for f in "$W"/p*.out; do cat "$f"; echo; done | grep -c '^192\.0\.2\.4$')
check_eq "20 concurrent tcp=always queries answered" 20 "$answered"
check_eq "slow upstream received all 20 over TCP" 20 "$(grep -c '^tcp p[0-9]*\.slow\.test A$' "$SLOW_LOG")"
check_le "concurrent queries: TCP connections opened to the upstream" "$(conns_to "$SLOW")" 2
check_le "concurrent queries ran pipelined (ms for 20 x 300 ms)" $((t1 - t0)) 2500

# More concurrent queries than the pool holds for one server (2 connections x
# 32 pipelined = 64): the rest go out on short-lived connections of their
# own (attempt.c, upstream_tcp_pool_full) rather than failing. 80 at once.
# (Some attempts may outlive their RTT-based timeout while the stand-in
# answers 80 at once; they keep listening, and max_fails is high so that
# such timeouts cannot mark the only server down in the middle of the burst.)
burst=$(python3 "$SRCDIR/tests/integration/rawdns.py" "$PORT" burst 80 full.slow.test)
check_eq "80 concurrent tcp=always queries: all answered" "0:80 no-reply:0" "$burst"
check_le "the slow upstream received all 80 over TCP" 80 \
	"$(grep -c '^tcp b[0-9]*\.full\.slow\.test A$' "$SLOW_LOG")"
check_le "beyond the pool's 2 connections, connections of their own were opened" 3 \
	"$(conns_to "$SLOW")"

# A server that closes the connection after reading the query: the attempt
# fails at once and the next server answers (pooled and TC=1 fallback).
for i in 1 2 3; do
	t0=$(now_ms)
	ans=$(qs "x$i.tcpx.test")
	t1=$(now_ms)
	check_eq "tcp=always, upstream closes mid-query ($i): next server" "192.0.2.2" "$ans"
	check_le "tcp=always, closed connection fails over quickly ($i, ms)" $((t1 - t0)) 1000
done
check_has "the closing server saw the pooled query" "tcp x1.tcpx.test A" "$(cat "$TCPX_LOG")"
check_eq "TC=1 then upstream closes mid-query: next server" "192.0.2.2" "$(qs y.tcpxfb.test)"

stop_erdns
finish
