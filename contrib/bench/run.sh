#!/usr/bin/env bash
# dnsperf benchmark: erdns against Unbound, dnsmasq and dnsdist, all configured as the same
# conditional forwarder in front of the same knotd on 127.0.0.1 (wildcard zones bench.test and
# office.com), on this machine, in one run.
#
# Usage:
#   contrib/bench/run.sh [bench] [ERDNS_BINARY]   full benchmark (default binary: build/erdns);
#                                                 rewrites the generated part of docs/benchmarks.md
#   contrib/bench/run.sh demo [ERDNS_BINARY]      10 s of dnsperf against the README demo
#                                                 (contrib/demo.sh, erdns on 127.0.0.1:5300)
#
# Knobs (environment): RUNS=3 DURATION=10 (seconds per run), LAT_QPS=10000 LAT_DURATION=10
# LAT_RUNS=1 (latency runs at a fixed rate, each on a fresh server), RSS_N=100000 (entries for the memory test), HOT_N=100,
# ZIPF_NAMES=100000 ZIPF_QUERIES=1000000, SERVERS="erdns unbound dnsmasq dnsdist",
# WORKLOADS="hit miss zipf" (a subset for a quick A/B; RSS_N=0 skips the memory test),
# CLIENTS=4 OUTSTANDING=200 (the client shape: dnsperf -c and -q), PORT_BASE=15350, SERVER_CPU=1 LOAD_CPU=0,
# UPSTREAM_CPU=$LOAD_CPU (knotd: by default it shares the load generator's core),
# OUT=docs/benchmarks.md (OUT=- : print the report only), KEEP=1 keeps the work directory,
# ERDNS_AUDIT=1 makes erdns's office.com route an m365 route over a one-set list (m365-bench.json,
# 198.51.100.0/24: knotd's office.com answers are inside), so every office.com miss is judged by
# the ExpressRoute audit (`audit: observe`); compare with ERDNS_AUDIT=0 for the audit's cost.
# ERDNS_EXTRA_SERVER_JSON='"client_qps": 1000000' adds members to erdns's "server" object (e.g. to
# measure the client rate limit's cost while it limits nobody); the report says what was added.
# ERDNS_B=BINARY adds a second erdns build as server "erdns_b" (same configuration, its own port):
# list it in SERVERS / LAT_SERVERS (e.g. SERVERS="erdns erdns_b dnsdist") for an A/B of two builds in
# one run, each beside the same peers.
# ERDNS_QUERYLOG=1 runs erdns with its query log on (every line to a file in the work directory,
# removed after each run; the lines written and dropped are reported). RESULTS_OUT=DIR copies the
# raw tables (results.tsv, latency.tsv) there, for contrib/bench/shapes.sh.
# LAT_TOGETHER=1 runs each latency run with the servers of LAT_SERVERS (default: SERVERS) at once on
# the server CPU, each under its own dnsperf at LAT_QPS and, where the kernel has a cgroup cpu
# controller, in a cgroup of its own with an equal CPU share; the hypervisor's stalls of that CPU then
# fall on all of them alike (see docs/benchmarks.md, issue 13). Default 0: one server at a time.
# LAT_HOPS=1 (with LAT_TOGETHER=1) also captures lo with tcpdump during those runs and reports
# each server's hop times per query (client query -> forwarded query -> upstream answer -> reply;
# contrib/bench/hops.awk). The capture costs CPU 0 some time, so its runs' percentiles run high.
#
# Everything runs on 127.0.0.1; every server is configured never to reach out on its own
# (no root hints, no trust-anchor updates, no security polling); every loop is bounded; every
# process started here is stopped on exit. Missing tools are installed with apt-get (daemons
# are prevented from being started by their packages).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODE=bench
case "${1:-}" in
bench | demo) MODE=$1; shift ;;
-h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
esac
ERDNS=${1:-$ROOT/build/erdns}
[ -x "$ERDNS" ] || { echo "bench: no erdns binary at $ERDNS (build it: cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build)" >&2; exit 2; }
ERDNS=$(cd "$(dirname "$ERDNS")" && pwd)/$(basename "$ERDNS")
ERDNS_B=${ERDNS_B:-}
if [ -n "$ERDNS_B" ]; then
	[ -x "$ERDNS_B" ] || { echo "bench: no erdns binary at ERDNS_B=$ERDNS_B" >&2; exit 2; }
	ERDNS_B=$(cd "$(dirname "$ERDNS_B")" && pwd)/$(basename "$ERDNS_B")
fi

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
LAT_QPS=${LAT_QPS:-10000}
LAT_DURATION=${LAT_DURATION:-10}
LAT_RUNS=${LAT_RUNS:-1}
LAT_TOGETHER=${LAT_TOGETHER:-0}
LAT_HOPS=${LAT_HOPS:-0}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
RESULTS_OUT=${RESULTS_OUT:-}
RSS_N=${RSS_N:-100000}
ERDNS_QUERYLOG=${ERDNS_QUERYLOG:-0}
ERDNS_EXTRA_SERVER_JSON=${ERDNS_EXTRA_SERVER_JSON:-}
HOT_N=${HOT_N:-100}
ZIPF_NAMES=${ZIPF_NAMES:-100000}
ZIPF_QUERIES=${ZIPF_QUERIES:-1000000}
SERVERS=${SERVERS:-erdns unbound dnsmasq dnsdist}
WORKLOADS=${WORKLOADS:-hit miss zipf}
LAT_SERVERS=${LAT_SERVERS:-$SERVERS}
ERDNS_AUDIT=${ERDNS_AUDIT:-0}
PORT_BASE=${PORT_BASE:-15350}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
UPSTREAM_CPU=${UPSTREAM_CPU:-$LOAD_CPU} # knotd; a core of its own where there is a third
OUT=${OUT:-$ROOT/docs/benchmarks.md}
KNOT_PORT=$((PORT_BASE + 3))
DNSPERF_OPTS=(-c "$CLIENTS" -q "$OUTSTANDING" -t 2) # client sockets, queries outstanding, 2 s until a query is lost

# ---------------------------------------------------------------------------------------------
# tools

