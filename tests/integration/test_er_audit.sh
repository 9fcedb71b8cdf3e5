#!/usr/bin/env bash
# ExpressRoute audit end to end (SPEC 2.2 `audit`, SPEC 2.1's outside row,
# SPEC 3 `er=`, SPEC 1 `erdns m365 audit`): the real binary, two worker
# threads, and stand-in HQ resolvers that answer inside (hqin, 192.0.2.1 /
# 2001:db8::1) and outside (hqout, 192.0.2.3 / 2001:db8::3) the ExpressRoute
# prefixes of tests/fixtures/m365/audit.json, which one list serves to three
# m365 routes by service area:
#   routes[0] Exchange   (mail.audit.example)  via hqin,branch   observe
#   routes[1] SharePoint (files.audit.example) via hqout,branch  observe, no IPv6 prefix
#   routes[2] Skype      (meet.audit.example)  via hqout,branch  fallback
# The stand-ins' answers depend on the first label (tests/stand-in/README.md):
# cname* gives a CNAME chain, nodata* no address, nx* NXDOMAIN.
# Counted on GET /metrics (erdns_er_audit_answers_total), logged once a
# second per route.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_metrics.sh"

start_standin HQIN --id 1 --name hqin
start_standin HQOUT --id 3 --name hqout
start_standin BR --id 2 --name branch
start_standin SILENT --id 9 --mode silent
start_standin TRICKLE --id 1 --mode trickle # TC=1 over UDP, then a byte per 200 ms over TCP
cp "$SRCDIR/tests/fixtures/m365/audit.json" "$W/audit.json" # the reload rewrites it
cp "$SRCDIR/tests/fixtures/m365/audit.json" "$W/audit-orig.json"
PORT=$(free_port)
MPORT=$(free_port)

# routes LIST: the m365 routes over LIST, a domains route on hqin's chain.
write_config() {
	cat <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2, "identity": "it-er-audit" },
  "upstreams": {
    "hqin":   { "servers": ["127.0.0.1:$HQIN"] },
    "hqout":  { "servers": ["127.0.0.1:$HQOUT"] },
    "silent": { "servers": ["127.0.0.1:$SILENT"] },
    "branch": { "servers": ["127.0.0.1:$BR"] }
  },
  "routes": [
    { "m365": { "file": "$1", "service_areas": ["Exchange"] }, "via": ["hqin", "branch"] },
    { "m365": { "file": "$1", "service_areas": ["SharePoint"] }, "via": ["hqout", "branch"] },
    { "m365": { "file": "$1", "service_areas": ["Skype"] }, "via": ["hqout", "branch"],
      "audit": "fallback" },
    { "domains": ["plain.example"], "via": ["hqin", "branch"] }
  ],
  "default": "branch",
  "cache": { "fallback_ttl_s": 20 },
  "metrics": { "listen": "127.0.0.1:$MPORT" }
}
JSON
}
write_config audit.json >"$W/erdns.json"

out=$("$ERDNS" check -c "$W/erdns.json" 2>&1)
check_eq "check exits 0" 0 $?
check_has "check: routes[0] audit line" "audit: observe, ExpressRoute prefixes: 2 IPv4, 1 IPv6" "$out"
check_has "check: a list without IPv6 prefixes says so" "1 IPv4, 0 IPv6 (AAAA answers are not judged)" "$out"
check_has "check: fallback" "audit: fallback, ExpressRoute prefixes: 1 IPv4, 1 IPv6" "$out"

start_erdns "$W/erdns.json"
er_of() { qs -c CH -t TXT "$1" | sed -n 's/.* er=\([a-z/]*\)".*/\1/p'; }
outside_lines() { grep -c "ExpressRoute audit: $1:" "$W/erdns.log"; }

