#!/usr/bin/env bash
# Interop with a real authoritative server: knotd (Debian's knot) on
# loopback as the upstream, kdig as the client. CNAME chains relayed whole,
# a large RRset over the real server's TC=1 -> TCP path, NXDOMAIN with SOA.
. "$(dirname "$0")/lib.sh"

mkdir -p "$W/knot"
cat >"$W/knot/office365.test.zone" <<'ZONE'
$ORIGIN office365.test.
$TTL 300
@            SOA ns hostmaster 1 3600 600 86400 120
@            NS  ns
ns           A   127.0.0.1
outlook      CNAME outlook.ha
outlook.ha   CNAME outlook.ms-acdc
outlook.ms-acdc A 198.51.100.21
ZONE
for i in $(seq 1 90); do echo "many A 198.18.1.$i" >>"$W/knot/office365.test.zone"; done
knot_answers() {
	kdig @127.0.0.1 -p "$KPORT" +short +timeout=1 +retry=0 SOA office365.test | grep -q hostmaster
}

# start_knot: knotd on a free port (retried if the port is taken meanwhile).
start_knot() {
	local try pid
	for try in 1 2 3 4 5; do
		KPORT=$(free_port) || exit 1
		cat >"$W/knot/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$KPORT
    rundir: "$W/knot"
database:
    storage: "$W/knot"
zone:
  - domain: office365.test
    file: "$W/knot/office365.test.zone"
    storage: "$W/knot"
log:
  - target: stderr
    any: warning
CONF
		knotd -c "$W/knot/knot.conf" 2>"$W/knot/knotd.log" &
		pid=$!
		if await_ready "$pid" knot_answers; then
			BG_PIDS+=("$pid")
			return 0
		fi
	done
	echo "knotd did not start:" >&2
	cat "$W/knot/knotd.log" >&2
	exit 1
}
start_knot

PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2 },
  "upstreams": { "hq": { "servers": ["127.0.0.1:$KPORT"] }, "branch": { "servers": ["127.0.0.1:9"] } },
  "routes": [ { "domains": ["office365.test"], "via": "hq" } ]
}
JSON
start_erdns "$W/erdns.json"
K="kdig @127.0.0.1 -p $PORT +timeout=4 +retry=0"

out=$($K outlook.office365.test A)
check_has "kdig: NOERROR" "status: NOERROR" "$out"
check_has "whole CNAME chain relayed: first link" "outlook.office365.test." "$out"
check_has "second link" "outlook.ha.office365.test." "$out"
check_has "final address" "198.51.100.21" "$out"
check_eq "three records in the answer" 3 "$($K +short outlook.office365.test A | wc -l)"
check_eq "90-record RRset over TCP from knotd, whole" 90 "$($K +tcp +short many.office365.test A | wc -l)"
check_has "over UDP (EDNS 1232) it is truncated for the client" " tc" "$($K +bufsize=1232 +notcp many.office365.test A | grep -i flags)"
out=$($K nothere.office365.test A)
check_has "NXDOMAIN from knotd relayed" "status: NXDOMAIN" "$out"
check_has "with knotd's SOA" "SOA" "$out"
flags=$($K outlook.office365.test A | grep -i flags)
check_lacks "AA from the authoritative upstream is cleared (erdns is not authoritative)" " aa" "$flags"
check_has "RA set: erdns offers recursion" " ra" "$flags"
stop_erdns
finish
