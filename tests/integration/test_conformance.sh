#!/usr/bin/env bash
# Protocol conformance (issue 14, SPEC 3 and the RFCs it leans on): header
# bits as the RFCs say (RD and CD copied, AD only for a client that asked,
# nothing but QR/opcode/RD for an unknown opcode), TSIG answered NOTAUTH/
# BADKEY or FORMERR, class ANY answered, RD=0 refused outside local zones.
# Two upstreams: PLAIN neither echoes CD nor sets AD; VALID plays a
# validating resolver (AD=1) that echoes CD. Driven by dig, kdig and raw
# packets (rawdns.py).
. "$(dirname "$0")/lib.sh"
RAW="python3 $SRCDIR/tests/integration/rawdns.py"

start_standin PLAIN --id 2
start_standin VALID --id 3 --set-ad --echo-cd
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2 },
  "upstreams": {
    "branch": { "servers": ["127.0.0.1:$PLAIN"] },
    "hq":     { "servers": ["127.0.0.1:$VALID"] }
  },
  "routes": [ { "domains": ["valid.test"], "via": "hq" } ],
  "zones": [ { "file": "$SRCDIR/zones/branch.contoso.com.zone" } ]
}
JSON
start_erdns "$W/erdns.json"

flags_of() { sed -n 's/.*;; flags: \([a-z ]*\);.*/\1/p' | head -1; }
status_of() { sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -1; }

# 1. RD (RFC 1035 4.1.1): copied. RD=0 asks for what erdns holds itself:
# its local zones; the cache is not offered (no snooping), so REFUSED with
# EDE 20 (Not Authoritative) elsewhere.
out=$(q www.plain.test)
check_eq "RD=1: rd copied" "qr rd ra" "$(echo "$out" | flags_of)"
out=$(q +norec www.plain.test)
check_eq "RD=0 outside local zones: REFUSED" "REFUSED" "$(echo "$out" | status_of)"
check_eq "RD=0: no rd in the reply" "qr ra" "$(echo "$out" | flags_of)"
check_has "RD=0: EDE 20 says why" "EDE: 20" "$out"
out=$(q +norec printer.branch.contoso.com)
check_eq "RD=0 in a local zone: answered" "NOERROR" "$(echo "$out" | status_of)"
check_eq "RD=0 in a local zone: aa, no rd" "qr aa ra" "$(echo "$out" | flags_of)"
check_eq "raw RD=0 query: RD clear in the reply" "flags=0x8085 rcode=5 qd=1 an=0" \
	"$($RAW "$PORT" header 0x0000 www.plain.test)"

# 2. CD (RFC 4035 3.2.2): the server MUST copy it, even when the upstream
# does not echo it, from the cache too.
out=$(q +cd +dnssec cd.plain.test)
check_has "CD=1 copied though the upstream did not echo it" " cd" "$(echo "$out" | flags_of)"
out=$(q +cd +dnssec cd.plain.test)
check_has "CD=1 copied on a cache hit" " cd" "$(echo "$out" | flags_of)"
out=$(q +nocdflag cd.plain.test)
check_lacks "CD=0: no cd" " cd" "$(echo "$out" | flags_of)"

# 3. AD (RFC 6840 5.7, RFC 4035 3.2.3): the upstream's AD, to a client that
# asked with AD=1 or DO=1 only; from the cache alike.
check_has "AD=1 DO=0: ad relayed" " ad" "$(q +adflag www.valid.test | flags_of)"
check_lacks "AD=0 DO=0: no ad (same cached answer)" " ad" "$(q +noadflag www.valid.test | flags_of)"
check_has "AD=0 DO=1: ad relayed" " ad" "$(q +noadflag +dnssec www.valid.test | flags_of)"
check_lacks "an upstream without AD: never ad" " ad" "$(q +adflag +dnssec ad.plain.test | flags_of)"
check_has "kdig: AD relayed" "ad" "$(kdig @127.0.0.1 -p "$PORT" +adflag +retry=0 +timeout=4 www.valid.test A | sed -n 's/.*;; Flags: \(.*\); QUERY.*/\1/p')"

# 4. Opcodes other than QUERY: NOTIMP with QR, the opcode and RD only, and
# no question (RFC 6895 2.2); every flag set in the query changes nothing.
check_eq "opcode 15, every flag set: QR, opcode, RD, NOTIMP, no question" \
	"flags=0xf904 rcode=4 qd=0 an=0" "$($RAW "$PORT" header 0x7ff0 www.plain.test)"
check_eq "opcode 15, no flag: QR, opcode, NOTIMP" "flags=0xf804 rcode=4 qd=0 an=0" \
	"$($RAW "$PORT" header 0x7800 www.plain.test)"
check_eq "NOTIFY (opcode 4): NOTIMP" "flags=0xa004 rcode=4 qd=0 an=0" \
	"$($RAW "$PORT" header 0x2000 www.plain.test)"

# 5. TSIG (RFC 8945 5.2.1): no key is held, so NOTAUTH with an unsigned TSIG
# RR, error BADKEY (17); a malformed TSIG record is FORMERR.
check_eq "signed with an unknown key: NOTAUTH, BADKEY" "rcode=9 tsig=17" \
	"$($RAW "$PORT" tsig tsig1.plain.test GOOD)"
check_eq "a malformed TSIG record: FORMERR" "rcode=1 tsig=none" \
	"$($RAW "$PORT" tsig tsig2.plain.test BAD)"
out=$(kdig @127.0.0.1 -p "$PORT" +retry=0 +timeout=4 -y hmac-sha256:branch-key:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0 tsig3.plain.test A 2>&1)
check_has "kdig with a TSIG key: NOTAUTH shown with its TSIG error" "status: BADKEY" "$out"
check_has "kdig: the TSIG RR is unsigned (MAC size 0) with error BADKEY" " 300 0 " "$out"
# names of their own: a name already cached would hide a forward
check_eq "the signed queries never reached an upstream" 0 "$(grep -c 'tsig[0-9].plain.test' "$PLAIN_LOG")"

# 6. Class ANY (RFC 1035 3.2.5): forwarded and answered; local zones answer
# it from their IN data; other classes stay NOTIMP.
out=$(q -c ANY any.plain.test A)
check_eq "class ANY forwarded: NOERROR" "NOERROR" "$(echo "$out" | status_of)"
check_has "class ANY: the answer" "192.0.2.2" "$out"
check_eq "class ANY in a local zone: NOERROR" "NOERROR" "$(q -c ANY printer.branch.contoso.com A | status_of)"
check_eq "class HS: NOTIMP" "NOTIMP" "$(q -c HS www.plain.test A | status_of)"

stop_erdns
finish