install_missing() {
	local need=() pair
	for pair in dnsperf:dnsperf dig:bind9-dnsutils taskset:util-linux unbound:unbound \
		dnsmasq:dnsmasq-base dnsdist:dnsdist knotd:knot; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
	done
	[ "$LAT_HOPS" = 1 ] && ! command -v tcpdump >/dev/null 2>&1 && need+=(tcpdump)
	[ "$MODE" = demo ] && mapfile -t need < <(printf '%s\n' "${need[@]}" | grep -E '^(dnsperf|bind9-dnsutils|util-linux)$' || true)
	[ ${#need[@]} -eq 0 ] && return 0
	echo "bench: installing ${need[*]}" >&2
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	# keep the packages' init scripts from starting unbound/dnsdist/knot on port 53
	local policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod 755 /usr/sbin/policy-rc.d
		policy=1
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
	[ -n "$policy" ] && $sudo rm -f /usr/sbin/policy-rc.d
	return 0
}

# ---------------------------------------------------------------------------------------------
# processes

WORK=$(mktemp -d /tmp/erdns-bench.XXXXXX)
PIDS=()

stop_pid() { # pid: TERM, then up to 5 s, then KILL
	local pid=$1 _
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null && echo "bench: pid $pid ignored SIGTERM for 5 s: killed" >&2
	wait "$pid" 2>/dev/null || true
}

# Equal CPU shares for servers that share the server CPU (LAT_TOGETHER=1). Without them the
# scheduler shares a busy CPU per thread, so a server with more threads (dnsdist: a receiver
# and a responder thread per backend) gets more of it while everyone catches up after a stall.
CGROUP_BASE=''
CGROUPS=()
cgroups_find() { # sets CGROUP_BASE where a cgroup with the cpu controller can be made, or leaves it
	# empty; the machine's own cgroup setup is not changed (v2 without cpu in the root's subtree_control
	# stays without)
	local base='' probe
	if [ -f /sys/fs/cgroup/cgroup.subtree_control ]; then
		grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control && base=/sys/fs/cgroup
	elif [ -d /sys/fs/cgroup/cpu ]; then
		base=/sys/fs/cgroup/cpu
	fi
	[ -n "$base" ] || return 0
	probe=$base/erdns-bench-$$-probe
	if mkdir "$probe" 2>/dev/null; then
		rmdir "$probe"
		CGROUP_BASE=$base
	fi
	return 0
}
cgroup_join() { # name pid: the process (all its threads) into a cgroup of its own, default weight
	[ -n "$CGROUP_BASE" ] || return 0
	local g=$CGROUP_BASE/erdns-bench-$$-$1
	if [ ! -d "$g" ] && mkdir "$g"; then CGROUPS+=("$g"); fi
	echo "$2" >"$g/cgroup.procs" 2>/dev/null && return 0
	# the report must not claim equal shares for runs that did not have them
	echo "bench: cannot put $1 into $g: the servers share CPU $SERVER_CPU per thread from here on" >&2
	CGROUP_BASE=''
}
cgroups_remove() { # after their processes are gone; a group still in use stays and says so
	local g
	for g in "${CGROUPS[@]}"; do rmdir "$g" 2>/dev/null || echo "bench: cgroup $g not removed" >&2; done
	CGROUPS=()
}

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
	PIDS=()
	cgroups_remove
	if [ "${KEEP:-0}" = 1 ]; then echo "bench: work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() { local p kept=(); for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done; PIDS=("${kept[@]}"); }

port_busy() { ss -Hlnu "sport = :$1" 2>/dev/null | grep -q . ; }

wait_ready() { # port pid name; bounded: 50 x (dig up to 1 s + 0.1 s)
	local _
	for _ in $(seq 50); do
		kill -0 "$2" 2>/dev/null || { echo "bench: $3 exited at start; log:" >&2; tail -20 "$WORK/$3.log" >&2; return 1; }
		dig @127.0.0.1 -p "$1" +tries=1 +time=1 +short ready.bench.test A 2>/dev/null | grep -q 192.0.2 && return 0
		sleep 0.1
	done
	echo "bench: $3 does not answer on 127.0.0.1:$1; log:" >&2
	tail -20 "$WORK/$3.log" >&2
	return 1
}

cpu_ticks() { # utime+stime of the whole process (all threads), in clock ticks
	local s
	s=$(sed 's/^.*) //' "/proc/$1/stat")
	set -- $s
	echo $((${12} + ${13}))
}
user_ticks() { # utime alone
	local s
	s=$(sed 's/^.*) //' "/proc/$1/stat")
	set -- $s
	echo "${12}"
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
udp_rcvbuf_drops() { awk '/^Udp:/ && ++n == 2 { print $6 }' /proc/net/snmp; } # RcvbufErrors, all sockets
cpu_busy() { awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 }' /proc/stat; } # user nice system (irq/softirq left out: packet work)
cpu_steal() { awk -v c="cpu$1" '$1 == c { print $9 }' /proc/stat; } # time the hypervisor ran something else on this vCPU
steal_pct() { awk -v t="$1" -v hz="$CLK_TCK" -v d="$2" 'BEGIN { printf "%.0f", t * 100 / hz / d }'; }
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------
# demo mode: dnsperf against the README demo

if [ "$MODE" = demo ]; then
	install_missing
	if port_busy 5300 || port_busy 5301 || port_busy 5302; then
		echo "bench: something already listens on 127.0.0.1:5300-5302 (another demo or test?); stop it first" >&2
		exit 1
	fi
	"$ROOT/contrib/demo.sh" "$ERDNS" >"$WORK/demo.log" 2>&1 &
	PIDS+=($!)
	demo_pid=$!
	ok=
	for _ in $(seq 100); do
		kill -0 "$demo_pid" 2>/dev/null || break
		dig @127.0.0.1 -p 5300 +tries=1 +time=1 +short www.example.com A 2>/dev/null | grep -q . && { ok=1; break; }
		sleep 0.1
	done
	[ -n "$ok" ] || { echo "bench: the demo did not come up; log:" >&2; cat "$WORK/demo.log" >&2; exit 1; }
	printf '%s\n' "outlook.office.com A" "outlook.office365.com A" "www.office.com A" \
		"www.example.com A" "intranet.branch.contoso.com A" >"$WORK/demo-queries.txt"
	cmd=(dnsperf -s 127.0.0.1 -p 5300 -d "$WORK/demo-queries.txt" -l 10 "${DNSPERF_OPTS[@]}")
	pin=()
	[ "$(nproc)" -ge 2 ] && pin=(taskset -c "$LOAD_CPU")
	echo "bench: ${pin[*]} ${cmd[*]}" >&2
	"${pin[@]}" "${cmd[@]}" >"$WORK/demo-dnsperf.txt" 2>&1 || true
	grep -E 'Queries (sent|completed|lost|per second)|Response codes|Average Latency|Latency StdDev' "$WORK/demo-dnsperf.txt"
	qps=$(awk '/Queries per second:/ { printf "%.0f", $4 }' "$WORK/demo-dnsperf.txt")
	echo "demo: ${qps:-?} queries/second (erdns demo config: threads 2, cache on; dnsperf on CPU $LOAD_CPU, the demo processes unpinned)"
	exit 0
fi

# ---------------------------------------------------------------------------------------------
# bench mode: upstream, servers, workloads

install_missing
NCPU=$(nproc)
PIN_LOAD=() PIN_SERVER=() PIN_UPSTREAM=()
if [ "$NCPU" -ge 2 ]; then
	PIN_LOAD=(taskset -c "$LOAD_CPU")
	PIN_UPSTREAM=(taskset -c "$UPSTREAM_CPU")
	PIN_SERVER=(taskset -c "$SERVER_CPU")
else
	echo "bench: only one CPU: load generator and servers share it (numbers will be poor)" >&2
fi
declare -A PORT=([erdns]=$((PORT_BASE + 10)) [unbound]=$((PORT_BASE + 11)) [dnsmasq]=$((PORT_BASE + 12)) [dnsdist]=$((PORT_BASE + 13)) [erdns_b]=$((PORT_BASE + 14)))
for p in "$KNOT_PORT" "${PORT[@]}"; do
	port_busy "$p" && { echo "bench: 127.0.0.1:$p is in use; set PORT_BASE to another value" >&2; exit 1; }
done
echo "bench: work directory $WORK" >&2
COMMANDS=$WORK/commands.txt
: >"$COMMANDS"
log_cmd() { printf '%s\n' "$*" | sed "s#$WORK#\$WORK#g; s#$ROOT/##g" >>"$COMMANDS"; }

# --- knotd, the upstream (authoritative for both zones, wildcards, TTL 3600)
mkdir -p "$WORK/knot"
cat >"$WORK/knot/bench.test.zone" <<'EOF'
$ORIGIN bench.test.
$TTL 3600
@   SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 3600
@   NS  ns
ns  A   127.0.0.1
*   A   192.0.2.1
EOF
cat >"$WORK/knot/office.com.zone" <<'EOF'
$ORIGIN office.com.
$TTL 3600
@        SOA ns.office.com. hostmaster.office.com. 1 3600 600 86400 3600
@        NS  ns
ns       A   127.0.0.1
*        A   198.51.100.1
outlook  CNAME outlook.ha.office.com.
outlook.ha A 198.51.100.10
EOF
cat >"$WORK/knot/knot.conf" <<EOF
server:
    rundir: "$WORK/knot"
    listen: 127.0.0.1@$KNOT_PORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$WORK/knot/knot.sock"
database:
    storage: "$WORK/knot"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$WORK/knot"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: bench.test
  - domain: office.com
EOF
# knotd shares the load generator's core unless UPSTREAM_CPU says otherwise: the server under
# test has its core to itself
log_cmd "${PIN_UPSTREAM[*]} knotd -c $WORK/knot/knot.conf"
"${PIN_UPSTREAM[@]}" knotd -c "$WORK/knot/knot.conf" >"$WORK/knotd.log" 2>&1 &
KNOT_PID=$!
PIDS+=("$KNOT_PID")
wait_ready "$KNOT_PORT" "$KNOT_PID" knotd

# --- the four servers, each: listen 127.0.0.1:PORT, office.com and the rest both to knotd
# erdns's office.com route: a domains route, or with ERDNS_AUDIT=1 the same names imported from
# a Microsoft 365 list whose ExpressRoute prefix holds knotd's office.com addresses.
erdns_office_route() {
	if [ "$ERDNS_AUDIT" != 1 ]; then
		echo '{ "domains": ["office.com"], "via": "hq" }'
		return
	fi
	cat >"$WORK/m365-bench.json" <<EOF
[ { "id": 1, "serviceArea": "Exchange", "urls": ["office.com", "*.office.com"],
    "ips": ["198.51.100.0/24"], "expressRoute": true, "category": "Optimize", "required": true } ]
EOF
	echo "{ \"m365\": { \"file\": \"$WORK/m365-bench.json\" }, \"via\": \"hq\" }"
}

write_configs() {
	cat >"$WORK/erdns.json" <<EOF
{
  "server": { "listen": ["127.0.0.1:${PORT[erdns]}"], "threads": 1,
              "allow": ["127.0.0.0/8"], "identity": "bench"${ERDNS_EXTRA_SERVER_JSON:+, $ERDNS_EXTRA_SERVER_JSON} },
  "upstreams": {
    "hq":     { "servers": ["127.0.0.1:$KNOT_PORT"], "select": "ordered" },
    "branch": { "servers": ["127.0.0.1:$KNOT_PORT"], "select": "ordered" }
  },
  "routes": [ $(erdns_office_route) ],$(
	[ "$ERDNS_QUERYLOG" = 1 ] && printf '\n  "log": { "queries": true, "query_file": "%s" },' "$WORK/queries.jsonl")
  "default": "branch"
}
EOF
	# erdns_b: the same configuration on its own port (and query-log file)
	sed -e "s/127.0.0.1:${PORT[erdns]}\"/127.0.0.1:${PORT[erdns_b]}\"/" -e 's/queries.jsonl/queries_b.jsonl/' \
		"$WORK/erdns.json" >"$WORK/erdns_b.json"
	cat >"$WORK/unbound.conf" <<EOF
server:
    interface: 127.0.0.1
    port: ${PORT[unbound]}
    num-threads: 1
    do-ip6: no
    so-reuseport: yes
    access-control: 127.0.0.0/8 allow
    directory: "$WORK"
    chroot: ""
    username: ""
    pidfile: "$WORK/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    module-config: "iterator"
    do-not-query-localhost: no
    local-zone: "test." nodefault
    msg-cache-size: 256m
    rrset-cache-size: 512m
    prefetch: no
remote-control:
    control-enable: no
forward-zone:
    name: "office.com"
    forward-addr: 127.0.0.1@$KNOT_PORT
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$KNOT_PORT
EOF
	cat >"$WORK/dnsdist.conf" <<EOF
setLocal("127.0.0.1:${PORT[dnsdist]}")
setACL({"127.0.0.0/8"})
setSecurityPollSuffix("")
newServer({address="127.0.0.1:$KNOT_PORT", name="branch", checkName="health.bench.test.", checkInterval=5})
newServer({address="127.0.0.1:$KNOT_PORT", name="hq", pool="hq", checkName="health.bench.test.", checkInterval=5})
addAction({"office.com."}, PoolAction("hq"))
pc = newPacketCache(500000, {maxTTL=86400})
getPool(""):setCache(pc)
getPool("hq"):setCache(pc)
EOF
}

server_cmd() { # name -> SCMD array
	case $1 in
	erdns) SCMD=("$ERDNS" serve -c "$WORK/erdns.json") ;;
	erdns_b) SCMD=("$ERDNS_B" serve -c "$WORK/erdns_b.json") ;;
	unbound) SCMD=(unbound -d -c "$WORK/unbound.conf") ;;
	dnsmasq) SCMD=(dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --no-poll
		--listen-address=127.0.0.1 --bind-interfaces --port="${PORT[dnsmasq]}"
		--server="/office.com/127.0.0.1#$KNOT_PORT" --server="127.0.0.1#$KNOT_PORT"
		--cache-size=500000 --dns-forward-max=1000 --pid-file="$WORK/dnsmasq.pid" --log-facility=-) ;;
	dnsdist) SCMD=(dnsdist --supervised --disable-syslog -C "$WORK/dnsdist.conf") ;;
	*) echo "bench: unknown server $1" >&2; return 1 ;;
	esac
}

