#!/usr/bin/env bash
# Microsoft 365 import end to end (SPEC 2.2): the real binary with a config
# pointing at the real 2026 Worldwide list (../shared/data, else the repo's
# fixture), a stand-in HQ (192.0.2.1) and branch (192.0.2.2). One test name
# per URL of the list (the host itself; "*.x" -> probe.x; other '*' ->
# "probe"), every one asked through the server with dig and compared with
# the route an independent oracle (m365_oracle.py) computes from the data;
# the CHAOS routing answer's source for every name too; `erdns check` and
# `erdns explain` output; a reload with a malformed list keeps the old rules.
. "$(dirname "$0")/lib.sh"

LIST="${ERDNS_M365_LIST:-$SRCDIR/../shared/data/m365-endpoints-worldwide.json}"
if [ -r "$LIST" ]; then
	REAL=1 OVERRIDE=outlook.office.com
else
	echo "SKIPPED real-data part: $LIST is absent (CI has it); using the repo fixture"
	REAL=0 OVERRIDE=outlook.example.com LIST="$SRCDIR/tests/fixtures/m365/small.json"
fi
cp "$LIST" "$W/m365.json" # a work copy: the reload test overwrites it

start_standin HQ --id 1 --name hq
start_standin BR --id 2 --name branch
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2, "identity": "it-m365" },
  "upstreams": {
    "hq":     { "servers": ["127.0.0.1:$HQ"] },
    "branch": { "servers": ["127.0.0.1:$BR"] }
  },
  "routes": [
    { "m365": { "file": "m365.json" }, "via": ["hq", "branch"] },
    { "domains": ["=$OVERRIDE"], "via": "branch" }
  ],
  "default": "branch"
}
JSON

out=$("$ERDNS" check -c "$W/erdns.json" 2>&1)
check_eq "check exits 0" 0 $?
check_has "check: per-file report" "routes[0]: $W/m365.json via hq,branch" "$out"
if [ "$REAL" = 1 ]; then
	check_has "check: sets read" "endpoint sets: 63 read, 10 selected" "$out"
	check_has "check: rules by shape" "rules: 48 (exact 34, *. 14, glob 0)" "$out"
	check_has "check: exceptions" "exceptions: 2" "$out"
	check_has "check: the exception named" "cdn.odc.officeapps.live.com (set 91) under *.officeapps.live.com (set 46)" "$out"
	check_has "check: none flagged both ways" "flagged both ways: 0" "$out"
	out=$("$ERDNS" explain -c "$W/erdns.json" cdn.odc.officeapps.live.com)
	check_has "explain: exception rule as the list has it" "rule:    cdn.odc.officeapps.live.com (exact name)" "$out"
	check_has "explain: first line as CHAOS" "view=- rule=cdn.odc.officeapps.live.com source=m365:91 via=branch" "$out"
	check_has "explain: set, area, category, url" "m365:91 ($W/m365.json:" "$out"
	check_has "explain: detail" "Common/Default url=cdn.odc.officeapps.live.com" "$out"
	out=$("$ERDNS" explain -c "$W/erdns.json" contoso.sharepoint.com)
	check_has "explain: wildcard" "source:  m365:31 ($W/m365.json:" "$out"
	check_has "explain: wildcard detail" "SharePoint/Optimize url=*.sharepoint.com" "$out"
else
	check_has "check: rules by shape" "rules: 10 (exact 4, *. 4, glob 2)" "$out"
	check_has "check: exceptions" "exceptions: 4" "$out"
	check_has "check: both ways" "flagged both ways: 1" "$out"
fi

start_erdns "$W/erdns.json"

python3 "$SRCDIR/tests/integration/m365_oracle.py" "$W/m365.json" --operator "=$OVERRIDE" >"$W/expected.txt"
awk '{print $1}' "$W/expected.txt" >"$W/names.txt"
total=$(wc -l <"$W/names.txt")

