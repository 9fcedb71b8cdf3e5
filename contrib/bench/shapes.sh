#!/usr/bin/env bash
# erdns against dnsdist (and Unbound) on misses and the Zipf mix under several client shapes,
# plus miss latency at a fixed rate over several runs: the table of issue 13. Every figure comes
# from contrib/bench/run.sh (same servers, configurations, pinning and knotd), run once per shape;
# each ratio compares servers measured in the same run.sh invocation.
#
# Usage: contrib/bench/shapes.sh [ERDNS_BINARY]        prints a markdown report on stdout
#
# Knobs (environment): SHAPES="8x100 4x200 100x200" (CLIENTSxOUTSTANDING, dnsperf -c and -q;
# 100x200 is many clients with two queries each in flight, as a branch of PCs looks),
# SERVERS="erdns dnsdist unbound", WORKLOADS="miss zipf", RUNS=3, DURATION=10, LAT_QPS=5000,
# LAT_RUNS=5, LAT_SHAPE=4x200, LAT_SERVERS="erdns dnsdist", LAT_TOGETHER=1 (the latency runs put
# LAT_SERVERS on the server CPU at the same time, each under its own dnsperf and with an equal CPU
# share, so the hypervisor's stalls hit them alike; 0: one server after the other), PORT_BASE, and
# anything else run.sh reads. Everything stays on 127.0.0.1, as in run.sh.
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ERDNS=${1:-$HERE/../../build/erdns}
SHAPES=${SHAPES-8x100 4x200 100x200} # SHAPES="" : the latency runs only
SERVERS=${SERVERS:-erdns dnsdist unbound}
WORKLOADS=${WORKLOADS:-miss zipf}
LAT_QPS=${LAT_QPS:-5000}
LAT_RUNS=${LAT_RUNS:-5}
LAT_SHAPE=${LAT_SHAPE:-4x200}
LAT_SERVERS=${LAT_SERVERS:-erdns dnsdist}
LAT_TOGETHER=${LAT_TOGETHER:-1}
export RUNS=${RUNS:-3} DURATION=${DURATION:-10}
DIR=$(mktemp -d /tmp/erdns-shapes.XXXXXX)
CHILD=
trap 'rm -rf "$DIR"' EXIT
# A TERM to this script alone must reach run.sh, whose own trap stops its servers and knotd.
trap '[ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null && wait "$CHILD"; exit 143' INT TERM

run_shape() { # shape out-dir extra-env...
	local shape=$1 out=$2
	shift 2
	env "$@" CLIENTS="${shape%x*}" OUTSTANDING="${shape#*x}" SERVERS="$SERVERS" RSS_N=0 OUT=- \
		RESULTS_OUT="$out" "$HERE/run.sh" bench "$ERDNS" >"$out.md" 2>"$out.err" &
	CHILD=$!
	wait "$CHILD" ||
		{ echo "shapes: run.sh failed for $shape (see below)" >&2; tail -20 "$out.err" >&2; exit 1; }
	CHILD=
}

T0=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for shape in $SHAPES; do
	echo "shapes: $shape" >&2
	run_shape "$shape" "$DIR/$shape" WORKLOADS="$WORKLOADS" LAT_RUNS=0
done
echo "shapes: latency, $LAT_RUNS runs at $LAT_QPS q/s" >&2
run_shape "$LAT_SHAPE" "$DIR/latency" WORKLOADS=miss RUNS=0 LAT_RUNS="$LAT_RUNS" LAT_QPS="$LAT_QPS" \
	LAT_TOGETHER="$LAT_TOGETHER" LAT_SERVERS="$LAT_SERVERS"
T1=$(date +%s)

. "$HERE/report.sh" # median, ratio
col() { # file server workload column
	awk -F'\t' -v s="$2" -v w="$3" -v c="$4" 'NR > 1 && $1 == s && $2 == w && $c ~ /^[0-9.]+$/ { print $c }' "$1"
}

busy() { # q/s CPU-µs-per-answer -> share of one core the server used
	awk -v q="$1" -v c="$2" 'BEGIN { if (q > 0 && c > 0) printf "%.0f %%", q * c / 1e4; else print "-" }'
}

