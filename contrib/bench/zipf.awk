# Zipf-like query file for dnsperf: M queries over N names, P(rank r) ~ 1/r^s.
# Usage: awk -v n=100000 -v m=1000000 -v s=1 -v seed=42 -f zipf.awk > zipf.txt
# Every 4th rank lives under office.com (the "domains" route), the rest under
# bench.test (the default route), so both routes are exercised.
function qname(r) { return (r % 4 == 0) ? "z" r ".office.com" : "z" r ".bench.test" }
BEGIN {
	if (n < 1 || m < 1) { print "zipf.awk: need n>=1 and m>=1" > "/dev/stderr"; exit 2 }
	if (s == "") s = 1
	srand(seed == "" ? 42 : seed)
	h = 0
	for (i = 1; i <= n; i++) { h += 1 / (i ^ s); cdf[i] = h }
	for (q = 0; q < m; q++) {
		u = rand() * h
		lo = 1; hi = n
		while (lo < hi) { mid = int((lo + hi) / 2); if (cdf[mid] < u) lo = mid + 1; else hi = mid }
		print qname(lo) " A"
	}
}
