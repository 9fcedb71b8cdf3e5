#!/usr/bin/env bash
# Fallback TTL (SPEC 2.2 `via`): an answer obtained from a later group than
# the first of its chain is cached for at most cache.fallback_ttl_s, and no
# TTL in it -- answer records, the CNAME chain, the SOA of a negative answer
# -- exceeds fallback_ttl_s, neither as relayed to the client nor as served
# later from the cache; a stale answer (RFC 8767) from such an entry carries
# min(30, fallback_ttl_s). An answer from the first group keeps its TTLs.
. "$(dirname "$0")/lib.sh"
# check_ge DESCRIPTION VALUE MIN
check_ge() { if [ "$2" -ge "$3" ]; then ok "$1 ($2 >= $3)"; else not_ok "$1: expected at least $3, got $2"; fi; }

FB_TTL=2
start_standin HQ --id 1 --mode servfail # the first group fails at once
echo answer >"$W/mode-branch"
start_standin BRANCH --id 2 --mode-file "$W/mode-branch" # TTL 60, CNAME 300, SOA 60
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 4, "query_timeout_ms": 1500 },
  "upstreams": {
    "hq":     { "servers": ["127.0.0.1:$HQ"] },
    "branch": { "servers": ["127.0.0.1:$BRANCH"] }
  },
  "routes": [ { "domains": ["fb.example"], "via": ["hq", "branch"] } ],
  "default": "branch",
  "cache": { "fallback_ttl_s": $FB_TTL, "serve_stale_s": 3600, "max_ttl_s": 86400,
             "max_negative_ttl_s": 3600 }
}
JSON
start_erdns "$W/erdns.json"

# The records of one section of a full dig answer ("ANSWER", "AUTHORITY"),
# one per line: "name ttl class type rdata".
section() { awk -v s=";; $1 SECTION:" '$0 == s { on = 1; next } on && /^$/ { exit } on' <<<"$2"; }
# The largest TTL among such records ("none" if there are none).
max_ttl() { awk 'BEGIN { m = -1 } NF >= 4 { if ($2 + 0 > m) m = $2 + 0 } END { print (m < 0 ? "none" : m) }' <<<"$1"; }
nrec() { grep -c . <<<"$1"; }
# check_ttls DESCRIPTION RECORDS MIN_RECORDS: every TTL <= FB_TTL.
check_ttls() {
	local m
	m=$(max_ttl "$2")
	if [ "$m" = none ] || [ "$(nrec "$2")" -lt "$3" ]; then
		not_ok "$1: expected at least $3 record(s), got: [$2]"
	elif [ "$m" -le "$FB_TTL" ]; then
		ok "$1 (largest TTL $m <= $FB_TTL)"
	else
		not_ok "$1: largest TTL $m > fallback_ttl_s $FB_TTL; records: $(tr '\n' '|' <<<"$2")"
	fi
}
branch_count() { grep -c " $1 " "$BRANCH_LOG"; }

# Control: the first group of the default chain answers: TTLs untouched.
out=$(q www.direct.example)
check_eq "first-group answer keeps the upstream's TTL" 60 "$(max_ttl "$(section ANSWER "$out")")"

# --- relayed (cache miss), then at once from the cache ------------------------
# Each name is asked again right after its first answer, well within the
# 2 s the entry lives.
out=$(q www.fb.example)
check_has "fallback group answered" "192.0.2.2" "$(section ANSWER "$out")"
check_eq "the first group was asked (and failed)" 1 "$(grep -c ' www.fb.example ' "$HQ_LOG")"
check_ttls "relayed fallback A answer: TTL <= fallback_ttl_s" "$(section ANSWER "$out")" 1
out=$(q www.fb.example)
check_ttls "cached fallback A answer: TTL <= fallback_ttl_s" "$(section ANSWER "$out")" 1

out=$(q cname1.fb.example)
check_ttls "relayed fallback CNAME chain: every TTL <= fallback_ttl_s" "$(section ANSWER "$out")" 2
out=$(q cname1.fb.example)
check_ttls "cached fallback CNAME chain: every TTL <= fallback_ttl_s" "$(section ANSWER "$out")" 2

out=$(q nx-1.fb.example)
check_has "fallback NXDOMAIN relayed" "status: NXDOMAIN" "$out"
check_ttls "relayed fallback NXDOMAIN: SOA TTL <= fallback_ttl_s" "$(section AUTHORITY "$out")" 1
out=$(q nx-1.fb.example)
check_has "cached fallback NXDOMAIN" "status: NXDOMAIN" "$out"
check_ttls "cached fallback NXDOMAIN: SOA TTL <= fallback_ttl_s" "$(section AUTHORITY "$out")" 1
check_eq "the repeats were cache hits (branch asked once per name)" "1 1 1" \
	"$(branch_count www.fb.example) $(branch_count cname1.fb.example) $(branch_count nx-1.fb.example)"

# --- stale -------------------------------------------------------------------
# Past fallback_ttl_s the entries are expired (but within serve_stale_s);
# the branch goes silent too, so the whole chain fails: the stale answer
# goes out with min(30, fallback_ttl_s), not 30.
sleep $((FB_TTL + 1))
echo silent >"$W/mode-branch"
t0=$(now_ms)
out=$(q www.fb.example)
t1=$(now_ms)
check_has "stale fallback A answer served" "192.0.2.2" "$(section ANSWER "$out")"
check_has "with EDE 3 (Stale Answer)" "EDE: 3" "$out"
check_ttls "stale fallback A answer: TTL <= min(30, fallback_ttl_s)" "$(section ANSWER "$out")" 1
check_le "stale answer within query_timeout_ms (1500 ms + slack, ms)" $((t1 - t0)) 3000
out=$(q cname1.fb.example)
check_has "stale fallback CNAME chain served" "CNAME" "$(section ANSWER "$out")"
check_ttls "stale fallback CNAME chain: every TTL <= min(30, fallback_ttl_s)" "$(section ANSWER "$out")" 2
# RFC 8767 allows a stale negative answer too; if one is served, its SOA
# follows the same rule (SERVFAIL instead is not this test's business).
out=$(q nx-1.fb.example)
if [[ "$out" == *"status: NXDOMAIN"* ]]; then
	check_ttls "stale fallback NXDOMAIN: SOA TTL <= min(30, fallback_ttl_s)" "$(section AUTHORITY "$out")" 1
else
	echo "(no stale NXDOMAIN served: $(sed -n 's/.*status: \([A-Z]*\).*/\1/p' <<<"$out"))"
fi
check_ge "the branch was asked again, the entry having expired (queries)" "$(branch_count www.fb.example)" 2
echo answer >"$W/mode-branch"

stop_erdns
finish
