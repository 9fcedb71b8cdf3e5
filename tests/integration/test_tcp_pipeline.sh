#!/usr/bin/env bash
# A TCP client connection is never left unread (SPEC 3, RFC 7766
# pipelining). erdns hands at most ER_TCP_MAX_INFLIGHT (32) queries of one
# connection to the pipeline and stops reading until answers go out; when
# it resumes, the queries already buffered may fill it up to 32 again, and
# then it must stay paused (to be resumed by the next answer), not forget
# that reading is stopped. 300 pipelined questions for distinct names (none
# coalesced, none cached) to a stand-in that answers after 20 ms pile up
# far beyond 32; every one must be answered, and the connection must still
# take a new query afterwards.
. "$(dirname "$0")/lib.sh"
RAW="python3 $SRCDIR/tests/integration/rawdns.py"

start_standin UP --id 2 --mode delay:20
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 4 },
  "upstreams": { "branch": { "servers": ["127.0.0.1:$UP"] } },
  "default": "branch"
}
JSON
start_erdns "$W/erdns.json"

t0=$(now_ms)
out=$($RAW "$PORT" pipeline 300 pipe.test)
echo "pipeline: $out ($(($(now_ms) - t0)) ms)"
check_has "300 pipelined queries on one connection: all answered" "answered:300 " "$out"
check_has "no stray or mismatched answers" "unexpected:0 " "$out"
check_has "all NOERROR" "rcodes:0=300 " "$out"
check_has "the same connection answers a query sent after all of them" "extra:0" "$out"
check_eq "the upstream saw each question once (not coalesced, not lost)" 301 \
	"$(grep -c 'pipe\.test A$' "$UP_LOG")"

stop_erdns
finish