SPID=
start_server() { # name
	server_cmd "$1"
	log_cmd "${PIN_SERVER[*]} ${SCMD[*]}"
	"${PIN_SERVER[@]}" "${SCMD[@]}" >"$WORK/$1.log" 2>&1 &
	SPID=$!
	PIDS+=("$SPID")
	wait_ready "${PORT[$1]}" "$SPID" "$1"
}
stop_server() {
	stop_pid "$SPID"
	forget_pid "$SPID"
	SPID=
}

QLOG=$WORK/querylog.tsv
printf 'workload\trun\twritten\tdropped\tfile_lines\n' >"$QLOG"
querylog_note() { # workload run: erdns's stop line "query log: N lines written, M dropped"
	[ "$ERDNS_QUERYLOG" = 1 ] || return 0
	local wd
	wd=$(sed -n 's/.*query log: \([0-9]*\) lines written, \([0-9]*\) dropped.*/\1\t\2/p' "$WORK/erdns.log")
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${wd:-?	?}" "$(wc -l <"$WORK/queries.jsonl" 2>/dev/null || echo 0)" >>"$QLOG"
	tail -1 "$QLOG" | sed 's/^/bench: query log /' >&2
	rm -f "$WORK/queries.jsonl"
}

server_version() {
	case $1 in
	erdns) echo "erdns $("$ERDNS" --version 2>&1 | awk '{print $NF; exit}') (${ERDNS#"$ROOT/"}, the repository at git $GIT_STATE when the run started)" ;;
	erdns_b) echo "erdns_b $("$ERDNS_B" --version 2>&1 | awk '{print $NF; exit}') (${ERDNS_B#"$ROOT/"})" ;;
	unbound) unbound -V 2>&1 | awk '/^Version/ { print "Unbound " $2; exit }' ;;
	dnsmasq) dnsmasq --version | awk 'NR == 1 { print "dnsmasq " $3 }' ;;
	dnsdist) dnsdist --version 2>&1 | awk 'NR == 1 { print "dnsdist " $2 }' ;;
	knotd) knotd --version 2>&1 | awk '{ print "knotd " $NF }' ;;
	dnsperf) dnsperf -h 2>&1 | awk '/^Version/ { print "dnsperf " $2 }' ;;
	esac
}

