#!/usr/bin/env bash
# contrib/bench/hops.awk (run.sh LAT_HOPS=1) on a hand-written capture, as
# `tcpdump -nn -tt -T domain` prints one: each server's client query tied to
# its forwarded query by name (whatever its case), the upstream answer tied
# to the forward by port and ID, the first forward counting when a query is
# sent twice, and queries missing a hop left out.
. "$(dirname "$0")/lib.sh"

cat >"$W/capture.txt" <<'CAP'
1.000000 IP 127.0.0.1.40000 > 127.0.0.1.15354: 100+ A? a-1.bench.test. (44)
1.000040 IP 127.0.0.1.50000 > 127.0.0.1.15353: 7+ [1au] A? A-1.Bench.TEST. (55)
1.000100 IP 127.0.0.1.15353 > 127.0.0.1.50000: 7*- 1/0/1 A 192.0.2.1 (71)
1.000150 IP 127.0.0.1.15354 > 127.0.0.1.40000: 100*- 1/0/0 A 192.0.2.1 (60)
1.100000 IP 127.0.0.1.40000 > 127.0.0.1.15354: 101+ AAAA? lost-1.bench.test. (47)
1.100030 IP 127.0.0.1.50002 > 127.0.0.1.15353: 8+ [1au] AAAA? lost-1.bench.test. (58)
2.000000 IP 127.0.0.1.40001 > 127.0.0.1.15355: 100+ A? d-1.bench.test. (44)
2.000010 IP 127.0.0.1.50001 > 127.0.0.1.15353: 9+ A? d-1.bench.test. (44)
2.000030 IP 127.0.0.1.15353 > 127.0.0.1.50001: 9*- 1/0/0 A 192.0.2.1 (60)
2.000045 IP 127.0.0.1.15355 > 127.0.0.1.40001: 100*- 1/0/0 A 192.0.2.1 (60)
2.000500 IP 127.0.0.1.50001 > 127.0.0.1.15353: 9+ A? d-1.bench.test. (44)
2.000600 IP 127.0.0.1.15353 > 127.0.0.1.50009: 9*- 1/0/0 A 192.0.2.1 (60)
CAP
got=$(awk -v knot=15353 -v servers="15354:erdns 15355:dnsdist" -f "$SRCDIR/contrib/bench/hops.awk" \
	"$W/capture.txt" | sort | tr '\n' ';')
check_eq "total, in, upstream and out per answered query; the unanswered one left out" \
	"dnsdist 45 10 20 15;erdns 150 40 60 50;" "$got"
finish
