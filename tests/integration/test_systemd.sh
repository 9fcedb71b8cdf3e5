#!/usr/bin/env bash
# systemd (SPEC 4; docs/operations.md, "systemd"): the notification protocol
# and the hardened unit contrib/systemd/erdns.service, without a running
# systemd (CI has none as PID 1):
#  - a datagram socket of ours stands in for NOTIFY_SOCKET: READY=1 comes
#    only once erdns answers (the listener digs the moment it arrives),
#    RELOADING=1/READY=1 frame each SIGHUP (a failed one too), WATCHDOG=1
#    comes when WATCHDOG_USEC asks for it, STOPPING=1 on SIGTERM;
#  - erdns runs as the unit runs it: an unprivileged user whose only
#    capability is CAP_NET_BIND_SERVICE (ambient and bounding), no new
#    privileges, a port below 1024, `server.user` naming that same user;
#  - every system call erdns (and ExecStartPre's check, ExecReload's kill)
#    makes in a representative run is allowed by the unit's SystemCallFilter,
#    as `systemd-analyze syscall-filter` expands it;
#  - `systemd-analyze security --offline` scores the unit 1.5 or lower and
#    `systemd-analyze verify` accepts it.
# Needs root (CI runs as root) for setpriv.
. "$(dirname "$0")/lib.sh"
UNIT="$SRCDIR/contrib/systemd/erdns.service"
if [ "$(id -u)" -ne 0 ]; then
	not_ok "this test changes user and must run as root"
	finish
	exit 1
fi
# Not a skip: ctest and .ci/run would count a skip as neither pass nor
# failure, and CI has systemd-analyze (Debian 12's systemd package).
if ! command -v systemd-analyze >/dev/null; then
	not_ok "systemd-analyze not found (Debian's systemd package): the unit cannot be checked"
	finish
	exit 1
fi

# --- helpers -----------------------------------------------------------------

# The stand-in for systemd's notify socket: one line per datagram (newlines
# made spaces) in OUT; on READY=1 it asks erdns at once, over UDP and TCP,
# and appends the outcome, so the line itself proves the order. Bounded:
# it exits after 120 s.
cat >"$W/notify_listen.py" <<'PY'
import os, re, socket, subprocess, sys, time
path, out, config = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)  # erdns may run as another user
s.settimeout(0.2)
open(out + ".ready", "w").close()

def dig(port, *extra):
    cmd = ["dig", "@127.0.0.1", "-p", port, "+tries=1", "+time=2", "+short",
           "-c", "CH", "-t", "TXT", "id.server", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    return "ok" if r.returncode == 0 and r.stdout.strip() else "fail"

port, deadline = None, time.monotonic() + 120
with open(out, "a", buffering=1) as f:
    while time.monotonic() < deadline:
        try:
            data = s.recv(4096).decode()
        except socket.timeout:
            continue
        line = data.replace("\n", " ")
        if data.startswith("READY=1"):
            # the port as start_erdns may have rewritten it; a test may
            # have broken the file on purpose (a failed reload): keep the last
            m = re.search(r"127\.0\.0\.1:(\d+)", open(config).read())
            port = m.group(1) if m else port
            line += " | dig-udp=%s dig-tcp=%s" % (dig(port), dig(port, "+tcp"))
        f.write(line + "\n")
PY

# start_listener NAME DIR CONFIG: the socket is DIR/NAME.sock, the lines
# go to $W/NAME.log.
start_listener() {
	local out="$W/$1.log"
	: >"$out"
	python3 "$W/notify_listen.py" "$2/$1.sock" "$out" "$3" 2>"$W/$1.err" &
	local pid=$!
	if ! await_ready "$pid" test -e "$out.ready"; then
		echo "notify listener did not start:" >&2
		cat "$W/$1.err" >&2
		exit 1
	fi
	BG_PIDS+=("$pid")
}

# await_lines FILE PATTERN N: until FILE has N lines matching PATTERN (at
# most 10 s).
await_lines() {
	for _ in $(seq 200); do
		[ "$(grep -c -- "$2" "$1")" -ge "$3" ] && return 0
		sleep 0.05
	done
	return 1
}

# The message kinds in order, watchdog pings left out: "READY=1 RELOADING=1 ...".
kinds() { grep -v '^WATCHDOG=1' "$1" | awk '{ print $1 }' | tr '\n' ' ' | sed 's/ $//'; }

# config FILE PORT USER ZONE: one forward route, one truncating upstream
# (the retry goes over TCP), a local zone, the control socket at
# $T/NAME.ctl for FILE NAME.json (short: sun_path); USER may be empty.
config() {
	local user=""
	[ -n "$3" ] && user=", \"user\": \"$3\""
	cat >"$1" <<JSON
{
  "server": { "listen": ["127.0.0.1:$2"], "threads": 2$user },
  "upstreams": { "branch": { "servers": ["127.0.0.1:$UP"] },
                 "trunc": { "servers": ["127.0.0.1:$TRUNC"] } },
  "routes": [ { "domains": ["trunc.example"], "via": "trunc" } ],
  "zones": [ { "file": "$4" } ],
  "control": { "socket": "$T/$(basename "$1" .json).ctl" }
}
JSON
}

# A port below 1024 (so binding it takes CAP_NET_BIND_SERVICE) that is free
# on 127.0.0.1.
free_low_port() { free_port 600 400; }

# As the unit runs it: User=nobody here, CapabilityBoundingSet= and
# AmbientCapabilities=CAP_NET_BIND_SERVICE, NoNewPrivileges=yes. A command
# prefix, not a function, so that $! is the process itself (setpriv execs).
# shellcheck disable=SC2054 # the commas are setpriv's lists
AS_UNIT_USER=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --no-new-privs
	--inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service
	--bounding-set=-all,+net_bind_service)