# --- query files
echo "bench: generating query files" >&2
awk -v n="$HOT_N" 'BEGIN { for (i = 0; i < n; i++) print "h" i ((i % 4 == 3) ? ".office.com A" : ".bench.test A") }' >"$WORK/hot.txt"
awk -v n="$ZIPF_NAMES" -v m="$ZIPF_QUERIES" -v s=1 -v seed=42 -f "$HERE/zipf.awk" >"$WORK/zipf.txt"
MISS_N=$((DURATION * 200000)) # above what one dnsperf core can send, so a run never runs dry
unique_file() { # prefix count file: never-repeated names, 1 in 4 under office.com
	awk -v p="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) print p "-" i ((i % 4 == 3) ? ".office.com A" : ".bench.test A") }' >"$3"
}

# --- one dnsperf run against the running server; appends a line to results.tsv
RESULTS=$WORK/results.tsv
LATENCY=$WORK/latency.tsv
printf 'server\tworkload\trun\tqps\tcompleted\tlost\tsent\tcpu_us\trss_kb\trcodes\tother_pct\tudp_drops\tsteal_pct\tuser_us\n' >"$RESULTS"
printf 'server\tworkload\trun\tqps\tcompleted\tlost\tn\tp50\tp90\tp99\tp999\tmax\tavg_us\tsd_us\tsteal_pct\n' >"$LATENCY"

