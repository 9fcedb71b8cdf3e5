#!/usr/bin/env bash
# The command line (SPEC 1): check and explain output and exit codes, bad
# configs reported in one line naming the place, usage errors exit 2.
. "$(dirname "$0")/lib.sh"

# run CMD...: sets OUT (stdout+stderr) and RC.
run() {
	OUT=$("$@" 2>&1)
	RC=$?
}

run "$ERDNS" check -c "$SRCDIR/conf/demo/erdns.json"
check_eq "check: good config exits 0" 0 "$RC"
check_has "check: listeners" "listen:   127.0.0.1:5300" "$OUT"
check_has "check: groups" "hq           fastest" "$OUT"
check_has "check: rules per source" "global             6 from domains" "$OUT"
check_has "check: view rules" "view pilot         1 from domains" "$OUT"
check_has "check: zones" "branch.contoso.com       7 records" "$OUT"
check_has "check: says OK" "configuration OK" "$OUT"
check_has "check: cache settings" "cache:    64 MB, ttl 0..86400 s" "$OUT"
check_lacks "check: every key is in effect" "not in effect" "$OUT"
check_has "check: the query log" "query log: off" "$OUT"
check_lacks "check: control.* is in effect" "not in effect yet: control" "$OUT"
check_has "check: the control socket" "control:  /run/erdns/control.sock (erdns ctl)" "$OUT"

run "$ERDNS" explain -c "$SRCDIR/conf/demo/erdns.json" mail.outlook.office.com
check_eq "explain: exit 0" 0 "$RC"
check_has "explain: one-line summary as CHAOS" "view=- rule=*.outlook.office.com source=erdns.json:14:41 via=hq,branch" "$OUT"
check_has "explain: source with full path" "source:  $SRCDIR/conf/demo/erdns.json:14:41" "$OUT"
check_has "explain: rule kind" "rule:    *.outlook.office.com (names below)" "$OUT"
check_has "explain: chain with servers" "1. hq           select=fastest timeout_ms=1500 servers=127.0.0.1:5301" "$OUT"
run "$ERDNS" explain -c "$SRCDIR/conf/demo/erdns.json" www.office.com --client 127.0.0.2
check_has "explain --client: view" "view:    pilot" "$OUT"
run "$ERDNS" explain -c "$SRCDIR/conf/demo/erdns.json" www.example.com
check_has "explain: default" "rule:    default (no rule matches)" "$OUT"
run "$ERDNS" explain -c "$SRCDIR/conf/demo/erdns.json" printer.branch.contoso.com
check_has "explain: local zone" "answer:  local zone branch.contoso.com (authoritative)" "$OUT"
run "$ERDNS" explain -c "$SRCDIR/conf/demo/erdns.json" "bad..name"
check_eq "explain: invalid name exits 1" 1 "$RC"
run "$ERDNS" explain -c "$SRCDIR/conf/demo/erdns.json" www.office.com --client notanip
check_eq "explain: bad --client exits 1" 1 "$RC"
run "$ERDNS" explain -c "$SRCDIR/conf/demo/erdns.json"
check_eq "explain: no NAME is a usage error (2)" 2 "$RC"

# Bad configurations: exit 1, one line, the place named.
bad() { # description expected-message json
	printf '%s\n' "$3" >"$W/bad.json"
	run "$ERDNS" check -c "$W/bad.json"
	check_eq "$1: exit 1" 1 "$RC"
	check_has "$1: message" "erdns: $2" "$OUT"
	check_eq "$1: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
}
UP='"upstreams": { "hq": { "servers": ["127.0.0.1:9"] }, "branch": { "servers": ["127.0.0.1:8"] } }'
bad "JSON syntax" "$W/bad.json:3:1: " '{
  "server": {'
bad "unknown key with a suggestion" "$W/bad.json:2:45: server: unknown key \"query_timeut_ms\" (did you mean \"query_timeout_ms\"?)" '{
  "server": { "listen": ["127.0.0.1:5399"], "query_timeut_ms": 3 },
  '"$UP"'
}'
bad "unknown upstream group" "$W/bad.json:"'3:50: routes[0].via: unknown upstream group "hqq" (known: hq, branch)' '{
  '"$UP"',
  "routes": [ { "domains": ["a.example"], "via": "hqq" } ]
}'
bad "two domains rules claiming the same names" "$W/bad.json:"'4:29: routes[1].domains[0]: "a.example" conflicts with "a.example" at' '{
  '"$UP"',
  "routes": [ { "domains": ["a.example"], "via": "hq" },
              { "domains": ["a.example"], "via": "branch" } ]
}'
bad "out of range" "$W/bad.json:"'2:72: upstreams.branch.timeout_ms: must be between 50 and 30000' '{
  "upstreams": { "branch": { "servers": ["127.0.0.1:8"], "timeout_ms": 10 } }
}'
bad "bad address" "$W/bad.json:"'2:42: upstreams.branch.servers[0]' '{
  "upstreams": { "branch": { "servers": ["not-an-ip"] } }
}'
bad "no default" "$W/bad.json: default: " '{
  "upstreams": { "hq": { "servers": ["127.0.0.1:9"] } }
}'
check_has "no default: says what to do" 'add "default": "GROUP"' "$OUT"
bad "zone file error with its line" "$SRCDIR/tests/fixtures/zones/bad-syntax.zone:6: " '{
  '"$UP"',
  "zones": [ { "file": "'"$SRCDIR"'/tests/fixtures/zones/bad-syntax.zone" } ]
}'
run "$ERDNS" check -c "$W/does-not-exist.json"
check_eq "missing file: exit 1" 1 "$RC"
check_has "missing file: says so" "cannot read: No such file or directory" "$OUT"

# Usage and help.
run "$ERDNS"
check_eq "no command: exit 2" 2 "$RC"
run "$ERDNS" frobnicate
check_eq "unknown command: exit 2" 2 "$RC"
run "$ERDNS" check --frob
check_eq "unknown option: exit 2" 2 "$RC"
for cmd in serve check explain ctl; do
	run "$ERDNS" $cmd --help
	check_eq "$cmd --help exits 0" 0 "$RC"
	check_has "$cmd --help prints usage" "usage: erdns $cmd" "$OUT"
	run "$ERDNS" $cmd --version
	check_has "$cmd --version" "erdns 0." "$OUT"
done
run "$ERDNS" --version
check_has "--version" "erdns 0." "$OUT"
finish
