#!/usr/bin/env bash
# ACL and hostile input (SPEC 3): clients outside `allow` get REFUSED with no
# answer data; malformed queries get FORMERR when a header can be read and
# are dropped otherwise; nothing crashes or stalls a worker.
. "$(dirname "$0")/lib.sh"
RAW="python3 $SRCDIR/tests/integration/rawdns.py"

start_standin UP --id 2
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2, "allow": ["127.0.0.1/32"] },
  "upstreams": { "branch": { "servers": ["127.0.0.1:$UP"] } }
}
JSON
start_erdns "$W/erdns.json"

check_eq "allowed client answered" "192.0.2.2" "$(qs www.example.org)"
out=$(q -b 127.0.0.9 www.example.org)
check_has "client outside allow: REFUSED" "status: REFUSED" "$out"
check_has "REFUSED carries no answer data" "ANSWER: 0, AUTHORITY: 0" "$out"
check_has "REFUSED over TCP too" "status: REFUSED" "$(q +tcp -b 127.0.0.9 www.example.org)"
check_has "CHAOS refused outside allow" "status: REFUSED" "$(q -b 127.0.0.9 -c CH -t TXT www.example.org)"
before=$(standin_count "$UP_LOG")
q -b 127.0.0.9 other.example.org >/dev/null
check_eq "a refused query is never forwarded" "$before" "$(standin_count "$UP_LOG")"

check_eq "QDCOUNT=2: FORMERR" 1 "$(timeout 5 $RAW "$PORT" formerr)"
check_eq "5-byte datagram: dropped" "no-reply" "$(timeout 5 $RAW "$PORT" short)"
res=$(timeout 60 $RAW "$PORT" garbage 300)
echo "garbage results: $res"
check_lacks "garbage never gets NOERROR" " 0:" " $res"
check_has "garbage with a readable header gets FORMERR (rcode 1) or is dropped" "no-reply" "$res"
check_has "NOTIMP for an opcode other than QUERY" "status: NOTIMP" "$(q +opcode=2 www.example.org)"
check_has "NOTIMP for class HS" "status: NOTIMP" "$(q -c HS www.example.org)"
check_has "NOTIMP for AXFR" "NOTIMPL" "$(kdig @127.0.0.1 -p "$PORT" +timeout=4 -t AXFR example.org 2>&1)"
check_has "BADVERS for EDNS version 1" "status: BADVERS" "$(q +edns=1 +noednsneg www.example.org)"
check_eq "still answering after all that" "192.0.2.2" "$(qs www.example.org)"
check_eq "still answering over TCP" "192.0.2.2" "$(qs +tcp www.example.org)"

stop_erdns
finish