# The notify sockets, and for the runs as another user erdns, its config
# and zone, in a directory any user can reach (the build tree may sit under
# a home directory that nobody cannot enter) with a short path (sun_path
# holds 108 bytes).
T=$(mktemp -d /tmp/erdns-systemd.XXXXXX)
trap 'cleanup; rm -rf "$T"' EXIT
chmod 755 "$T"

start_standin UP --id 2
start_standin TRUNC --id 3 --mode truncate
ZONE="$SRCDIR/zones/branch.contoso.com.zone"

# --- 1. the notification protocol ---------------------------------------------

PORT=$(free_port)
config "$W/erdns.json" "$PORT" "" "$ZONE"
start_listener notify "$T" "$W/erdns.json"
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=200000 start_erdns "$W/erdns.json"
N="$W/notify.log"
if await_lines "$N" '^READY=1' 1; then ok "READY=1 sent"; else not_ok "no READY=1 within 10 s"; fi
ready=$(grep -m1 '^READY=1' "$N")
check_has "READY=1 with the status" \
	"STATUS=serving 127.0.0.1:$PORT (udp+tcp), 2 worker thread(s)" "$ready"
check_has "erdns answered over UDP when READY=1 arrived" "dig-udp=ok" "$ready"
check_has "erdns answered over TCP when READY=1 arrived" "dig-tcp=ok" "$ready"
if await_lines "$N" '^WATCHDOG=1' 2; then
	ok "WATCHDOG=1 pings when WATCHDOG_USEC is set"
else
	not_ok "no WATCHDOG=1 pings within 10 s (WATCHDOG_USEC=200000)"
fi

kill -HUP "$ERDNS_PID"
await_lines "$N" '^READY=1' 2
check_eq "SIGHUP: RELOADING=1 then READY=1" "READY=1 RELOADING=1 READY=1" "$(kinds "$N")"
check_has "RELOADING=1 carries MONOTONIC_USEC (systemd 253's notify-reload)" \
	"MONOTONIC_USEC=" "$(grep -m1 '^RELOADING=1' "$N")"
check_has "the reload happened" "configuration reloaded" "$(cat "$W/erdns.log")"

cp "$W/erdns.json" "$W/erdns.json.good"
echo '{ "server": ' >"$W/erdns.json"
kill -HUP "$ERDNS_PID"
await_lines "$N" '^READY=1' 3
check_eq "a failed reload: RELOADING=1 then READY=1 all the same" \
	"READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1" "$(kinds "$N")"
check_has "its status says it failed" "the last reload failed" "$(grep '^READY=1' "$N" | tail -1)"
cp "$W/erdns.json.good" "$W/erdns.json"
check_eq "still answers after the failed reload" "192.0.2.2" "$(qs www.example.org)"

stop_erdns
check_eq "SIGTERM: STOPPING=1 last" "STOPPING=1" "$(kinds "$N" | awk '{ print $NF }')"

# --- 2. as the unit runs it: unprivileged, CAP_NET_BIND_SERVICE only ------------

