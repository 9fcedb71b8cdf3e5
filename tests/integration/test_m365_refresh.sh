#!/usr/bin/env bash
# contrib/m365-refresh.sh against a local web service (python3 http.server on
# 127.0.0.1 serving fixture files as /version/Worldwide and
# /endpoints/Worldwide) and a running erdns: a newer version is downloaded,
# checked, diffed, installed (previous kept as .prev) and the server reloaded
# (the new rules answer through dig); the same version does nothing (no
# download, no reload); a malformed list is rejected and the installed file
# stays. Also `erdns m365 diff` exit codes.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || { echo "FAIL: curl is required (contrib/dev.sh installs it)"; exit 1; }
FX="$SRCDIR/tests/fixtures/m365"
REFRESH="$SRCDIR/contrib/m365-refresh.sh"

# erdns m365 diff: 0 no change, 3 changes, 1 bad list, 2 usage.
out=$("$ERDNS" m365 diff "$FX/small.json" "$FX/small.json")
check_eq "diff: same list exits 0" 0 $?
check_has "diff: says so" "no change in routing" "$out"
out=$("$ERDNS" m365 diff "$FX/small.json" "$FX/small-v2.json")
check_eq "diff: changes exit 3" 3 $?
check_has "diff: added wildcard" "probe.meet.example.net" "$out"
check_has "diff: exception gone, name back under its wildcard" \
	"static.sharepoint.example                      internet -> expressroute  (rule static.sharepoint.example -> *.sharepoint.example)" "$out"
check_has "diff: summary" "1 added, 2 removed, 3 moved" "$out"
out=$("$ERDNS" m365 diff --json "$FX/small.json" "$FX/small-v2.json")
check_eq "diff --json exits 3" 3 $?
check_eq "diff --json is JSON with the three lists" "1 2 3" \
	"$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["added"]), len(d["removed"]), len(d["moved"]))')"
out=$("$ERDNS" m365 diff --categories Optimize "$FX/small.json" "$FX/small-v2.json")
check_eq "diff with a filter: only Optimize sets route to ER" 3 $?
check_lacks "diff --categories Optimize: smtp (Allow) never ER" "smtp.example.com                               expressroute" "$out"
"$ERDNS" m365 diff "$FX/small.json" "$FX/bad-syntax.json" 2>"$W/err" >/dev/null
check_eq "diff: bad list exits 1" 1 $?
check_has "diff: error names file and LINE:COL" "bad-syntax.json:5:5:" "$(cat "$W/err")"
"$ERDNS" m365 diff "$FX/small.json" 2>/dev/null
check_eq "diff: one file is a usage error" 2 $?
"$ERDNS" m365 diff --expressroute maybe "$FX/small.json" "$FX/small.json" 2>/dev/null
check_eq "diff: bad --expressroute is a usage error" 2 $?
check_eq "m365 --help exits 0" 0 "$("$ERDNS" m365 --help >/dev/null; echo $?)"

# The web service stand-in.
SRV="$W/srv"
mkdir -p "$SRV/version" "$SRV/endpoints"
serve_version() { printf '{"instance":"Worldwide","latest":"%s"}' "$1" >"$SRV/version/Worldwide"; }
# A port taken between free_port and bind is retried, as start_standin does.
for _ in 1 2 3 4 5; do
	HTTP_PORT=$(free_port) || exit 1
	(cd "$SRV" && exec python3 -m http.server --bind 127.0.0.1 "$HTTP_PORT") 2>"$W/http.log" >/dev/null &
	http_pid=$!
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$HTTP_PORT/" >/dev/null && break
		kill -0 "$http_pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$http_pid" 2>/dev/null && curl -fs "http://127.0.0.1:$HTTP_PORT/" >/dev/null && break
	kill "$http_pid" 2>/dev/null
	wait "$http_pid" 2>/dev/null
	http_pid=""
done
[ -n "$http_pid" ] || { echo "the local web service did not start" >&2; cat "$W/http.log" >&2; exit 1; }
BG_PIDS+=("$http_pid")
endpoint_gets() { grep -c 'GET /endpoints/Worldwide' "$W/http.log"; }

# erdns with the old list installed.
start_standin HQ --id 1 --name hq
start_standin BR --id 2 --name branch
PORT=$(free_port)
ETC="$W/etc"
mkdir -p "$ETC"
cp "$FX/small.json" "$ETC/m365-worldwide.json"
cat >"$ETC/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 1 },
  "upstreams": { "hq": { "servers": ["127.0.0.1:$HQ"] }, "branch": { "servers": ["127.0.0.1:$BR"] } },
  "routes": [ { "m365": { "file": "m365-worldwide.json" }, "via": ["hq", "branch"] } ],
  "default": "branch"
}
JSON
start_erdns "$ETC/erdns.json"
check_eq "before: static.sharepoint.example is an exception (branch)" 192.0.2.2 "$(qs static.sharepoint.example)"
check_eq "before: a.meet.example.net is not listed (branch)" 192.0.2.2 "$(qs a.meet.example.net)"

