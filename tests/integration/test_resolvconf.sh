#!/usr/bin/env bash
# `resolv.conf:PATH` servers (SPEC 2.1): nameserver lines become the group's
# servers (port 53), this server's own listen addresses are skipped. The
# fixture is written here; /etc/resolv.conf is never used by a test.
# Port 53 on 127.53.0.x needs root (CI runs as root).
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	not_ok "this test binds 127.53.0.x:53 and must run as root"
	finish
	exit 1
fi

"$STANDIN" --listen 127.53.0.1:53 --id 5 --log "$W/ns.log" >"$W/ns.out" 2>&1 &
BG_PIDS+=($!)
for _ in $(seq 100); do grep -qx ready "$W/ns.out" && break; sleep 0.05; done
PORT=$(free_port)
cat >"$W/resolv.conf" <<'CONF'
# written by the test
search corp.example
options edns0 timeout:1
nameserver 127.53.0.9
nameserver 127.53.0.1
CONF
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT", "127.53.0.9:53"], "threads": 1 },
  "upstreams": { "branch": { "servers": ["resolv.conf:resolv.conf"], "select": "ordered" } }
}
JSON
out=$("$ERDNS" check -c "$W/erdns.json" 2>&1)
check_has "check lists the resolv.conf server" "127.53.0.1:53" "$out"
groups=$(echo "$out" | sed -n '/^upstream groups/,/^chains/p')
check_has "check lists the resolv.conf server under the group" "127.53.0.1:53" "$groups"
check_lacks "check skips this server's own address" "127.53.0.9" "$groups"
start_erdns "$W/erdns.json"
check_eq "answer through the resolv.conf nameserver" "192.0.2.5" "$(qs www.example.org)"
check_eq "also on the second listen address" "192.0.2.5" "$(dig @127.53.0.9 +tries=1 +time=3 +short www2.example.org)"
check_has "routing check names it" "upstream=127.53.0.1:53" "$(qs -c CH -t TXT www.example.org)"
check_eq "the nameserver saw the queries" 2 "$(standin_count "$W/ns.log")"
stop_erdns
finish