# --- CHAOS er= before and after an answer is cached ----------------------
check_eq "er=unknown before any answer" unknown "$(er_of mail.audit.example)"
check_eq "er=n/a off the m365 routes" n/a "$(er_of plain.example)"
check_eq "er=n/a for the default route" n/a "$(er_of www.example.org)"
check_eq "inside: hqin's address relayed" 192.0.2.1 "$(qs mail.audit.example)"
check_eq "er=inside" inside "$(er_of mail.audit.example)"
check_eq "a CNAME chain ending inside" "target.cname.mail.audit.example. 192.0.2.1" "$(qs cname.mail.audit.example)"
check_eq "er=inside for the chain" inside "$(er_of cname.mail.audit.example)"
check_eq "AAAA inside" 2001:db8::1 "$(qs AAAA v6.mail.audit.example)"
check_eq "er=inside for AAAA" inside "$(er_of v6.mail.audit.example)"
check_eq "no address: NODATA relayed" "" "$(qs nodata.mail.audit.example)"
check_eq "er=unknown: nothing to judge" unknown "$(er_of nodata.mail.audit.example)"
check_eq "NXDOMAIN relayed" NXDOMAIN "$(qstatus nx.mail.audit.example)"
check_eq "er=unknown for NXDOMAIN" unknown "$(er_of nx.mail.audit.example)"
check_eq "plain.example answered by hqin" 192.0.2.1 "$(qs plain.example)"
check_eq "still er=n/a once cached" n/a "$(er_of plain.example)"
check_eq "no outside line for inside answers" 0 "$(outside_lines 'routes\[0\]')"

# --- observe: an outside answer is relayed, shown and logged --------------
check_eq "observe: hqout's outside answer relayed" 192.0.2.3 "$(qs files.audit.example)"
check_eq "er=outside" outside "$(er_of files.audit.example)"
log=$(cat "$W/erdns.log")
check_has "log: name, address, upstream, nearest set" \
	"ExpressRoute audit: routes[1]: files.audit.example A 192.0.2.3 from 127.0.0.1:$HQOUT is outside the list's ExpressRoute prefixes (nearest 192.0.2.1/32, endpoint set 2); relayed (audit: observe)" "$log"
check_eq "a CNAME chain ending outside" "target.cname.files.audit.example. 192.0.2.3" "$(qs cname.files.audit.example)"
check_eq "er=outside for the chain" outside "$(er_of cname.files.audit.example)"
check_eq "AAAA with no IPv6 prefix in the list: relayed" 2001:db8::3 "$(qs AAAA v6.files.audit.example)"
check_eq "er=unknown: not judged" unknown "$(er_of v6.files.audit.example)"

# One outside line per second per route, and the next one counts the rest.
sleep 1.1
before=$(outside_lines 'routes\[1\]')
printf 'burst%d.files.audit.example A\n' 1 2 3 4 5 >"$W/burst.txt"
dig @127.0.0.1 -p "$PORT" +tries=1 +time=4 +short -f "$W/burst.txt" >/dev/null
burst=$(($(outside_lines 'routes\[1\]') - before))
check_le "5 outside answers in a burst: at most 2 lines (one per second)" "$burst" 2
check_le "... and at least one" 1 "$burst"
sleep 1.1
qs after.files.audit.example >/dev/null
check_has "the next line counts those not logged" "more outside answers on this route not logged" "$(tail -n 3 "$W/erdns.log")"

# --- fallback: the outside row moves the question to the next group -----
t0=$(now_ms)
ans=$(q +noall +answer meet.audit.example)
t1=$(now_ms)
check_eq "fallback: branch answers instead" 192.0.2.2 "$(awk '$4 == "A" {print $5}' <<<"$ans")"
check_le "within 1 s of arrival (ms)" $((t1 - t0)) 1000
check_le "its TTL capped by fallback_ttl_s (20)" "$(awk '$4 == "A" {print $2}' <<<"$ans")" 20
check_eq "hqout was asked first" 1 "$(grep -c '^udp meet.audit.example A' "$HQOUT_LOG")"
check_eq "branch was asked next" 1 "$(grep -c '^udp meet.audit.example A' "$BR_LOG")"
check_eq "er=off: the cached answer came from a later group" off "$(er_of meet.audit.example)"
check_has "log: fallback" "routes[2]: meet.audit.example A 192.0.2.3 from 127.0.0.1:$HQOUT is outside the list's ExpressRoute prefixes (nearest 192.0.2.1/32, endpoint set 3); not relayed, the next group is asked (audit: fallback)" "$(cat "$W/erdns.log")"
check_eq "fallback: a CNAME chain ending outside goes to branch too" \
	"target.cname.meet.audit.example. 192.0.2.2" "$(qs cname.meet.audit.example)"