dnsperf_run() { # server datafile out extra-args...
	local server=$1 data=$2 out=$3
	shift 3
	local cmd=(dnsperf -s 127.0.0.1 -p "${PORT[$server]}" -d "$data" "${DNSPERF_OPTS[@]}" "$@")
	log_cmd "${PIN_LOAD[*]} ${cmd[*]}"
	"${PIN_LOAD[@]}" "${cmd[@]}" >"$out" 2>&1 || echo "bench: dnsperf exited non-zero ($server, see $out)" >&2
}
stat_of() { # file key -> value
	case $2 in
	sent) awk '/Queries sent:/ { print $3 }' "$1" ;;
	completed) awk '/Queries completed:/ { print $3 }' "$1" ;;
	lost) awk '/Queries lost:/ { print $3 }' "$1" ;;
	qps) awk '/Queries per second:/ { printf "%.0f", $4 }' "$1" ;;
	rcodes) awk -F': *' '/Response codes:/ { gsub(/ /, "_", $2); print $2 }' "$1" ;;
	avg) awk '/Average Latency/ { printf "%.0f", $4 * 1e6 }' "$1" ;;
	sd) awk '/Latency StdDev/ { printf "%.0f", $4 * 1e6 }' "$1" ;;
	esac
}

warm_hot() { dnsperf_run "$1" "$WORK/hot.txt" "$WORK/warm.txt" -n 3 -q 20; }

workload_data() { # server workload miss-prefix miss-count miss-file: sets DATA (the query file) and
	# ONCE (dnsperf -n 1 where names never repeat); a hit workload warms the server first
	ONCE=()
	case $2 in
	hit) warm_hot "$1"; DATA=$WORK/hot.txt ;;
	miss) unique_file "$3" "$4" "$5"; DATA=$5; ONCE=(-n 1) ;;
	zipf) DATA=$WORK/zipf.txt ;;
	esac
}

measure() { # server workload run
	local server=$1 wl=$2 run=$3 out c0 c1 b0 b1 u0 u1 st0 st1 ut0 ut1
	out=$WORK/$server-$wl-$run.txt
	start_server "$server"
	workload_data "$server" "$wl" "m$run-$server" "$MISS_N" "$WORK/miss.txt"
	c0=$(cpu_ticks "$SPID")
	ut0=$(user_ticks "$SPID")
	b0=$(cpu_busy "$SERVER_CPU")
	st0=$(cpu_steal "$SERVER_CPU")
	u0=$(udp_rcvbuf_drops)
	dnsperf_run "$server" "$DATA" "$out" -l "$DURATION" "${ONCE[@]}"
	if ! kill -0 "$SPID" 2>/dev/null; then
		echo "bench: $server DIED during $wl run $run; log tail:" >&2
		tail -20 "$WORK/$server.log" >&2
		printf '%s\t%s\t%s\tDIED\t0\t0\t0\t-\t-\t-\t-\t-\t-\t-\n' "$server" "$wl" "$run" >>"$RESULTS"
		forget_pid "$SPID"
		return 0
	fi
	c1=$(cpu_ticks "$SPID")
	ut1=$(user_ticks "$SPID")
	b1=$(cpu_busy "$SERVER_CPU")
	st1=$(cpu_steal "$SERVER_CPU")
	u1=$(udp_rcvbuf_drops)
	local comp rss
	comp=$(stat_of "$out" completed)
	rss=$(rss_kb "$SPID")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$wl" "$run" "$(stat_of "$out" qps)" "$comp" \
		"$(stat_of "$out" lost)" "$(stat_of "$out" sent)" \
		"$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$comp" 'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "-" }')" \
		"$rss" "$(stat_of "$out" rcodes)" \
		"$(awk -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v hz="$CLK_TCK" -v d="$DURATION" 'BEGIN { o = (b - c) * 100 / hz / d; printf "%.0f", (o < 0 ? 0 : o) }')" "$((u1 - u0))" \
		"$(steal_pct $((st1 - st0)) "$DURATION")" \
		"$(awk -v t=$((ut1 - ut0)) -v hz="$CLK_TCK" -v n="$comp" 'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "-" }')" >>"$RESULTS"
	tail -1 "$RESULTS" | sed 's/^/bench: /' >&2
	rm -f "$WORK/miss.txt"
	stop_server
	if [ "$server" = erdns ]; then querylog_note "$wl" "$run"; fi
}

latency_row() { # server workload run dnsperf-output steal-ticks: a line of latency.tsv
	local out=$4
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(stat_of "$out" qps)" "$(stat_of "$out" completed)" \
		"$(stat_of "$out" lost)" "$(awk -f "$HERE/latency.awk" "$out" | tr ' ' '\t')" \
		"$(stat_of "$out" avg)" "$(stat_of "$out" sd)" "$(steal_pct "$5" "$LAT_DURATION")" >>"$LATENCY"
	tail -1 "$LATENCY" | sed 's/^/bench: latency /' >&2
}

measure_latency() { # server workload run: fixed rate, per-query latencies from dnsperf -v
	local server=$1 wl=$2 run=$3 out=$WORK/$1-$2-lat.txt st0 st1
	start_server "$server"
	workload_data "$server" "$wl" "lat$run-$server" $((LAT_QPS * LAT_DURATION + 1000)) "$WORK/miss.txt"
	st0=$(cpu_steal "$SERVER_CPU")
	dnsperf_run "$server" "$DATA" "$out" -l "$LAT_DURATION" -Q "$LAT_QPS" -v "${ONCE[@]}"
	st1=$(cpu_steal "$SERVER_CPU")
	latency_row "$server" "$wl" "$run" "$out" $((st1 - st0))
	rm -f "$WORK/miss.txt" "$out"
	kill -0 "$SPID" 2>/dev/null || echo "bench: $server DIED during the $wl latency run" >&2
	stop_server
	if [ "$server" = erdns ]; then querylog_note "$wl" "latency $run"; fi
}

