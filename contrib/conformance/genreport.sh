#!/usr/bin/env bash
# ISC's DNS compliance tester (genreport, from the DNS-Compliance-Testing project) against
# erdns and, for comparison, Unbound and dnsdist, all forwarding to the same knotd; everything
# on 127.0.0.1. genreport is not part of this repository: point this script at a local
# checkout (it is built here with autotools; it needs libssl-dev and glibc's libresolv) or at
# a built binary.
#
# Usage:
#   contrib/conformance/genreport.sh --src DIR [--erdns BIN] [--peers "unbound dnsdist"]
#   contrib/conformance/genreport.sh --genreport BIN [--erdns BIN] [--peers ""]
#
# Runs genreport in resolver mode with every test group it offers: -R -f -c -s (EDNS, FULL,
# COMMON, serial), dnswkk (TSIG with the well-known key; -i selects it alone), and the type
# tests (-R -t), then
# prints one table: test, and each server's result ("ok" or genreport's tags).
# Every server is configured never to reach out on its own; every process started here is
# stopped on exit; nothing leaves the loopback interface.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin" LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SRC= GENREPORT= ERDNS=$ROOT/build/erdns PEERS="unbound dnsdist"
while [ $# -gt 0 ]; do
	case $1 in
	--src) SRC=$2; shift 2 ;;
	--genreport) GENREPORT=$2; shift 2 ;;
	--erdns) ERDNS=$2; shift 2 ;;
	--peers) PEERS=$2; shift 2 ;;
	-h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "genreport.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
[ -x "$ERDNS" ] || { echo "genreport.sh: no erdns binary at $ERDNS" >&2; exit 2; }
WORK=$(mktemp -d /tmp/erdns-genreport.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "$GENREPORT" ]; then
	[ -n "$SRC" ] || { echo "genreport.sh: give --src DIR or --genreport BIN" >&2; exit 2; }
	echo "genreport.sh: building genreport from $SRC" >&2
	cp -r "$SRC" "$WORK/src"
	(cd "$WORK/src" && autoreconf -fi >/dev/null 2>&1 &&
		./configure -q LIBS=-lresolv >/dev/null && make -s >/dev/null) ||
		{ echo "genreport.sh: build failed (needs autoconf automake libssl-dev)" >&2; exit 1; }
	GENREPORT=$WORK/src/genreport
fi
SRC_COMMIT=$( [ -n "$SRC" ] && git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo "?")

port() { # a free UDP+TCP port on 127.0.0.1
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		ss -Hltnu "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
	return 1
}
await() { # port: answers within 5 s
	for _ in $(seq 100); do
		dig @127.0.0.1 -p "$1" +tries=1 +time=1 +short www.example.test A 2>/dev/null | grep -q 192.0.2 && return 0
		sleep 0.05
	done
	echo "genreport.sh: nothing answers on 127.0.0.1:$1" >&2
	return 1
}

KNOT=$(port)
mkdir -p "$WORK/knot"
cat >"$WORK/knot/example.test.zone" <<Z
\$ORIGIN example.test.
@ 3600 SOA ns hostmaster 1 3600 600 86400 300
@ 3600 NS ns
@ 3600 A 192.0.2.1
@ 3600 AAAA 2001:db8::1
@ 3600 MX 10 mail
@ 3600 TXT "conformance"
ns 3600 A 192.0.2.53
mail 3600 A 192.0.2.25
www 3600 A 192.0.2.80
Z
cat >"$WORK/knot/knot.conf" <<K
server:
    listen: 127.0.0.1@$KNOT
    rundir: $WORK/knot
log:
  - target: stderr
    any: error
database:
    storage: $WORK/knot
zone:
  - domain: example.test
    file: $WORK/knot/example.test.zone
K
knotd -c "$WORK/knot/knot.conf" >"$WORK/knotd.log" 2>&1 &
PIDS+=($!)
await "$KNOT"

declare -A PORT
SERVERS=(erdns $PEERS)
for s in "${SERVERS[@]}"; do
	PORT[$s]=$(port)
	case $s in
	erdns)
		cat >"$WORK/erdns.json" <<J
{ "server": { "listen": ["127.0.0.1:${PORT[$s]}"], "threads": 2 },
  "upstreams": { "branch": { "servers": ["127.0.0.1:$KNOT"] } } }
J
		"$ERDNS" serve -c "$WORK/erdns.json" 2>"$WORK/erdns.log" & ;;
	unbound)
		cat >"$WORK/unbound.conf" <<U
server:
    interface: 127.0.0.1@${PORT[$s]}
    port: ${PORT[$s]}
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$WORK"
    pidfile: "$WORK/unbound.pid"
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    local-zone: "test." nodefault
    module-config: "iterator"
    use-syslog: no
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$KNOT
U
		unbound -d -c "$WORK/unbound.conf" >"$WORK/unbound.log" 2>&1 & ;;
	dnsdist)
		cat >"$WORK/dnsdist.conf" <<D
setLocal("127.0.0.1:${PORT[$s]}")
setACL({"127.0.0.0/8"})
setSecurityPollSuffix("")
newServer({address="127.0.0.1:$KNOT", checkName="example.test."})
D
		dnsdist --supervised --disable-syslog -C "$WORK/dnsdist.conf" >"$WORK/dnsdist.log" 2>&1 & ;;
	*) echo "genreport.sh: unknown peer $s" >&2; exit 2 ;;
	esac
	PIDS+=($!)
	await "${PORT[$s]}"
done

# genreport prints "zone. @addr (server.): test=result test=result ..." per server
for s in "${SERVERS[@]}"; do
	{
		echo "example.test $s 127.0.0.1" | "$GENREPORT" -P "${PORT[$s]}" -R -f -c -s
		echo "example.test $s 127.0.0.1" | "$GENREPORT" -P "${PORT[$s]}" -R -i dnswkk
		echo "example.test $s 127.0.0.1" | "$GENREPORT" -P "${PORT[$s]}" -R -t
	} 2>&1 | tr ' ' '\n' | grep '=' >"$WORK/result-$s.txt"
done

echo "genreport (DNS-Compliance-Testing ${SRC_COMMIT}) in resolver mode against erdns $("$ERDNS" --version | awk '{print $NF}')$(for s in $PEERS; do printf ', %s' "$s"; done), all forwarding to knotd on 127.0.0.1"
echo
printf '| test |'; for s in "${SERVERS[@]}"; do printf ' %s |' "$s"; done; echo
printf '|---|'; for s in "${SERVERS[@]}"; do printf -- '---|'; done; echo
cut -d= -f1 "$WORK/result-erdns.txt" | awk '!seen[$0]++' | while read -r t; do
	printf '| %s |' "$t"
	for s in "${SERVERS[@]}"; do
		printf ' %s |' "$(awk -F= -v t="$t" '$1 == t { print $2; exit }' "$WORK/result-$s.txt")"
	done
	echo
done