echo "### Client shapes ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "\`contrib/bench/shapes.sh\` with $ERDNS (the repository at $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo '?')); load average $LOAD0 before, $(cut -d' ' -f1-3 /proc/loadavg) after; $((T1 - T0)) s."
echo "One worker per server on CPU ${SERVER_CPU:-1}, dnsperf on CPU ${LOAD_CPU:-0}, knotd on CPU ${UPSTREAM_CPU:-${LOAD_CPU:-0}}; medians of $RUNS runs of $DURATION s, each on a fresh server."
echo "CPU µs per answer: utime+stime of the server over its answers (in parentheses: utime alone). Ratios are erdns / dnsdist."
echo "Server CPU busy: queries/s × CPU µs per answer, the share of its core the server used. Well under 100 % means"
echo "the server waited for queries: dnsperf and knotd on CPU ${LOAD_CPU:-0} set the rate, and CPU µs per answer is the figure to compare."
echo
printf '| shape (dnsperf -c x -q) | workload |'
for s in $SERVERS; do printf ' %s q/s | %s CPU µs |' "$s" "$s"; done
echo ' q/s erdns/dnsdist | CPU erdns/dnsdist | server CPU busy, erdns / dnsdist | max steal |'
printf '|---|---|'
for s in $SERVERS; do printf -- '---:|---:|'; done
echo '---:|---:|---:|---:|'
for shape in $SHAPES; do
	f=$DIR/$shape/results.tsv
	for wl in $WORKLOADS; do
		printf '| %s | %s |' "$shape" "$wl"
		for s in $SERVERS; do
			printf ' %s | %s (%s) |' "$(col "$f" "$s" "$wl" 4 | median)" "$(col "$f" "$s" "$wl" 8 | median)" "$(col "$f" "$s" "$wl" 14 | median)"
		done
		eq=$(col "$f" erdns "$wl" 4 | median)
		dq=$(col "$f" dnsdist "$wl" 4 | median)
		ec=$(col "$f" erdns "$wl" 8 | median)
		dc=$(col "$f" dnsdist "$wl" 8 | median)
		steal=$(awk -F'\t' -v w="$wl" 'NR > 1 && $2 == w { print $13 }' "$f" | sort -g | tail -1)
		echo " $(ratio "$eq" "$dq") | $(ratio "$ec" "$dc") | $(busy "$eq" "$ec") / $(busy "$dq" "$dc") | ${steal:--}% |"
	done
done
echo
L=$DIR/latency/latency.tsv
if [ "$LAT_TOGETHER" = 1 ]; then
	echo "Miss latency at a fixed $LAT_QPS queries/s, shape $LAT_SHAPE, $LAT_RUNS runs of ${LAT_DURATION:-10} s; in each run $LAT_SERVERS"
	echo "ran at the same time on the server CPU, each under its own dnsperf ($(grep -o 'each in a cgroup[^.]*\|without equal CPU shares' "$DIR/latency.md" | head -1)). Microseconds:"
else
	echo "Miss latency at a fixed $LAT_QPS queries/s, shape $LAT_SHAPE, $LAT_RUNS runs of ${LAT_DURATION:-10} s per server (one server at a time, each on a fresh server), microseconds:"
fi
echo
echo "| server | run | answered | lost | p50 | p90 | p99 | p99.9 | max | steal |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s%% |\n", $1, $3, $5, $6, $8, $9, $10, $11, $12, $15 }' "$L"
echo
for s in $LAT_SERVERS; do
	printf '%s: p99 median %s µs, worst %s µs.\n' "$s" "$(col "$L" "$s" miss 10 | median)" "$(col "$L" "$s" miss 10 | sort -g | tail -1)"
done
if [ "$LAT_TOGETHER" = 1 ] && [[ " $LAT_SERVERS " == *" erdns "* && " $LAT_SERVERS " == *" dnsdist "* ]]; then
	# the same run's p99s, erdns over dnsdist
	awk -F'\t' 'NR > 1 && $10 ~ /^[0-9]+$/ { p[$3, $1] = $10; if ($3 > last) last = $3 }
		END {
			for (r = 1; r <= last; r++) if (p[r, "erdns"] != "" && p[r, "dnsdist"] > 0) {
				n++; x = p[r, "erdns"] / p[r, "dnsdist"]; list = list sep sprintf("%.2f", x); sep = ", "
				if (p[r, "erdns"] <= p[r, "dnsdist"]) k++
			}
			printf "erdns p99 / dnsdist p99 per run: %s; erdns no worse in %d of %d runs.\n", list, k, n
		}' "$L"
fi