TCPDUMP_PID=
hops_capture_start() { # tcpdump of lo: the LAT_SERVERS' ports and knotd's
	local s ports=''
	for s in $LAT_SERVERS; do ports="$ports or port ${PORT[$s]}"; done
	"${PIN_LOAD[@]}" tcpdump -i lo -nn -s 200 -B 131072 -w "$WORK/hops.pcap" "udp and (port $KNOT_PORT$ports)" 2>"$WORK/tcpdump.log" &
	TCPDUMP_PID=$!
	PIDS+=("$TCPDUMP_PID")
	sleep 0.5 # tcpdump's filter is in place
}
hops_capture_stop() { # workload run: stops the capture and appends its queries' hop times to HOPS
	local s names=''
	kill -INT "$TCPDUMP_PID" 2>/dev/null
	wait "$TCPDUMP_PID" 2>/dev/null || true
	forget_pid "$TCPDUMP_PID"
	for s in $LAT_SERVERS; do names="$names ${PORT[$s]}:$s"; done
	tcpdump -r "$WORK/hops.pcap" -nn -tt -T domain 2>/dev/null |
		awk -v knot="$KNOT_PORT" -v servers="$names" -f "$HERE/hops.awk" |
		awk -v r="$2" -v w="$1" '{ print w, r, $0 }' >>"$HOPS"
	echo "bench: hops: $(grep -c . "$HOPS") queries timed so far; $(grep -h 'dropped by kernel' "$WORK/tcpdump.log")" >&2
	rm -f "$WORK/hops.pcap"
}

measure_latency_together() { # workload run: every LAT_SERVERS server at once, each with its own dnsperf
	local wl=$1 run=$2 s st0 st1 order=() dps=()
	local -A spid data
	for s in $LAT_SERVERS; do
		start_server "$s"
		spid[$s]=$SPID
		cgroup_join "$s" "$SPID"
		workload_data "$s" "$wl" "lat$run-$s" $((LAT_QPS * LAT_DURATION + 1000)) "$WORK/lat-$s.txt"
		data[$s]=$DATA
	done
	SPID=
	# the dnsperf started first gets a small head start: the order rotates from run to run
	for s in $LAT_SERVERS; do order+=("$s"); done
	order=("${order[@]:$((run % ${#order[@]}))}" "${order[@]:0:$((run % ${#order[@]}))}")
	[ "$LAT_HOPS" != 1 ] || hops_capture_start
	st0=$(cpu_steal "$SERVER_CPU")
	for s in "${order[@]}"; do
		dnsperf_run "$s" "${data[$s]}" "$WORK/$s-$wl-lat.txt" -l "$LAT_DURATION" -Q "$LAT_QPS" -v "${ONCE[@]}" &
		dps+=($!)
	done
	wait "${dps[@]}"
	st1=$(cpu_steal "$SERVER_CPU")
	[ "$LAT_HOPS" != 1 ] || hops_capture_stop "$wl" "$run"
	for s in $LAT_SERVERS; do
		latency_row "$s" "$wl" "$run" "$WORK/$s-$wl-lat.txt" $((st1 - st0))
		kill -0 "${spid[$s]}" 2>/dev/null || echo "bench: $s DIED during the $wl latency run" >&2
		stop_pid "${spid[$s]}"
		forget_pid "${spid[$s]}"
		rm -f "$WORK/lat-$s.txt" "$WORK/$s-$wl-lat.txt"
		if [ "$s" = erdns ]; then querylog_note "$wl" "latency $run"; fi
	done
}

HOPS=$WORK/hops.txt # workload run server total in upstream out (microseconds), one line per query
: >"$HOPS"
RSSF=$WORK/rss.tsv
printf 'server\trss0_kb\trss1_kb\tanswered\tbytes_per_entry\tcached\n' >"$RSSF"
measure_rss() { # server: VmRSS before/after RSS_N unique names, and whether a repeat is a cache hit
	local server=$1 r0 r1 out=$WORK/$1-rss.txt t1 t2 cached=no
	start_server "$server"
	sleep 0.5
	r0=$(rss_kb "$SPID")
	unique_file "rss-$server" "$RSS_N" "$WORK/rss-names.txt"
	dnsperf_run "$server" "$WORK/rss-names.txt" "$out" -n 1 -Q 20000
	sleep 1
	r1=$(rss_kb "$SPID")
	# cache check: knotd always answers TTL 3600; a cache serves a decremented TTL
	t1=$(dig @127.0.0.1 -p "${PORT[$server]}" +tries=1 +time=2 +noall +answer "rss-$server-0.bench.test" A | awk '{ print $2; exit }')
	sleep 1.1
	t2=$(dig @127.0.0.1 -p "${PORT[$server]}" +tries=1 +time=2 +noall +answer "rss-$server-0.bench.test" A | awk '{ print $2; exit }')
	[ -n "$t1" ] && [ -n "$t2" ] && [ "$t2" -lt 3600 ] && cached=yes
	local ans
	ans=$(stat_of "$out" completed)
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$r0" "$r1" "$ans" \
		"$(awk -v a="$r0" -v b="$r1" -v n="$ans" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n; else print "-" }')" \
		"$cached (TTL ${t1:-?} then ${t2:-?})" >>"$RSSF"
	tail -1 "$RSSF" | sed 's/^/bench: rss /' >&2
	rm -f "$WORK/rss-names.txt"
	stop_server
}

write_configs
GIT_STATE="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$ROOT" diff --quiet HEAD -- . ":(exclude)${OUT#"$ROOT/"}" 2>/dev/null || echo ' with uncommitted changes')"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)
for server in $SERVERS; do
	echo "bench: === $server ===" >&2
	for wl in $WORKLOADS; do
		for run in $(seq "$RUNS"); do measure "$server" "$wl" "$run"; done
		if [ "$LAT_TOGETHER" != 1 ]; then
			for run in $(seq "$LAT_RUNS"); do measure_latency "$server" "$wl" "$run"; done
		fi
	done
	if [ "$RSS_N" -gt 0 ]; then measure_rss "$server"; fi
done
[ "$LAT_HOPS" != 1 ] || [ "$LAT_TOGETHER" = 1 ] || echo "bench: LAT_HOPS=1 needs LAT_TOGETHER=1; no capture" >&2
if [ "$LAT_TOGETHER" = 1 ] && [ "$LAT_RUNS" -gt 0 ]; then
	cgroups_find
	[ -n "$CGROUP_BASE" ] || echo "bench: no cgroup cpu controller: the servers share CPU $SERVER_CPU per thread" >&2
	echo "bench: === latency, $LAT_SERVERS at once ===" >&2
	for wl in $WORKLOADS; do
		for run in $(seq "$LAT_RUNS"); do measure_latency_together "$wl" "$run"; done
	done
fi
T1=$(date +%s)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# report