check_eq "fallback: AAAA outside goes to branch" 2001:db8::2 "$(qs AAAA v6.meet.audit.example)"
check_eq "fallback: hqout stays up (alive, not failed)" 0 "$(grep -c "127.0.0.1:$HQOUT marked down" "$W/erdns.log")"
check_eq "a repeat is a cache hit from the fallback entry" 192.0.2.2 "$(qs meet.audit.example)"
check_eq "hqout not asked again" 1 "$(grep -c '^udp meet.audit.example A' "$HQOUT_LOG")"

# --- the counters: every judged answer, per route and verdict -------------
audited() { echo erdns_er_audit_answers_total view=- route="$1" verdict="$2"; }
# routes[0]: mail, cname.mail, v6.mail (AAAA) inside; nodata, nx none
expect "metrics: routes[0] inside" 3 $(audited 0 inside)
expect "metrics: routes[0] none (NODATA, NXDOMAIN)" 2 $(audited 0 none)
expect "metrics: routes[0] never outside" 0 $(audited 0 outside)
# routes[1]: files, cname.files, 5 of the burst, after.files outside; v6 not judged
expect "metrics: routes[1] outside" 8 $(audited 1 outside)
expect "metrics: routes[1] none (AAAA, no IPv6 prefix)" 1 $(audited 1 none)
# routes[2]: meet, cname.meet, v6.meet outside at hqout; branch's answers and
# the cache hit are not judged
expect "metrics: routes[2] outside" 3 $(audited 2 outside)
expect "metrics: routes[2] inside" 0 $(audited 2 inside)
expect "metrics: the domains route is not audited" 0 $(audited 3 inside)

live=$("$ERDNS" explain -c "$W/erdns.json" files.audit.example --live)
check_has "explain: the route's audit" "audit:   observe: answers from hqout judged against 1 IPv4 and 0 IPv6 ExpressRoute prefixes of routes[1]" "$live"
check_has "explain --live: er" "er:      outside" "$live"

# --- a reload that swaps the list: files.audit.example flips -------------
sed 's#"ips": \["192.0.2.1/32"\],#"ips": ["192.0.2.1/32", "192.0.2.3/32"],#' "$W/audit-orig.json" >"$W/audit.json"
reloads=$(grep -c "configuration reloaded" "$W/erdns.log")
kill -HUP "$ERDNS_PID"
for _ in $(seq 100); do
	[ "$(grep -c "configuration reloaded" "$W/erdns.log")" -gt "$reloads" ] && break
	sleep 0.05
done
check_has "reload: new prefixes start a new epoch" "routes or ExpressRoute prefixes changed" "$(cat "$W/erdns.log")"
check_eq "after the reload nothing judged under the old list is shown" unknown "$(er_of files.audit.example)"
before=$(outside_lines 'routes\[1\]')
check_eq "the same answer" 192.0.2.3 "$(qs files.audit.example)"
check_eq "now er=inside" inside "$(er_of files.audit.example)"
check_eq "no outside line" "$before" "$(outside_lines 'routes\[1\]')"
expect "metrics: routes[1] inside now" 1 $(audited 1 inside)
check_eq "routes[0] unchanged: inside" 192.0.2.1 "$(qs mail.audit.example)"

# --- erdns m365 audit ------------------------------------------------------
# routes[0] alone: all inside
cat >"$W/inside.json" <<JSON
{
  "upstreams": { "hqin": { "servers": ["127.0.0.1:$HQIN"] }, "branch": { "servers": ["127.0.0.1:$BR"] } },
  "routes": [ { "m365": { "file": "audit-orig.json", "service_areas": ["Exchange"] }, "via": ["hqin", "branch"] } ],
  "default": "branch"
}
JSON
"$ERDNS" m365 audit -c "$W/inside.json" >"$W/audit0.txt" 2>&1
check_eq "m365 audit: all inside -> exit 0" 0 $?
check_has "m365 audit: the address, its prefix and set" "A    192.0.2.1                  inside   192.0.2.1/32 (set 1)" "$(cat "$W/audit0.txt")"
check_has "m365 audit: summary" "1 names: 1 inside, 0 outside, 0 not judged" "$(cat "$W/audit0.txt")"

write_config audit-orig.json >"$W/orig.json"
"$ERDNS" m365 audit -c "$W/orig.json" >"$W/audit3.txt" 2>&1
check_eq "m365 audit: every imported literal name, some outside -> exit 3" 3 $?
out=$(cat "$W/audit3.txt")
check_has "both verdicts shown (inside)" "mail.audit.example  (routes[0], rule mail.audit.example, first group hqin)" "$out"
check_has "both verdicts shown (outside, nearest)" "192.0.2.3                  outside  nearest 192.0.2.1/32 (set 2)" "$out"
check_has "an address of a family the list lacks" "2001:db8::3                unjudged (no prefix of its family in the list)" "$out"
check_has "summary" "3 names: 1 inside, 2 outside, 0 not judged" "$out"

