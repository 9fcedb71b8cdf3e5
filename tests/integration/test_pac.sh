#!/usr/bin/env bash
# `erdns pac` (SPEC 1): the PAC file, evaluated with node the way browsers do,
# sends DIRECT exactly the names DNS routes to the first group of the m365
# route's chain, for every test name derived from the list (the same names
# and the same independent oracle as test_m365.sh, which checks them through
# the running server), the rest to the proxy. Also: an upper-case host and a
# trailing dot, --direct, and the usage errors.
. "$(dirname "$0")/lib.sh"

command -v node >/dev/null || { echo "FAIL: node is required (contrib/dev.sh installs nodejs)"; exit 1; }
LIST="${ERDNS_M365_LIST:-$SRCDIR/../shared/data/m365-endpoints-worldwide.json}"
if [ -r "$LIST" ]; then
	OVERRIDE=outlook.office.com
else
	echo "SKIPPED real-data part: $LIST is absent (CI has it); using the repo fixture"
	OVERRIDE=outlook.example.com LIST="$SRCDIR/tests/fixtures/m365/small.json"
fi
# pac_agrees LIST OVERRIDE: the PAC for a config importing LIST (plus an
# operator rule =OVERRIDE via branch) against the oracle, name by name.
pac_agrees() {
	local list=$1 override=$2 total bad=0 direct=0 name route want got
	cp "$list" "$W/m365.json"
	cat >"$W/erdns.json" <<JSON
{
  "upstreams": { "hq": { "servers": ["192.0.2.10"] }, "branch": { "servers": ["192.0.2.20"] } },
  "routes": [
    { "m365": { "file": "m365.json" }, "via": ["hq", "branch"] },
    { "domains": ["=$override"], "via": "branch" }
  ],
  "default": "branch"
}
JSON
	"$ERDNS" pac -c "$W/erdns.json" --proxy "$PROXY" >"$W/erdns.pac"
	check_eq "pac exits 0 ($(basename "$list"))" 0 $?
	python3 "$SRCDIR/tests/integration/m365_oracle.py" "$W/m365.json" --operator "=$override" >"$W/expected.txt"
	awk '{print $1}' "$W/expected.txt" >"$W/names.txt"
	total=$(wc -l <"$W/names.txt")
	node "$SRCDIR/tests/integration/pac_eval.js" "$W/erdns.pac" "$W/names.txt" >"$W/pac.txt"
	check_eq "node evaluated the PAC for every name" "$total" "$(wc -l <"$W/pac.txt")"
	while read -r name route _; do
		want="$PROXY"
		[ "$route" = er ] && want=DIRECT && direct=$((direct + 1))
		got=$(awk -v n="$name" '$1 == n {sub(/^[^ ]* /, ""); print; exit}' "$W/pac.txt")
		if [ "$got" != "$want" ]; then
			bad=$((bad + 1))
			echo "  mismatch: $name: DNS route $route, PAC [$got]"
		fi
	done <"$W/expected.txt"
	check_eq "PAC agrees with DNS for all $total names of $(basename "$list") ($direct DIRECT)" 0 "$bad"
}

PROXY="PROXY proxy.example:8080"
OLD_LIST="$SRCDIR/../shared/data/m365-endpoints-worldwide-circa2022-with-ipv6.json"
if [ -z "${ERDNS_M365_LIST:-}" ] && [ -r "$OLD_LIST" ]; then
	pac_agrees "$OLD_LIST" outlook.office.com # globs, exceptions, a URL flagged both ways
fi
pac_agrees "$SRCDIR/tests/fixtures/m365/small.json" outlook.example.com
pac_agrees "$LIST" "$OVERRIDE" # last: the checks below use its config

printf 'OUTLOOK.office365.COM.\nwww.example.org\n' >"$W/odd.txt"
[ "$OVERRIDE" = outlook.example.com ] && printf 'SMTP.Example.COM.\nwww.example.org\n' >"$W/odd.txt"
out=$(node "$SRCDIR/tests/integration/pac_eval.js" "$W/erdns.pac" "$W/odd.txt")
check_has "upper case and trailing dot" " DIRECT" "$(echo "$out" | head -1)"
check_has "a name no rule matches goes to the proxy" "www.example.org $PROXY" "$out"

# --direct branch: the complement (the default chain is branch).
"$ERDNS" pac -c "$W/erdns.json" --proxy "$PROXY" --direct branch >"$W/branch.pac"
out=$(node "$SRCDIR/tests/integration/pac_eval.js" "$W/branch.pac" "$W/odd.txt")
check_has "--direct branch: unmatched names DIRECT" "www.example.org DIRECT" "$out"
check_eq "--direct branch: the generated file ends in return direct" "	return direct;" "$(tail -2 "$W/branch.pac" | head -1)"

"$ERDNS" pac -c "$W/erdns.json" >/dev/null 2>"$W/err"
check_eq "no --proxy: usage error" 2 $?
check_has "no --proxy: says what to add" "--proxy is required" "$(cat "$W/err")"
"$ERDNS" pac -c "$W/erdns.json" --proxy 'PROXY a"b:1' >/dev/null 2>&1
check_eq "bad --proxy: usage error" 2 $?
"$ERDNS" pac -c "$W/erdns.json" --proxy "$PROXY" --direct nosuch >/dev/null 2>"$W/err"
check_eq "unknown --direct group: exit 1" 1 $?
check_has "unknown group named" 'unknown upstream group "nosuch"' "$(cat "$W/err")"
check_eq "pac --help exits 0" 0 "$("$ERDNS" pac --help >/dev/null; echo $?)"
check_has "pac --version" "erdns " "$("$ERDNS" pac --version)"
finish
