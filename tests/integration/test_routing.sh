#!/usr/bin/env bash
# Routing through the real binary (SPEC 2.2): every rule form, precedence,
# the default path, CNAME chains relayed whole, case echo, CHAOS answers
# (rules shown as their source writes them: the operator's "=" form, and
# Microsoft's URLs from an m365 route over the small fixture list).
. "$(dirname "$0")/lib.sh"

start_standin HQ --id 1 --name hq
start_standin BR --id 2 --name branch
start_standin XX --id 3 --name extra
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2, "identity": "it-routing" },
  "upstreams": {
    "hq":     { "servers": ["127.0.0.1:$HQ"] },
    "branch": { "servers": ["127.0.0.1:$BR"] },
    "extra":  { "servers": ["127.0.0.1:$XX"], "select": "ordered" }
  },
  "routes": [
    { "domains": ["outlook.office.com", "*.outlook.office.com", "*cdn.onenote.net",
                  "autodiscover.*.onmicrosoft.com"], "via": ["hq", "branch"] },
    { "domains": ["*.office.com"], "via": "branch" },
    { "domains": ["*.officeapps.live.com"], "via": "hq" },
    { "domains": ["=cdn.odc.officeapps.live.com"], "via": "branch" },
    { "domains": ["corp.example"], "via": "extra" },
    { "domains": ["*.below.example"], "via": "extra" },
    { "domains": ["x-*.glob.example"], "via": "extra" },
    { "domains": ["sub.glob.example"], "via": "hq" },
    { "m365": { "file": "$SRCDIR/tests/fixtures/m365/small.json" }, "via": ["hq", "branch"] }
  ],
  "default": "branch"
}
JSON
start_erdns "$W/erdns.json"

A_HQ=192.0.2.1 A_BR=192.0.2.2 A_XX=192.0.2.3
check_eq "exact name (subtree rule apex) -> hq" "$A_HQ" "$(qs outlook.office.com)"
check_eq "*.x rule -> hq" "$A_HQ" "$(qs a.b.outlook.office.com)"
check_eq "deeper anchor beats *.office.com" "$A_HQ" "$(qs mail.outlook.office.com)"
check_eq "*.office.com -> branch" "$A_BR" "$(qs www.office.com)"
check_eq "*.office.com does not match office.com itself (default)" "$A_BR" "$(qs office.com)"
check_eq "glob *cdn.onenote.net matches cdn.onenote.net" "$A_HQ" "$(qs cdn.onenote.net)"
check_eq "glob *cdn.onenote.net matches xyzcdn.onenote.net" "$A_HQ" "$(qs xyzcdn.onenote.net)"
check_eq "glob does not match onenote.net" "$A_BR" "$(qs onenote.net)"
check_eq "glob with * in the middle" "$A_HQ" "$(qs autodiscover.contoso.onmicrosoft.com)"
check_eq "glob * spans dots" "$A_HQ" "$(qs autodiscover.a.b.onmicrosoft.com)"
check_eq "wildcard on hq" "$A_HQ" "$(qs ny.officeapps.live.com)"
check_eq "exact exception beneath it -> branch" "$A_BR" "$(qs cdn.odc.officeapps.live.com)"
check_eq "below the exception: wildcard again" "$A_HQ" "$(qs x.cdn.odc.officeapps.live.com)"
check_eq "subtree rule: the name itself" "$A_XX" "$(qs corp.example)"
check_eq "subtree rule: below" "$A_XX" "$(qs a.b.corp.example)"
check_eq "*.x rule: not the name itself" "$A_BR" "$(qs below.example)"
check_eq "*.x rule: below" "$A_XX" "$(qs host.below.example)"
check_eq "glob at anchor glob.example" "$A_XX" "$(qs x-1.glob.example)"
check_eq "deeper subtree anchor beats glob" "$A_HQ" "$(qs x-1.sub.glob.example)"
check_eq "default route" "$A_BR" "$(qs www.example.org)"
check_eq "matching is case-insensitive" "$A_HQ" "$(qs OUTLOOK.Office.COM)"

