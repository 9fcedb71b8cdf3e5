# Per-query hop times of forwarders from a capture of lo (contrib/bench/run.sh LAT_HOPS=1).
# Input: `tcpdump -r FILE -nn -tt -T domain` lines. Each server's queries carry names of their own
# (run.sh's unique_file), so a forwarded query is tied to its client query by the question name,
# and an answer to its query by the destination port and the DNS ID.
# Usage: ... | awk -v knot=PORT -v servers="PORT:NAME PORT:NAME" -f hops.awk
# Output, one line per query seen from start to end:
#   server total_us in_us upstream_us out_us
# in = client query to forwarded query, upstream = forwarded query to upstream answer,
# out = upstream answer to the reply.
BEGIN {
	n = split(servers, list, " ")
	for (i = 1; i <= n; i++) { split(list[i], kv, ":"); name_of[kv[1]] = kv[2] }
}
function port(addr,   k) { k = split(addr, p, "."); return p[k] }
$2 == "IP" && $4 == ">" {
	t = $1 + 0
	sp = port($3)
	dst = $5; sub(/:$/, "", dst); dp = port(dst)
	id = $6; sub(/[^0-9].*$/, "", id)
	q = ""
	for (i = 7; i < NF; i++) if ($i == "A?" || $i == "AAAA?") { q = tolower($(i + 1)); break }
	if (dp in name_of) {                     # client query
		if (q != "") { server[q] = name_of[dp]; tq[q] = t; by_client[dp, sp, id] = q }
	} else if (sp in name_of) {              # reply to the client
		q = by_client[sp, dp, id]
		if (q != "" && !(q in tr)) tr[q] = t
	} else if (dp == knot) {                 # forwarded query (the first send counts)
		if (q != "" && !(q in tf)) { tf[q] = t; by_upstream[sp, id] = q }
	} else if (sp == knot) {                 # upstream answer
		q = by_upstream[dp, id]
		if (q != "" && !(q in ta)) ta[q] = t
	}
}
END {
	for (q in tr)
		if ((q in tq) && (q in tf) && (q in ta))
			printf "%s %.0f %.0f %.0f %.0f\n", server[q], (tr[q] - tq[q]) * 1e6, (tf[q] - tq[q]) * 1e6,
				(ta[q] - tf[q]) * 1e6, (tr[q] - ta[q]) * 1e6
}
