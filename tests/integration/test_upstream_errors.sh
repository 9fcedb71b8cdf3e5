#!/usr/bin/env bash
# Upstream error answers (SPEC 2.1 table): SERVFAIL, REFUSED, FORMERR and
# NOTIMP send the query to the next server of the group, each server at
# most once per query for this, then to the next group; the server stays
# alive (never marked down by these). A query whose whole chain fails is
# answered SERVFAIL and the failure is cached for the chain 1-5 s
# (RFC 9520), so repeats do not reach the upstreams again.
# Counts are per query name (stand-in logs), so health probes (". NS")
# never disturb them. Four workers, so repeats land on different workers.
. "$(dirname "$0")/lib.sh"

start_standin SF --id 7 --mode servfail
start_standin GOOD --id 2
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 4 },
  "upstreams": {
    "hq":     { "servers": ["127.0.0.1:$SF"], "max_fails": 3 },
    "mix":    { "servers": ["127.0.0.1:$SF", "127.0.0.1:$GOOD"], "select": "ordered",
                "max_fails": 3 },
    "branch": { "servers": ["127.0.0.1:$GOOD"], "max_fails": 3 }
  },
  "routes": [
    { "domains": ["sf.example"], "via": "hq" },
    { "domains": ["sf2.example"], "via": ["hq", "branch"] },
    { "domains": ["sf3.example"], "via": "mix" }
  ],
  "default": "branch"
}
JSON
start_erdns "$W/erdns.json"

# asked LOG NAME: how many queries for exactly NAME the stand-in received.
asked() { grep -c "^[a-z]* ${2//./\\.} " "$1"; }

# --- a) a single-server chain that answers SERVFAIL --------------------------
t0=$(now_ms)
check_eq "SERVFAIL upstream, nothing else to ask: client gets SERVFAIL" SERVFAIL \
	"$(qstatus x.sf.example)"
t1=$(now_ms)
check_eq "the SERVFAIL server is asked once for the query (no retry rounds)" 1 \
	"$(asked "$SF_LOG" x.sf.example)"
# Repeats at once (well within the 1 s that is the least SERVFAIL caching
# RFC 9520 allows): answered from the cached failure.
s2=$(qstatus x.sf.example)
s3=$(qstatus x.sf.example)
t2=$(now_ms)
check_eq "repeats answered SERVFAIL" "SERVFAIL SERVFAIL" "$s2 $s3"
echo "first answer after $((t1 - t0)) ms; repeats done $((t2 - t1)) ms after it"
check_le "repeats sent within 1 s of the first answer (ms)" $((t2 - t1)) 1000
check_eq "repeats within the SERVFAIL cache time do not reach the upstream" 1 \
	"$(asked "$SF_LOG" x.sf.example)"

# --- b) chain [hq, branch]: SERVFAIL in the first group -> next group ---------
check_eq "chain: SERVFAIL in the first group, answer from the next group" 192.0.2.2 \
	"$(qs y.sf2.example)"
check_eq "chain: the SERVFAIL server (not marked down) was asked once" 1 \
	"$(asked "$SF_LOG" y.sf2.example)"
check_eq "chain: the next group's server was asked once" 1 "$(asked "$GOOD_LOG" y.sf2.example)"

# --- c) group [SF, GOOD] ordered: SERVFAIL -> next server of the group -------
check_eq "group: SERVFAIL server, answer from the group's next server" 192.0.2.2 \
	"$(qs z.sf3.example)"
check_eq "group: the SERVFAIL server was asked once" 1 "$(asked "$SF_LOG" z.sf3.example)"
check_eq "group: the next server was asked once" 1 "$(asked "$GOOD_LOG" z.sf3.example)"

# --- a) continued: the cached failure expires within 5 s ---------------------
# 6 s after the first answer (1 s of room past the 5 s ceiling).
wait_ms=$((t1 + 6000 - $(now_ms)))
[ "$wait_ms" -gt 0 ] && sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"
check_eq "after the SERVFAIL cache expired: SERVFAIL again" SERVFAIL "$(qstatus x.sf.example)"
check_eq "after the SERVFAIL cache expired: the upstream is asked again, once" 2 \
	"$(asked "$SF_LOG" x.sf.example)"

# Ten more failing questions: the SERVFAIL server is asked once for each,
# and never marked down (it answers: it is alive).
statuses=""
once=0
for i in $(seq 10); do
	statuses+="$(qstatus "n$i.sf.example") "
	[ "$(asked "$SF_LOG" "n$i.sf.example")" = 1 ] && once=$((once + 1))
done
check_eq "ten distinct failing names: all SERVFAIL" \
	"$(printf 'SERVFAIL %.0s' $(seq 10))" "$statuses"
check_eq "ten distinct failing names: each asked exactly once" 10 "$once"
check_eq "a server answering SERVFAIL is never marked down (log lines)" 0 \
	"$(grep -c "127\.0\.0\.1:$SF[^0-9].*marked down" "$W/erdns.log")"

stop_erdns
finish
