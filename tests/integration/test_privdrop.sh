#!/usr/bin/env bash
# `server.user` (SPEC 4): erdns binds as root, then runs as the given user;
# an unknown user is refused at start. Needs root (CI runs as root).
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	not_ok "this test changes user and must run as root"
	finish
	exit 1
fi
start_standin UP --id 2
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2, "user": "nobody" },
  "upstreams": { "branch": { "servers": ["127.0.0.1:$UP"] } },
  "zones": [ { "file": "$SRCDIR/zones/branch.contoso.com.zone" } ]
}
JSON
chmod 755 "$W"
start_erdns "$W/erdns.json"
uid=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$ERDNS_PID/status")
nobody=$(id -u nobody)
check_eq "every uid of the process is nobody's" "$nobody $nobody $nobody $nobody" "$uid"
check_eq "gid dropped too" "$(id -g nobody)" "$(awk '/^Gid:/ {print $2}' "/proc/$ERDNS_PID/status")"
check_eq "supplementary groups dropped" "" "$(awk '/^Groups:/ {print $2}' "/proc/$ERDNS_PID/status")"
check_has "the log says so" "running as user nobody" "$(cat "$W/erdns.log")"
check_eq "still answers (forwarded)" "192.0.2.2" "$(qs www.example.org)"
check_eq "still answers (local zone)" "10.20.0.10" "$(qs printer.branch.contoso.com)"
stop_erdns

sed -i 's/"user": "nobody"/"user": "no-such-user-erdns"/' "$W/erdns.json"
out=$("$ERDNS" serve -c "$W/erdns.json" 2>&1)
check_eq "unknown user: exit 1" 1 "$?"
check_has "unknown user: named" 'no such user "no-such-user-erdns"' "$out"
finish