"$ERDNS" m365 audit -c "$W/orig.json" nodata.mail.audit.example >"$W/audit4.txt" 2>&1
check_eq "m365 audit: no address -> exit 4" 4 $?
check_has "says why" "A    no address (NOERROR)" "$(cat "$W/audit4.txt")"
sed "s#\"via\": \[\"hqin\", \"branch\"\] },#\"via\": [\"silent\", \"branch\"] },#" "$W/orig.json" >"$W/silent.json"
# audit_times_out WHAT CONFIG TIMEOUT_MS: `m365 audit` of mail.audit.example
# through a group that never answers in time exits 4, says so, and gives up
# within 3000 ms: at least 2 questions x TIMEOUT_MS, room for a loaded
# machine, and below both the default (2 x 2000 ms) and the ~12 s per answer
# of a timeout that bounds each recv rather than the exchange.
audit_times_out() {
	local what=$1 config=$2 ms=$3 t0 rc
	t0=$(now_ms)
	"$ERDNS" m365 audit -c "$config" --timeout-ms "$ms" mail.audit.example >"$W/timeout.txt" 2>&1
	rc=$?
	check_eq "m365 audit, $what: exit 4" 4 $rc
	check_le "$what: bounded by --timeout-ms (2 questions x $ms ms)" $(($(now_ms) - t0)) 3000
	check_has "$what: says no answer" "no answer: Connection timed out" "$(cat "$W/timeout.txt")"
}
audit_times_out "no answer" "$W/silent.json" 300
# Regression: the TCP answer trickled a byte every 200 ms (seen taking 35 s).
sed "s#\"127.0.0.1:$SILENT\"#\"127.0.0.1:$TRICKLE\"#" "$W/silent.json" >"$W/trickle.json"
audit_times_out "a trickled TCP answer" "$W/trickle.json" 600
check_has "the trickle stand-in was asked over TCP" "tcp mail.audit.example" "$(cat "$TRICKLE_LOG")"
"$ERDNS" m365 audit -c "$W/orig.json" plain.example >"$W/audit1.txt" 2>&1
check_eq "m365 audit: a name on no m365 route -> exit 1" 1 $?
check_has "says so" "plain.example is not on an m365 route" "$(cat "$W/audit1.txt")"
"$ERDNS" m365 audit -c "$W/missing.json" >/dev/null 2>&1
check_eq "m365 audit: bad config -> exit 1" 1 $?
out=$("$ERDNS" m365 audit -c "$W/orig.json" --bogus 2>&1)
check_eq "m365 audit: usage -> exit 2" 2 $?
check_has "the unknown option is named" 'unknown or incomplete option "--bogus"' "$out"
# Regression: the value was cast to 32 bits before the range check, so
# 2^32 + 100 was taken as 100.
out=$("$ERDNS" m365 audit -c "$W/orig.json" --timeout-ms 4294967396 mail.audit.example 2>&1)
check_eq "m365 audit: --timeout-ms 2^32+100 -> exit 2" 2 $?
check_has "says the range" '--timeout-ms "4294967396": takes 10..60000' "$out"

"$ERDNS" m365 audit -c "$W/orig.json" --json cname.files.audit.example mail.audit.example >"$W/audit.json.out"
check_eq "m365 audit --json: exit 3" 3 $?
summary=$(python3 - "$W/audit.json.out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n = {x["name"]: x for x in d["names"]}
f = n["cname.files.audit.example"]
a = [x for x in f["answers"] if x["type"] == "A"][0]
print(d["exit"], d["inside"], d["outside"], d["unjudged"], f["verdict"], f["route"], a["end"],
      a["addresses"][0]["verdict"], a["addresses"][0]["nearest"], a["addresses"][0]["set"],
      n["mail.audit.example"]["verdict"])
PY
)
check_eq "m365 audit --json: fields" \
	"3 1 1 0 outside routes[1] target.cname.files.audit.example outside 192.0.2.1/32 2 inside" "$summary"

stop_erdns
finish