# Case echo: the question section comes back exactly as asked.
out=$(q WwW.OuTLook.OFFICE.com | tr -s '\t ' ' ')
check_has "question case echoed" ";WwW.OuTLook.OFFICE.com." "$out"
check_has "answer owner case echoed (upstream echo relayed)" "WwW.OuTLook.OFFICE.com. 60 IN A" "$out"

# CNAME chains are relayed whole and stay on the first name's path.
out=$(q cname1.outlook.office.com | tr -s '\t ' ' ')
check_has "CNAME relayed" "CNAME" "$out"
check_has "CNAME target's A relayed from the same upstream" "target.cname1.outlook.office.com. 60 IN A $A_HQ" "$out"
check_eq "upstream saw only the first name" 0 "$(grep -c '^udp target' "$HQ_LOG" "$BR_LOG" | awk -F: '{s+=$2} END {print s}')"

# AAAA and TXT pass through.
check_eq "AAAA forwarded" "2001:db8::1" "$(qs AAAA outlook.office.com)"
check_eq "TXT forwarded" '"standin=branch"' "$(qs TXT www.example.org)"
# NXDOMAIN relayed with its SOA.
out=$(q nx.example.org)
check_has "NXDOMAIN relayed" "status: NXDOMAIN" "$out"
check_has "with SOA" "SOA" "$out"

# CHAOS routing check.
txt=$(qs -c CH -t TXT mail.outlook.office.com)
check_has "CHAOS: rule" "rule=*.outlook.office.com" "$txt"
check_has "CHAOS: source file and line" "source=erdns.json:9:41" "$txt"
check_has "CHAOS: via chain" "via=hq,branch" "$txt"
check_has "CHAOS: upstream" "upstream=127.0.0.1:$HQ" "$txt"
check_has "CHAOS: rtt after use" "rtt_ms=" "$txt"
txt=$(qs -c CH -t TXT cdn.odc.officeapps.live.com)
check_has "CHAOS: an operator's exact rule as written" "view=- rule==cdn.odc.officeapps.live.com source=erdns.json:13:19 via=branch" "$txt"
check_eq "m365 exact URL -> hq" "$A_HQ" "$(qs teams.example.net)"
txt=$(qs -c CH -t TXT teams.example.net)
check_has "CHAOS: an imported host as Microsoft's list has it" "view=- rule=teams.example.net source=m365:12 via=hq,branch" "$txt"
txt=$(qs -c CH -t TXT a.teams.example.net)
check_has "CHAOS: an imported *. URL" "view=- rule=*.teams.example.net source=m365:12 via=hq,branch" "$txt"
txt=$(qs -c CH -t TXT cdn.odc.officeapps.example.org)
check_has "CHAOS: an m365 exception as Microsoft's list has it" "view=- rule=cdn.odc.officeapps.example.org source=m365:91 via=branch" "$txt"
out=$("$ERDNS" explain -c "$W/erdns.json" teams.example.net)
check_has "explain: the same text as CHAOS" "view=- rule=teams.example.net source=m365:12 via=hq,branch" "$out"
check_has "explain: rule line as Microsoft's list has it" "rule:    teams.example.net (exact name)" "$out"
txt=$(qs -c CH -t TXT www.example.org)
check_has "CHAOS: default" "view=- rule=default source=config via=branch" "$txt"
check_eq "id.server" '"it-routing"' "$(qs -c CH -t TXT id.server)"
check_eq "hostname.bind" '"it-routing"' "$(qs -c CH -t TXT hostname.bind)"
check_has "version.server" '"erdns ' "$(qs -c CH -t TXT version.server)"
check_eq "CH TXT answer is authoritative" "qr aa rd ra" "$(qflags -c CH -t TXT id.server)"

# explain --live asks the running server for the same answer.
live=$("$ERDNS" explain -c "$W/erdns.json" mail.outlook.office.com --live 2>&1)
check_has "explain --live: the server's own routing answer" "live:    \"view=- rule=*.outlook.office.com" "$live"
check_has "explain --live: with the server it would ask now" "upstream=127.0.0.1:$HQ rtt_ms=" "$live"

stop_erdns

live=$("$ERDNS" explain -c "$W/erdns.json" mail.outlook.office.com --live 2>&1)
check_eq "explain --live with the server stopped: exit 1" 1 "$?"
check_has "explain --live with the server stopped: says so" "is erdns serving?" "$live"
finish
