# Latency percentiles from `dnsperf -v` output (one "> RCODE NAME TYPE SECONDS" line per
# answered query; dnsperf 2.10 has no histogram of its own).
# Usage: dnsperf -v ... | awk -f latency.awk   -> "n p50 p90 p99 p99.9 max" in microseconds
$1 == ">" && NF >= 5 && $NF ~ /^[0-9.]+$/ { v[++n] = $NF * 1e6 }
function pct(p,   i) { i = int(p * n + 0.999999); if (i < 1) i = 1; if (i > n) i = n; return v[i] }
function isort(a, k,   i, j, t) {  # heap sort, mawk has no asort
	for (i = int(k / 2); i >= 1; i--) sift(a, i, k)
	for (i = k; i > 1; i--) { t = a[1]; a[1] = a[i]; a[i] = t; sift(a, 1, i - 1) }
}
function sift(a, i, k,   c, t) {
	while ((c = 2 * i) <= k) {
		if (c < k && a[c + 1] > a[c]) c++
		if (a[i] >= a[c]) return
		t = a[i]; a[i] = a[c]; a[c] = t; i = c
	}
}
END {
	if (n == 0) { print "0 - - - - -"; exit }
	isort(v, n)
	printf "%d %.0f %.0f %.0f %.0f %.0f\n", n, pct(0.5), pct(0.9), pct(0.99), pct(0.999), v[n]
}