cp "$ERDNS" "$T/erdns"
cp "$ZONE" "$T/zone"
chmod 644 "$T/zone"
PORT=$(free_low_port) || exit 1
config "$T/low.json" "$PORT" nobody "$T/zone"
chmod 644 "$T/low.json"
unpriv_start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)
if [ "$PORT" -lt "$unpriv_start" ]; then
	# (bounded: an erdns that did bind would serve until killed)
	out=$(timeout 10 setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
		--inh-caps=-all --bounding-set=-all "$T/erdns" serve -c "$T/low.json" 2>&1)
	check_eq "without the capability: exit 1" 1 "$?"
	check_has "without the capability: port $PORT refused" "Permission denied" "$out"
else
	echo "note: net.ipv4.ip_unprivileged_port_start=$unpriv_start, any user binds $PORT"
fi

"${AS_UNIT_USER[@]}" "$T/erdns" serve -c "$T/low.json" 2>"$W/erdns.log" &
ERDNS_PID=$!
if await_ready "$ERDNS_PID" dig @127.0.0.1 -p "$PORT" +tries=1 +time=1 +short -c CH -t TXT id.server; then
	BG_PIDS+=("$ERDNS_PID")
	nobody=$(id -u nobody)
	check_eq "runs as nobody from the start" "$nobody $nobody $nobody $nobody" \
		"$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$ERDNS_PID/status")"
	check_eq "its one capability: CAP_NET_BIND_SERVICE" "0000000000000400" \
		"$(awk '/^CapEff:/ { print $2 }' "/proc/$ERDNS_PID/status")"
	check_eq "none other can come back (bounding set)" "0000000000000400" \
		"$(awk '/^CapBnd:/ { print $2 }' "/proc/$ERDNS_PID/status")"
	check_has "server.user naming that user is accepted as is" \
		"running as user nobody (started as it)" "$(cat "$W/erdns.log")"
	check_eq "answers on port $PORT (forwarded)" "192.0.2.2" "$(qs www.example.org)"
	check_eq "answers on port $PORT (local zone)" "10.20.0.10" "$(qs printer.branch.contoso.com)"
	stop_erdns
else
	not_ok "erdns as nobody with CAP_NET_BIND_SERVICE did not start on port $PORT"
	cat "$W/erdns.log"
fi

# --- 3. every system call is allowed by the unit's SystemCallFilter ----------------

# allowed.py UNIT TRACE...: the unit's SystemCallFilter= lines applied in
# order (the first sets allow- or deny-list mode; a later "~" line removes
# from an allow list, a plain one adds), groups expanded through
# `systemd-analyze syscall-filter`; prints every system call in the strace
# files (strace -f -o: "PID name(...", or "name(..." without -f) that the
# filter would refuse after "refused:", and the names seen after "observed:".
cat >"$W/allowed.py" <<'PY'
import re, subprocess, sys
unit, traces = sys.argv[1], sys.argv[2:]
text = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"],
                      capture_output=True, text=True, check=True).stdout
groups, current = {}, None
for line in text.splitlines():
    if line.startswith("@"):
        current = groups.setdefault(line.strip(), [])
    elif line.startswith("    ") and current is not None and not line.strip().startswith("#"):
        current.append(line.strip())
    elif not line.strip():
        current = None

def expand(item, seen=()):
    if not item.startswith("@"):
        return {item}
    if item not in groups or item in seen:
        sys.exit("unknown or cyclic group " + item)
    out = set()
    for member in groups[item]:
        out |= expand(member, seen + (item,))
    return out

mode, names = None, set()
for line in open(unit):
    m = re.match(r"\s*SystemCallFilter=(.*)", line)
    if not m:
        continue
    value = m.group(1).strip()
    if not value:
        mode, names = None, set()
        continue
    invert = value.startswith("~")
    items = set()
    for item in value.lstrip("~").split():
        items |= expand(item)
    if mode is None:
        mode = "deny" if invert else "allow"
        names = items
    elif (mode == "allow") != invert:
        names |= items
    else:
        names -= items
if mode is None:
    sys.exit("no SystemCallFilter= in " + unit)

seen = set()
for path in traces:
    for line in open(path):
        m = re.match(r"(?:\d+\s+)?([a-z_][a-z0-9_]*)\(", line)
        if m:
            seen.add(m.group(1))
refused = sorted(n for n in seen if (n in names) != (mode == "allow"))
print("observed: " + " ".join(sorted(seen)))
print("refused: " + " ".join(refused))
PY

if grep -aq __asan_init "$ERDNS"; then
	# The sanitizer runtime makes calls of its own (LeakSanitizer stops
	# the world with ptrace, which it cannot do under strace): the release
	# build's run is the one the unit's filter is about.
	echo "note: sanitizer build, the system call check runs with the release build"