# A records, one batch: NAME -> 192.0.2.1 (hq) or .2 (branch).
dig @127.0.0.1 -p "$PORT" +tries=1 +time=4 +noall +answer -f "$W/names.txt" |
	awk '$4 == "A" {sub(/\.$/, "", $1); print tolower($1), $5}' >"$W/answers.txt"
bad=0
while read -r name route _; do
	want=192.0.2.2
	[ "$route" = er ] && want=192.0.2.1
	got=$(awk -v n="$name" '$1 == n {print $2; exit}' "$W/answers.txt")
	if [ "$got" != "$want" ]; then
		bad=$((bad + 1))
		echo "  mismatch: $name expected $route ($want), got [$got]"
	fi
done <"$W/expected.txt"
check_eq "every one of $total names from the list routed as the data says (dig A)" 0 "$bad"
check_eq "dig answered every name" "$total" "$(wc -l <"$W/answers.txt")"

# CHAOS routing answers, one batch: source=m365:ID for every m365-decided name.
dig @127.0.0.1 -p "$PORT" +tries=1 +time=4 +noall +answer -c CH -t TXT -f "$W/names.txt" |
	sed -n 's/^\([^ \t]*\)\.[ \t].*source=\([^ ]*\).*/\1 \2/p' >"$W/chaos.txt"
bad=0
while read -r name _ source; do
	got=$(awk -v n="$name" 'tolower($1) == n {print $2; exit}' "$W/chaos.txt")
	case "$source" in
	operator) want_re='^erdns\.json:' ;;
	default) want_re='^config$' ;;
	*) want_re="^$source\$" ;;
	esac
	if ! [[ "$got" =~ $want_re ]]; then
		bad=$((bad + 1))
		echo "  CHAOS mismatch: $name expected source $source, got [$got]"
	fi
done <"$W/expected.txt"
check_eq "CHAOS source=m365:ID right for all $total names" 0 "$bad"
if [ "$REAL" = 1 ]; then
	txt=$(qs -c CH -t TXT cdn.odc.officeapps.live.com)
	check_has "CHAOS: exception as the list has it" "rule=cdn.odc.officeapps.live.com source=m365:91 via=branch" "$txt"
	txt=$(qs -c CH -t TXT teams.microsoft.com)
	check_has "CHAOS: an ER host as the list has it" "rule=teams.microsoft.com source=m365:" "$txt"
	txt=$(qs -c CH -t TXT ny.officeapps.live.com)
	check_has "CHAOS: wildcard" "rule=*.officeapps.live.com source=m365:46 via=hq,branch" "$txt"
fi
check_eq "operator rule beats the list" 192.0.2.2 "$(qs "$OVERRIDE")"

# A reload with a malformed list fails as a whole: the old rules stay.
probe_name=$(awk '$2 == "er" && $1 ~ /^probe/ {print $1; exit}' "$W/expected.txt")
route_of() { qs -c CH -t TXT "$1" | sed 's/ upstream=.*//'; }
before=$(route_of "$probe_name")
cp "$SRCDIR/tests/fixtures/m365/bad-syntax.json" "$W/m365.json"
kill -HUP "$ERDNS_PID"
for _ in $(seq 100); do grep -q "reload failed" "$W/erdns.log" && break; sleep 0.05; done
check_has "reload with a malformed list fails" "reload failed" "$(cat "$W/erdns.log")"
check_has "the error names the list and LINE:COL" "m365.json:5:5:" "$(cat "$W/erdns.log")"
check_eq "old rules still in force ($probe_name)" "$before" "$(route_of "$probe_name")"
first_er=$(awk '$2 == "er" {print $1; exit}' "$W/expected.txt")
check_eq "an ER name still goes to hq after the failed reload" 192.0.2.1 "$(qs "$first_er")"
cp "$LIST" "$W/m365.json"

stop_erdns
finish