refresh() {
	ERDNS_CONFIG="$ETC/erdns.json" M365_LIST="$ETC/m365-worldwide.json" \
		M365_BASE_URL="http://127.0.0.1:$HTTP_PORT" M365_STATE_DIR="$W/state" \
		M365_RELOAD="touch $W/reloaded; kill -HUP $ERDNS_PID" ERDNS="$ERDNS" \
		bash "$REFRESH" "$@" >"$W/refresh.out" 2>&1
}

# 1. A newer version: installed, previous kept, server reloaded.
serve_version 2026080100
cp "$FX/small-v2.json" "$SRV/endpoints/Worldwide"
refresh
check_eq "newer version: exit 0" 0 $?
out=$(cat "$W/refresh.out")
check_has "newer version: downloaded" "version none -> 2026080100: downloading" "$out"
check_has "newer version: diff printed" "1 added, 2 removed, 3 moved" "$out"
check_eq "newer version: installed" "" "$(cmp "$FX/small-v2.json" "$ETC/m365-worldwide.json" 2>&1)"
check_eq "newer version: previous kept as .prev" "" "$(cmp "$FX/small.json" "$ETC/m365-worldwide.json.prev" 2>&1)"
check_eq "newer version: reload command ran" yes "$([ -e "$W/reloaded" ] && echo yes)"
for _ in $(seq 100); do grep -q "configuration reloaded" "$W/erdns.log" && break; sleep 0.05; done
check_eq "after reload: static.sharepoint.example under *.sharepoint.example (hq)" 192.0.2.1 "$(qs static.sharepoint.example)"
check_eq "after reload: new *.meet.example.net (hq)" 192.0.2.1 "$(qs a.meet.example.net)"
check_eq "no temporary files left" "" "$(ls -A "$ETC" | grep -v -e '^erdns.json$' -e '^m365-worldwide.json$' -e '^m365-worldwide.json.prev$')"
id=$(cat "$W/state/clientrequestid")
check_has "clientrequestid is a GUID" "-" "$id"
check_has "clientrequestid sent to /version" "GET /version/Worldwide?clientrequestid=$id" "$(cat "$W/http.log")"
check_has "clientrequestid sent to /endpoints" "GET /endpoints/Worldwide?clientrequestid=$id" "$(cat "$W/http.log")"

# 2. The same version: nothing downloaded, nothing reloaded.
rm -f "$W/reloaded"
gets=$(endpoint_gets)
refresh
check_eq "same version: exit 0" 0 $?
check_has "same version: nothing to do" "2026080100 is installed; nothing to do" "$(cat "$W/refresh.out")"
check_eq "same version: no download" "$gets" "$(endpoint_gets)"
check_eq "same version: no reload" no "$([ -e "$W/reloaded" ] && echo yes || echo no)"
check_eq "same clientrequestid reused" "$id" "$(cat "$W/state/clientrequestid")"

# 3. A newer but malformed list: rejected, installed file and server unchanged.
serve_version 2026090100
cp "$FX/bad-syntax.json" "$SRV/endpoints/Worldwide"
refresh
check_eq "malformed list: exit 1" 1 $?
out=$(cat "$W/refresh.out")
check_has "malformed list: erdns check's error shown" ":5:5: unexpected character" "$out"
check_has "malformed list: not installed" "not installed" "$out"
check_eq "malformed list: installed file unchanged" "" "$(cmp "$FX/small-v2.json" "$ETC/m365-worldwide.json" 2>&1)"
check_eq "malformed list: .prev unchanged" "" "$(cmp "$FX/small.json" "$ETC/m365-worldwide.json.prev" 2>&1)"
check_eq "malformed list: no reload" no "$([ -e "$W/reloaded" ] && echo yes || echo no)"
check_eq "malformed list: version not recorded" 2026080100 "$(cat "$W/state/version-Worldwide")"
check_eq "no temporary files left after a rejection" "" "$(ls -A "$ETC" | grep -v -e '^erdns.json$' -e '^m365-worldwide.json$' -e '^m365-worldwide.json.prev$')"
check_eq "server still routes with the installed list" 192.0.2.1 "$(qs a.meet.example.net)"

# 4. An error body instead of a list (HTTP 200, JSON object): rejected too.
serve_version 2026090101
printf '{"error":"Too many requests"}' >"$SRV/endpoints/Worldwide"
refresh
check_eq "error body: exit 1" 1 $?
check_has "error body: explained" "an error reply?" "$(cat "$W/refresh.out")"
refresh --instance Nowhere
check_eq "unknown instance: usage" 2 $?

stop_erdns
finish