elif ! command -v strace >/dev/null; then
	not_ok "strace not found (Debian's strace package): system calls not checked"
else
	PORT=$(free_low_port) || exit 1
	config "$T/trace.json" "$PORT" "" "$T/zone"
	chmod 644 "$T/trace.json"
	chown nobody "$T" # strace, as nobody, writes its traces here
	start_listener trace "$T" "$T/trace.json"
	"${AS_UNIT_USER[@]}" strace -f -qq -o "$T/trace.check" "$T/erdns" check -c "$T/trace.json" \
		>"$W/check.out" 2>&1
	check_eq "ExecStartPre's erdns check passes" 0 "$?"
	NOTIFY_SOCKET="$T/trace.sock" WATCHDOG_USEC=100000 \
		"${AS_UNIT_USER[@]}" strace -f -qq -o "$T/trace.serve" "$T/erdns" serve -c "$T/trace.json" \
		2>"$W/erdns.log" &
	tracer=$!
	BG_PIDS+=("$tracer")
	TN="$W/trace.log"
	if await_lines "$TN" '^READY=1' 1; then
		ERDNS_PID=$(pgrep -P "$tracer")
		check_eq "traced: forwarded over UDP" "192.0.2.2" "$(qs www.example.org)"
		check_eq "traced: forwarded over TCP" "192.0.2.2" "$(qs +tcp tcp.example.org)"
		check_eq "traced: truncated upstream answer retried over TCP" "192.0.2.3" \
			"$(qs www.trunc.example)"
		check_eq "traced: local zone" "10.20.0.10" "$(qs printer.branch.contoso.com)"
		check_has "traced: CHAOS routing answer" "via=branch" "$(qs -c CH -t TXT www.example.org)"
		# ExecReload's second line, as the unit's user
		"${AS_UNIT_USER[@]}" strace -qq -o "$T/trace.kill" /bin/kill -HUP "$ERDNS_PID"
		await_lines "$TN" '^READY=1' 2
		check_eq "traced: reloaded" "READY=1 RELOADING=1 READY=1" "$(kinds "$TN")"
		check_eq "traced: answers after the reload" "192.0.2.2" "$(qs www2.example.org)"
		# the control socket's calls too (erdns ctl itself runs as an admin)
		for cmd in stats upstreams "explain www.example.org" cache-dump health reopen \
			"flush www.example.org"; do
			# shellcheck disable=SC2086 # the words of cmd are its arguments
			"$ERDNS" ctl -s "$T/trace.ctl" $cmd >/dev/null
			check_eq "traced: erdns ctl $cmd" 0 "$?"
		done
		await_lines "$TN" '^WATCHDOG=1' 2
		kill -TERM "$ERDNS_PID"
		for _ in $(seq 200); do
			is_running "$tracer" || break
			sleep 0.05
		done
		if is_running "$tracer"; then
			not_ok "traced erdns did not stop within 10 s of SIGTERM"
			kill -KILL "$ERDNS_PID" "$tracer"
		fi
		status=0
		wait "$tracer" || status=$?
		check_eq "traced: exits 0 on SIGTERM" 0 "$status"
		check_has "traced: stopped cleanly" "stopped cleanly" "$(cat "$W/erdns.log")"
		result=$(python3 "$W/allowed.py" "$UNIT" "$T/trace.check" "$T/trace.serve" \
			"$T/trace.kill")
		check_eq "the filter could be computed" 0 "$?"
		echo "$result" | grep '^observed: '
		check_eq "every system call is allowed by the unit's SystemCallFilter" "" \
			"$(echo "$result" | sed -n 's/^refused: *//p')"
	else
		not_ok "traced erdns did not send READY=1"
		cat "$W/erdns.log"
	fi
fi

# --- 4. systemd-analyze on the unit ----------------------------------------------

sec=$(systemd-analyze security --offline=true --no-pager "$UNIT" 2>&1)
score=$(echo "$sec" | tail -1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "security: $(echo "$sec" | tail -1)"
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }'; then
	ok "systemd-analyze security: exposure $score <= 1.5"
else
	not_ok "systemd-analyze security: exposure [$score] above 1.5: $(echo "$sec" | grep '✗')"
fi
# The only complaint allowed: the binary is not installed on this machine.
verify=$(systemd-analyze verify "$UNIT" 2>&1 | grep -v '^$' |
	grep -vx 'erdns.service: Command /usr/local/bin/erdns is not executable: No such file or directory')
check_eq "systemd-analyze verify accepts the unit" "" "$verify"
finish
