#!/usr/bin/env bash
# The control socket and `erdns ctl` (SPEC 1, SPEC 4): every command, for
# people and with --json; what they report agrees with what DNS does
# (upstream health, flush, explain and the CHAOS answer, cache-dump,
# reload); the socket is 0660; and clients that misbehave (silent, garbage,
# a 1 MB line, 40 at once) are dropped while DNS keeps answering promptly.
. "$(dirname "$0")/lib.sh"

ABUSE="$(dirname "$0")/ctl_abuse.py"
start_standin HQ --id 1
start_standin BR --id 2
start_standin FLAKY --id 3 --mode-file "$W/flaky.mode"
PORT=$(free_port)
SOCK="$W/control.sock"
config() { # group-for-x.example
	cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2 },
  "upstreams": {
    "hq": { "servers": ["127.0.0.1:$HQ"] },
    "branch": { "servers": ["127.0.0.1:$BR"] },
    "flaky": { "servers": ["127.0.0.1:$FLAKY"], "max_fails": 2, "timeout_ms": 200,
               "probe_interval_ms": 30000 }
  },
  "routes": [ { "domains": ["x.example"], "via": "$1" },
              { "domains": ["f.example"], "via": ["flaky", "branch"] } ],
  "control": { "socket": "$SOCK" }
}
JSON
}
config hq
# A previous run's socket file, nothing listening on it: removed at start.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK"
check_eq "a stale socket file is there before the start" socket "$(stat -c %F "$SOCK")"
start_erdns "$W/erdns.json"

# run CMD...: sets OUT (stdout), ERR (stderr), RC.
run() {
	OUT=$("$@" 2>"$W/stderr")
	RC=$?
	ERR=$(cat "$W/stderr")
}
ctl() { run "$ERDNS" ctl -s "$SOCK" "$@"; }
# jq_py EXPR: evaluates EXPR over the JSON document on stdin (as d).
jq_py() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
# ctl_json CMD... then jget EXPR: one --json exchange, fields read from it.
ctl_json() {
	ctl --json "$@"
	JSON=$OUT
}
jget() { printf '%s' "$JSON" | jq_py "$1" 2>&1; }

check_eq "socket file mode is 0660" 660 "$(stat -c %a "$SOCK")"
check_eq "socket file is a socket" socket "$(stat -c %F "$SOCK")"

# --- stats -------------------------------------------------------------------
for i in 1 2 3; do qs s$i.x.example >/dev/null; done
ctl stats
check_eq "stats: exit 0" 0 "$RC"
check_has "stats: key: value lines" "workers:" "$OUT"
check_has "stats: cache counters" "cache_entries:" "$OUT"
ctl_json stats
check_eq "stats --json: exit 0" 0 "$RC"
check_eq "stats --json: ok" True "$(jget 'd["ok"]')"
check_eq "stats --json: two workers" 2 "$(jget 'd["workers"]')"
check_eq "stats --json: udp queries summed over the workers" True "$(jget 'd["counters"]["queries_udp"] >= 3')"
check_eq "stats --json: every counter of the table" True "$(jget '"querylog_dropped" in d["counters"] and "failovers" in d["counters"]')"
check_eq "stats --json: cache entries" True "$(jget 'd["cache"]["entries"] >= 3')"
check_eq "stats --json: uptime" True "$(jget 'd["uptime_s"] >= 0')"

# --- upstreams: a stand-in made silent is down after max_fails ----------------
check_eq "flaky answers at first" "192.0.2.3" "$(qs f0.f.example)"
ctl health
check_eq "health: ok while every first group is reachable" "ok" "$OUT"
echo silent >"$W/flaky.mode"
for i in $(seq 8); do
	ctl_json upstreams
	[ "$(jget '[u["state"] for u in d["upstreams"] if u["group"] == "flaky"][0]')" = down ] && break
	qs f$i.f.example >/dev/null
