#!/usr/bin/env bash
# Local zones (SPEC 2.3) through the real binary: authoritative answers, CNAME
# inside the zone, wildcard, NODATA and NXDOMAIN with the SOA, consulted
# before routes, never forwarded.
. "$(dirname "$0")/lib.sh"

start_standin UP --id 2
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 1 },
  "upstreams": { "branch": { "servers": ["127.0.0.1:$UP"] }, "hq": { "servers": ["127.0.0.1:$UP"] } },
  "routes": [ { "domains": ["contoso.com"], "via": "hq" } ],
  "zones": [ { "file": "$SRCDIR/zones/branch.contoso.com.zone" } ]
}
JSON
start_erdns "$W/erdns.json"

out=$(q printer.branch.contoso.com)
check_has "A from the zone" "printer.branch.contoso.com. 3600 IN A 10.20.0.10" "$out"
check_has "authoritative (AA)" "flags: qr aa rd ra" "$out"
out=$(q intranet.branch.contoso.com)
check_has "CNAME" "intranet.branch.contoso.com. 3600 IN CNAME files.branch.contoso.com." "$out"
check_has "CNAME target followed inside the zone" "files.branch.contoso.com. 3600 IN A 10.20.0.20" "$out"
check_eq "wildcard synthesised with the query name" "host42.dhcp.branch.contoso.com. 3600 IN A 10.20.0.99" \
	"$(q +noall +answer host42.dhcp.branch.contoso.com | tr -s '\t ' ' ')"
out=$(q -t AAAA printer.branch.contoso.com)
check_has "NODATA: NOERROR" "status: NOERROR" "$out"
check_has "NODATA: SOA in authority, TTL min(SOA TTL, minimum)=300" "branch.contoso.com. 300 IN SOA" "$(echo "$out" | tr -s '\t ' ' ')"
out=$(q nothere.branch.contoso.com)
check_has "NXDOMAIN" "status: NXDOMAIN" "$out"
check_has "NXDOMAIN: SOA in authority" "IN SOA dns1.branch.contoso.com." "$(echo "$out" | tr -s '\t ' ' ')"
check_has "ANY answered minimally (one RRset)" "ANSWER: 1," "$(q -t ANY branch.contoso.com)"
check_has "case echoed" ";PRINTER.Branch.contoso.COM." "$(q PRINTER.Branch.contoso.COM)"
check_has "TCP too" "10.20.0.10" "$(qs +tcp printer.branch.contoso.com)"
check_eq "zone before routes: nothing forwarded" 0 "$(standin_count "$UP_LOG")"
check_eq "outside the zone: routed" "192.0.2.2" "$(qs www.contoso.com)"
check_has "CHAOS routing check names the zone" "zone=branch.contoso.com source=local" "$(qs -c CH -t TXT printer.branch.contoso.com)"

stop_erdns
finish