. "$HERE/report.sh" # median, ratio
col() { # server workload column -> values, one per line (numeric only)
	awk -F'\t' -v s="$1" -v w="$2" -v c="$3" 'NR > 1 && $1 == s && $2 == w && $c ~ /^[0-9.]+$/ { print $c }' "$RESULTS"
}
hop_rows() { # server workload: a row per leg of the hop table
	local s=$1 wl=$2 n cut leg c
	n=$(awk -v s="$s" -v w="$wl" '$1 == w && $3 == s' "$HOPS" | wc -l)
	[ "$n" -gt 0 ] || return 0
	cut=$(awk -v s="$s" -v w="$wl" '$1 == w && $3 == s { print $4 }' "$HOPS" | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); print v[i < 1 ? 1 : i] }')
	c=4
	for leg in total in upstream out; do
		printf '| %s | %s | %s | %s | %s | %s |\n' "$s" "$wl" "$n" "$leg" \
			"$(awk -v s="$s" -v w="$wl" -v c=$c '$1 == w && $3 == s { print $c }' "$HOPS" | sort -n |
				awk '{ v[NR] = $1 } function p(x,  i) { i = int(x * NR + 0.999999); return v[i < 1 ? 1 : i] }
					END { printf "%s | %s | %s | %s", p(0.5), p(0.9), p(0.99), p(0.999) }')" \
			"$(awk -v s="$s" -v w="$wl" -v c=$c -v cut="$cut" '$1 == w && $3 == s && $4 >= cut { t += $c; k++ } END { if (k) printf "%.0f", t / k; else print "-" }' "$HOPS")"
		c=$((c + 1))
	done
}
REPORT=$WORK/report.md
{
	echo "<!-- bench:begin (generated by contrib/bench/run.sh; everything up to bench:end is rewritten on each run) -->"
	echo "## Results of $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $NCPU CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $( . /etc/os-release && echo "$PRETTY_NAME")."
	echo "Load average before/after the run: $LOAD_BEFORE / $LOAD_AFTER (other work on the machine shows up here). Run time: $((T1 - T0)) s."
	echo
	echo "Versions: $(for s in $SERVERS knotd dnsperf; do server_version "$s"; done | paste -sd ';' | sed 's/;/; /g')."
	echo
	echo "Clients: dnsperf ${DNSPERF_OPTS[*]} (CLIENTS sockets, OUTSTANDING queries in flight at most)."
	echo "Pinning: server on CPU ${SERVER_CPU}, dnsperf on CPU ${LOAD_CPU}, knotd on CPU ${UPSTREAM_CPU}. $RUNS runs of ${DURATION} s per server and workload, each on a freshly started server; median shown."
	echo "CPU µs/answer = (utime+stime of the server process, all threads, from /proc/PID/stat, after − before) / answered queries (clock tick ${CLK_TCK} Hz)."
	if [ -n "$ERDNS_EXTRA_SERVER_JSON" ]; then
		echo
		echo "erdns's \"server\" object had these members added (ERDNS_EXTRA_SERVER_JSON): \`$ERDNS_EXTRA_SERVER_JSON\`."
	fi
	if [ "$ERDNS_QUERYLOG" = 1 ]; then
		echo
		echo "erdns ran with its query log on (ERDNS_QUERYLOG=1: \`log.queries\`, one line per answer to a file on disk). Lines written and dropped, per run, as erdns reported them at its stop:"
		echo
		echo "| workload | run | written | dropped | lines in the file |"
		echo "|---|---|---:|---:|---:|"
		awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$QLOG"
	fi
	echo
	echo "| server | workload | queries/s (median) | vs Unbound | lost per run (UDP rcvbuf drops) | CPU µs/answer (median; user) | vs Unbound | RSS after run (MB) | other load on server CPU | steal on server CPU |"
	echo "|---|---|---:|---:|---|---:|---:|---:|---:|---:|"
	for wl in hit miss zipf; do
		uq=$(col unbound "$wl" 4 | median)
		uc=$(col unbound "$wl" 8 | median)
		for s in $SERVERS; do
			q=$(col "$s" "$wl" 4 | median)
			c=$(col "$s" "$wl" 8 | median)
			u=$(col "$s" "$wl" 14 | median)
			lost=$(awk -F'\t' -v s="$s" -v w="$wl" 'NR > 1 && $1 == s && $2 == w { printf "%s%s", sep, ($4 == "DIED" ? "DIED" : $6 " (" $12 ")"); sep = " / " }' "$RESULTS")
			rss=$(col "$s" "$wl" 9 | sort -g | tail -1 | awk '{ if ($1 != "") printf "%.0f", $1 / 1024 }')
			other=$(col "$s" "$wl" 11 | sort -g | tail -1)
			steal=$(col "$s" "$wl" 13 | sort -g | tail -1)
			echo "| $s | $wl | $q | $(ratio "$q" "$uq") | $lost | $c ($u) | $(ratio "$c" "$uc") | ${rss:--} | ${other:--}% | ${steal:--}% |"
		done
	done
	echo
	echo "Workloads: **hit** = $HOT_N names (3 in 4 under bench.test, 1 in 4 under office.com) asked over and over, warmed first (3 passes);"
	echo "**miss** = never-repeated names under the wildcards (a fresh file per run, dnsperf -n 1);"
	echo "**zipf** = $ZIPF_QUERIES queries over $ZIPF_NAMES names, P(rank r) ∝ 1/r (s = 1), cold server, the file loops."
	echo
	echo "\"lost\": sent − answered, per run, as dnsperf counts it; in parentheses the machine's UDP receive-buffer drops"
	echo "(RcvbufErrors in /proc/net/snmp) during the run: when they match, the kernel dropped those packets on a full"
	echo "socket buffer (dnsperf's or the server's, at default buffer sizes)."
	echo
	echo "\"other load on server CPU\": the highest share, over the runs, of CPU ${SERVER_CPU} busy with anything but the server"
	echo "(user+system time of CPU ${SERVER_CPU} in /proc/stat minus the server's own; interrupt and softirq time, mostly the loopback"
	echo "packet work, is left out): other work on the machine lands there despite the pinning and costs the server throughput."
	echo
	echo "\"steal\": the highest share, over the runs, of the run's wall time during which the hypervisor gave CPU ${SERVER_CPU}'s"
	echo "physical core to something else (the steal column of /proc/stat). The server is frozen for that time: it costs"
	echo "throughput, and at a fixed rate it shows up as latency outliers of several milliseconds, whichever server runs."
	echo
	bad=$(awk -F'\t' 'NR > 1 && $10 !~ /^NOERROR_[0-9]+_\(100.00%\)$/ { print "- " $1 " " $2 " run " $3 ": " $10 }' "$RESULTS" | tr '_' ' ')
	if [ -z "$bad" ]; then
		echo "Every answer in every run was NOERROR."
	else
		echo "Runs with answers other than NOERROR (their queries/s do not count as served):"
		echo "$bad"
	fi
	echo
	echo "### Latency at a fixed rate of $LAT_QPS queries/s (${LAT_DURATION} s, $LAT_RUNS run(s) per server and workload, each on a fresh server)"
	echo
	if [ "$LAT_TOGETHER" = 1 ]; then
		echo "In each run $LAT_SERVERS ran at the same time on CPU $SERVER_CPU, each under its own dnsperf at $LAT_QPS queries/s,"
		if [ -n "$CGROUP_BASE" ]; then echo "each in a cgroup of its own with an equal CPU share ($CGROUP_BASE)."; else echo "without equal CPU shares (no cgroup cpu controller here: the CPU was shared per thread)."; fi
		echo "The steal column is the same for the servers of one run."
		echo
	fi
	echo "dnsperf 2.10 prints only the average and standard deviation; the percentiles below are computed from its per-query"
	echo "latencies (\`dnsperf -v\`, contrib/bench/latency.awk). Microseconds."
	echo
	echo "| server | workload | run | answered | lost | p50 | p90 | p99 | p99.9 | max | avg | stddev | steal |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for wl in hit miss zipf; do
		awk -F'\t' -v w="$wl" 'NR > 1 && $2 == w { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s%% |\n", $1, $2, $3, $5, $6, $8, $9, $10, $11, $12, $13, $14, $15 }' "$LATENCY"
	done
	if [ -s "$HOPS" ]; then
		echo
		echo "#### Hop times (LAT_HOPS=1: tcpdump of lo during the runs above, contrib/bench/hops.awk)"
		echo
		echo "Per query: **in** = the client's query to the forwarded query, **upstream** = the forwarded query to knotd's"
		echo "answer, **out** = that answer to the reply; timestamps are the kernel's at each send. Microseconds, all runs:"
		echo
		echo "| server | workload | queries | leg | p50 | p90 | p99 | p99.9 | slowest 1 %: mean |"
		echo "|---|---|---:|---|---:|---:|---:|---:|---:|"
		for wl in $WORKLOADS; do
			for s in $LAT_SERVERS; do
				hop_rows "$s" "$wl"
			done
		done
	fi
	echo
	echo "### Memory per cached answer ($RSS_N unique names, VmRSS before and after)"
	echo
	echo "| server | RSS before (KB) | RSS after (KB) | answered | bytes per entry | vs Unbound | cache observed |"
	echo "|---|---:|---:|---:|---:|---:|---|"
	ub=$(awk -F'\t' '$1 == "unbound" { print $5 }' "$RSSF")
	awk -F'\t' 'NR > 1 { print }' "$RSSF" | while IFS=$'\t' read -r s r0 r1 ans bpe cached; do
		echo "| $s | $r0 | $r1 | $ans | $bpe | $(ratio "$bpe" "$ub") | $cached |"
	done
	echo
	echo "\"cache observed\": the same name asked twice 1.1 s apart after the fill; knotd always answers TTL 3600, so a"
	echo "decremented TTL means the answer came from the server's cache. Caches that preallocate (dnsmasq's"
	echo "\`--cache-size\` records, dnsdist's packet-cache buckets) already count in \"before\"."
	if awk -F'\t' '$1 == "erdns" && $6 ~ /^no/ { f = 1 } END { exit !f }' "$RSSF"; then
		echo
		echo "**erdns showed no cache in this run**: every erdns answer, \"hit\" workload included, was forwarded to knotd,"
		echo "so its hit numbers are forwarding numbers and its memory figure is not a cache's."
	fi
	echo
	echo "### Exact commands"
	echo
	echo "\`\`\`sh"
	echo "contrib/bench/run.sh bench ${ERDNS#"$ROOT/"}   # RUNS=$RUNS DURATION=$DURATION LAT_QPS=$LAT_QPS LAT_DURATION=$LAT_DURATION RSS_N=$RSS_N"
	echo "# the processes it started (\$WORK = its temporary directory), one line per distinct command:"
	sed -E 's/-(m[0-9]+|lat|rss)-[a-z]+/-\1-SERVER/g; s/-p [0-9]+ /-p PORT /' "$COMMANDS" | awk '!seen[$0]++'
	echo "\`\`\`"
	echo
	echo "<details><summary>Server configurations</summary>"
	echo
	for f in erdns.json $([ "$ERDNS_AUDIT" = 1 ] && echo m365-bench.json) unbound.conf dnsdist.conf knot/knot.conf knot/bench.test.zone knot/office.com.zone; do
		echo "\`$f\`:"
		echo
		echo "\`\`\`"
		sed "s#$WORK#\$WORK#g" "$WORK/$f"
		echo "\`\`\`"
		echo
	done
	echo "</details>"
	echo "<!-- bench:end -->"
} >"$REPORT"

cat "$REPORT"
if [ -n "$RESULTS_OUT" ]; then
	mkdir -p "$RESULTS_OUT"
	cp "$RESULTS" "$LATENCY" "$RESULTS_OUT/"
fi
if [ "$OUT" != "-" ]; then
	if [ -f "$OUT" ] && grep -q '^<!-- bench:begin' "$OUT"; then
		awk -v rep="$REPORT" '
			/^<!-- bench:begin/ { while ((getline l < rep) > 0) print l; skip = 1; next }
			/^<!-- bench:end/ { skip = 0; next }
			!skip { print }' "$OUT" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
	else
		{ [ -f "$OUT" ] && { cat "$OUT"; echo; }; cat "$REPORT"; } >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
	fi
	echo "bench: results written to $OUT" >&2
fi