done
ctl upstreams
check_eq "upstreams: exit 0" 0 "$RC"
check_has "upstreams: a table with a header" "GROUP   ADDRESS" "$OUT"
row=$(printf '%s\n' "$OUT" | grep "^flaky ")
check_has "upstreams: the silent stand-in is down" "127.0.0.1:$FLAKY  down" "$row"
check_lacks "upstreams: with its last change time" "never" "$row"
check_has "upstreams: hq is up" "127.0.0.1:$HQ" "$(printf '%s\n' "$OUT" | grep "^hq .* up ")"
ctl_json upstreams
check_eq "upstreams --json: three rows" 3 "$(jget 'len(d["upstreams"])')"
check_eq "upstreams --json: flaky down" down "$(jget '[u["state"] for u in d["upstreams"] if u["group"] == "flaky"][0]')"
check_eq "upstreams --json: its failures reached max_fails" True "$(jget '[u["failures"] for u in d["upstreams"] if u["group"] == "flaky"][0] >= 2')"
check_eq "upstreams --json: last change in ISO 8601 UTC" True "$(jget 'bool(__import__("re").fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", [u["last_change"] for u in d["upstreams"] if u["group"] == "flaky"][0]))')"
check_eq "upstreams --json: hq has an RTT" True "$(jget '[u["rtt_ms"] for u in d["upstreams"] if u["group"] == "hq"][0] is not None')"

# --- health --------------------------------------------------------------------
ctl health
check_eq "health: degraded when a first group is unreachable" \
	"degraded: no reachable server in group flaky, first of chain flaky,branch" "$OUT"
ctl_json health
check_eq "health --json: status" degraded "$(jget 'd["status"]')"
check_has "health --json: reason" "group flaky" "$(jget 'd["reason"]')"

# --- flush NAME: the next query reaches the stand-in again ----------------------
qs a.x.example >/dev/null
before=$(standin_count "$HQ_LOG")
qs a.x.example >/dev/null
check_eq "a.x.example is cached (hq not asked again)" "$before" "$(standin_count "$HQ_LOG")"
ctl flush a.x.example
check_eq "flush NAME: exit 0" 0 "$RC"
check_eq "flush NAME: says how many" "flushed 1 entry (a.x.example)" "$OUT"
qs a.x.example >/dev/null
check_eq "flush NAME: the next query reaches hq" "$((before + 1))" "$(standin_count "$HQ_LOG")"
ctl_json flush A.X.example
check_eq "flush --json: removed" 1 "$(jget 'd["removed"]')"
check_eq "flush --json: scope" name "$(jget 'd["scope"]')"
qs b.sub.x.example >/dev/null
qs c.sub.x.example >/dev/null
ctl flush --subtree sub.x.example
check_eq "flush --subtree: the names below" "flushed 2 entries (sub.x.example and below)" "$OUT"
ctl_json flush --subtree nothing.example
check_eq "flush --subtree --json: scope" subtree "$(jget 'd["scope"]')"
ctl flush
check_eq "flush: exit 0" 0 "$RC"
check_has "flush: the whole cache" "(the whole cache)" "$OUT"
ctl_json flush
check_eq "flush --json: nothing left" 0 "$(jget 'd["removed"]')"
ctl flush bad..name
check_eq "flush: a bad name exits 1" 1 "$RC"
check_has "flush: a bad name is named" '"bad..name" is not a valid domain name' "$ERR"

# --- explain agrees with the CHAOS answer ------------------------------------
qs e.x.example >/dev/null
sleep 0.25 # the workers publish RTT every 100 ms: both sides see the same
chaos=$(qs -c CH -t TXT e.x.example | tr -d '"')
ctl explain e.x.example 127.0.0.1
check_eq "explain: exit 0" 0 "$RC"
line=$(printf '%s\n' "$OUT" | head -1)
check_eq "explain: the CHAOS answer's route and upstream" "${chaos% rtt_ms=*}" "${line% rtt_ms=*}"
check_has "explain: the route" "via=hq upstream=127.0.0.1:$HQ" "$line"
check_has "explain: a cached answer" "cache:    A hit, ttl" "$OUT"
check_has "explain: no AAAA cached" "cache:    AAAA none" "$OUT"
ctl_json explain e.x.example 127.0.0.1
check_eq "explain --json: text as CHAOS" "${chaos% rtt_ms=*}" "$(jget 'd["text"].rsplit(" rtt_ms=", 1)[0]')"
check_eq "explain --json: via" hq "$(jget 'd["via"]')"
check_eq "explain --json: upstream" "127.0.0.1:$HQ" "$(jget 'd["upstream"]')"
check_eq "explain --json: cache hit" hit "$(jget 'd["cache"][0]["state"]')"
ctl explain bad..name
check_eq "explain: a bad name exits 1" 1 "$RC"

# --- cache-dump lists a name just asked ---------------------------------------
qs dump.x.example >/dev/null
qs dump.x.example AAAA >/dev/null
ctl cache-dump
check_eq "cache-dump: exit 0" 0 "$RC"
check_has "cache-dump: a header" "NAME" "$(printf '%s\n' "$OUT" | head -1)"
check_eq "cache-dump: the name just asked, its chain" 1 \
	"$(printf '%s\n' "$OUT" | grep -cE '^dump\.x\.example +A +IN +hq +[0-9]+ +-$')"
check_has "cache-dump: a count" "entries" "$(printf '%s\n' "$OUT" | tail -1)"
ctl_json cache-dump
check_eq "cache-dump --json: the name with its chain" hq "$(jget '[e["chain"] for e in d["entries"] if e["name"] == "dump.x.example" and e["type"] == "AAAA"][0]')"
check_eq "cache-dump --json: count = entries" True "$(jget 'd["count"] == len(d["entries"]) and not d["truncated"]')"
check_eq "cache-dump --json: TTL left" True "$(jget 'all(0 < e["ttl"] <= 60 for e in d["entries"] if e["name"] == "dump.x.example")')"

# --- reopen, and SIGUSR1 does the same without killing erdns ---------------------
ctl reopen
check_eq "reopen: exit 0" 0 "$RC"
check_eq "reopen: says what it did" "no log file to reopen" "$OUT"
ctl_json reopen
check_eq "reopen --json: ok" True "$(jget 'd["ok"]')"
kill -USR1 "$ERDNS_PID"
sleep 0.3
is_running "$ERDNS_PID" && ok "SIGUSR1 does not kill erdns" || not_ok "SIGUSR1 killed erdns"
check_eq "SIGUSR1 and ctl reopen log the same" 3 "$(grep -c 'reopen: no log file to reopen' "$W/erdns.log")"
check_eq "still answering after SIGUSR1" "192.0.2.1" "$(qs u.x.example)"

# --- reload: a good one is in force when ctl returns; a bad one changes nothing --
check_eq "before reload: x.example via hq" "192.0.2.1" "$(qs r.x.example)"
config branch
ctl reload
check_eq "reload: exit 0" 0 "$RC"
check_has "reload: says it reloaded" "configuration reloaded from $W/erdns.json" "$OUT"
check_has "reload: rules per source" "rules:          global: 2 domains (was 2)" "$OUT"
check_has "reload: route chains renumbered" "route chains:   " "$OUT"
check_has "reload: cache flushed" "cache flushed:  " "$OUT"
check_eq "after reload: the next query follows the new route" "192.0.2.2" "$(qs r.x.example)"
ctl_json reload
check_eq "reload --json: ok" True "$(jget 'd["ok"]')"
check_eq "reload --json: nothing changed this time" "[] False 0" \
	"$(jget '" ".join(map(str, (d["changes"]["groups"]["changed"], d["changes"]["chains"]["renumbered"], d["changes"]["cache_flushed"])))')"
printf '{ "server": {\n' >"$W/erdns.json"
ctl reload
check_eq "bad reload: exit 1" 1 "$RC"
check_has "bad reload: the error, with its place" \
	"erdns: ctl reload: reload failed, keeping the running configuration: $W/erdns.json:2:" "$ERR"
check_eq "bad reload: one line" 1 "$(printf '%s\n' "$ERR" | wc -l)"
check_eq "bad reload: the old config still answers" "192.0.2.2" "$(qs r2.x.example)"
ctl_json reload
check_eq "bad reload --json: exit 1" 1 "$RC"
check_eq "bad reload --json: ok false" False "$(jget 'd["ok"]')"
check_has "bad reload --json: error" "keeping the running configuration" "$(jget 'd["error"]')"
config branch

# --- misbehaving clients; DNS answers promptly all along ----------------------
# A probe: one uncached query every 100 ms, each timed, during the section.
# dig bound to an ephemeral port that another test's process happens to
# send to gets a stray query ("Warning: query response not set") and gives
# up: that one is asked again, as a client would.
probe_one() {
	t0=$(now_ms)
	a=$(dig @127.0.0.1 -p "$PORT" +tries=1 +time=2 +short "$1")
	echo "$(($(now_ms) - t0)) $a"
}
(for i in $(seq 60); do
	line=$(probe_one "p$i.x.example")
	case $line in *"response not set"*) line=$(probe_one "p$i.x.example") ;; esac
	echo "$line"
	[ -e "$W/probe.stop" ] && break
	sleep 0.1
done) >"$W/probe.txt" &
probe=$!
t=$(python3 "$ABUSE" "$SOCK" idle)
check_eq "silent client: dropped after the 2 s limit" True \
	"$(python3 -c "print(1.8 <= float('${t/never/99}') <= 3.0)")"
check_has "garbage bytes: refused" '"error":"request contains a non-printable byte"' \
	"$(python3 "$ABUSE" "$SOCK" raw 00ff0102414243ff0a)"
check_has "unknown command: refused" '"error":"unknown command \"frobnicate\"' \
	"$(python3 "$ABUSE" "$SOCK" raw "$(printf 'frobnicate\n' | od -An -tx1 | tr -d ' \n')")"
check_has "1 MB line: refused" '"error":"request line longer than 4096 bytes"' \
	"$(python3 "$ABUSE" "$SOCK" long 1048576)"
check_has "a 4096-byte line is no error of length" '"error":"unknown command' \
	"$(python3 "$ABUSE" "$SOCK" long 4096)"
python3 "$ABUSE" "$SOCK" flood 40 "$W/flood.ready" >"$W/flood.txt" &
flood=$!
for _ in $(seq 100); do [ -e "$W/flood.ready" ] && break; sleep 0.05; done
ctl stats
check_eq "17th connection: exit 1" 1 "$RC"
check_has "17th connection: told why" "too many control connections" "$ERR"
wait "$flood"
read -r rejected closed secs <"$W/flood.txt"
check_eq "40 at once: 16 held, the other 24 closed at once" 24 "$rejected"
check_eq "40 at once: every one closed in the end" 40 "$closed"
check_eq "40 at once: the held ones dropped by the 2 s limit" True \
	"$(python3 -c "print($secs <= 3.5)")"
ctl stats
check_eq "after the flood: ctl works again" 0 "$RC"
touch "$W/probe.stop"
wait "$probe"
n=$(wc -l <"$W/probe.txt")
check_eq "DNS during the abuse: queries made" True "$([ "$n" -ge 20 ] && echo True)"
check_eq "DNS during the abuse: every query answered" "$n" "$(grep -c ' 192\.0\.2\.2$' "$W/probe.txt")"
slowest=$(sort -n "$W/probe.txt" | tail -1 | cut -d' ' -f1)
check_le "DNS during the abuse: each answer under 1 s (ms)" "$slowest" 999

# --- a second erdns on the same socket, and one whose socket cannot be bound ---
# Each serves DNS without a control socket and says why; the first keeps its.
# extra NAME SOCKET: runs another erdns on a port of its own until it
# answers (another port when a concurrent test took the one chosen).
extra() {
	local port pid try
	for try in 1 2 3 4 5; do
		port=$(free_port)
		sed -e "s/127\.0\.0\.1:$PORT\b/127.0.0.1:$port/" -e "s|\"$SOCK\"|\"$2\"|" \
			"$W/erdns.json" >"$W/$1.json"
		"$ERDNS" serve -c "$W/$1.json" 2>"$W/$1.log" &
		pid=$!
		if await_ready "$pid" dig @127.0.0.1 -p "$port" +tries=1 +time=1 +short u.x.example; then
			ok "$1: serves DNS without a control socket"
			kill -TERM "$pid"
			wait "$pid"
			check_eq "$1: stops cleanly" 0 "$?"
			return
		fi
		grep -q "already in use" "$W/$1.log" || break
	done
	not_ok "$1: did not serve: $(cat "$W/$1.log")"
}
extra second "$SOCK"
check_has "second: says another process answers" \
	"control socket $SOCK: another process answers on it (is another erdns running?); erdns ctl is unavailable" \
	"$(cat "$W/second.log")"
ctl health
check_eq "the first one's socket is left alone" 0 "$RC"
extra unbindable "$W/no-such-dir/c.sock"
check_has "unbindable: a warning naming the path and the reason" \
	"control socket $W/no-such-dir/c.sock: cannot bind: No such file or directory; erdns ctl is unavailable" \
	"$(cat "$W/unbindable.log")"

# --- erdns ctl without a server -------------------------------------------------
run "$ERDNS" ctl -s "$W/nope.sock" stats
check_eq "missing socket: exit 1" 1 "$RC"
check_eq "missing socket: one clear line" \
	"erdns: cannot connect to $W/nope.sock: No such file or directory (is erdns running? see control.socket)" "$ERR"
run "$ERDNS" ctl -c "$W/erdns.json" health
check_eq "socket from the config's control.socket" "degraded" "${OUT%%:*}"
run "$ERDNS" ctl
check_eq "no command: usage (2)" 2 "$RC"
run "$ERDNS" ctl -s "$SOCK" frobnicate
check_eq "unknown command: usage (2)" 2 "$RC"

stop_erdns
check_eq "the socket file is removed at stop" "" "$(ls "$SOCK" 2>/dev/null)"
finish
