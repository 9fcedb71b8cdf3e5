#!/usr/bin/env bash
# The query log (SPEC 4) through the real binary, two workers: one JSON line
# per answer with exactly the SPEC's keys, checked for a miss, a hit, a stale
# answer, a local zone, a view's rule, an m365 route's er (the ExpressRoute
# audit's verdict), a CHAOS answer, BADVERS and a refused client;
# SIGUSR1 (and erdns ctl reopen) after logrotate's rename writes to the new
# file; a reload with unchanged settings retries a file that failed to open;
# a reload moves the log to /dev/full and then to a FIFO nobody reads,
# and DNS answers neither slow down nor stop, nor does the server's stop.
. "$(dirname "$0")/lib.sh"

echo answer >"$W/mode-up"
start_standin UP --id 2 --mode-file "$W/mode-up"
PORT=$(free_port)
QF="$W/queries.jsonl"
write_config() { # query_file
	cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2,
              "allow": ["127.0.0.1/32", "127.0.0.4/32"], "query_timeout_ms": 1000 },
  "upstreams": { "branch": { "servers": ["127.0.0.1:$UP"], "timeout_ms": 300 },
                 "hq": { "servers": ["127.0.0.1:$UP"], "timeout_ms": 300 } },
  "routes": [ { "m365": { "file": "$SRCDIR/tests/fixtures/m365/audit.json",
                          "service_areas": ["Exchange"] }, "via": ["hq", "branch"] } ],
  "views": [ { "name": "pilot", "clients": ["127.0.0.4/32"],
               "routes": [ { "domains": ["office.test"], "via": "hq" } ] } ],
  "zones": [ { "file": "$SRCDIR/zones/branch.contoso.com.zone" } ],
  "cache": { "max_ttl_s": 2, "serve_stale_s": 3600 },
  "control": { "socket": "$W/ctl.sock" },
  "log": { "queries": true, "query_file": "$1" }
}
JSON
}
write_config "$QF"
start_erdns "$W/erdns.json"

# qline FILE QNAME [CACHE]: the line for QNAME (and that cache value) as
# key=value lines, after checking it is JSON with exactly SPEC 4's keys in
# order, ts RFC 3339 UTC with milliseconds, latency_ms with 3 decimals.
qline() {
	python3 - "$@" <<'PY'
import datetime, json, re, sys
path, qname = sys.argv[1], sys.argv[2]
cache = sys.argv[3] if len(sys.argv) > 3 else None
keys = ["ts", "client", "qname", "qtype", "view", "rule", "via", "upstream", "rcode",
        "latency_ms", "cache", "er"]
for raw in open(path, encoding="utf-8"):
    obj = json.loads(raw)
    if obj["qname"] != qname or (cache and obj["cache"] != cache):
        continue
    print("keys=" + ("ok" if list(obj) == keys else ",".join(obj)))
    ts = obj["ts"]
    ok = re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts) is not None
    when = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    age = (datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()
    print("ts=" + ("ok" if ok and -5 < age < 120 else "bad " + ts))
    lat = re.search(r'"latency_ms":(\d+\.\d{3}),', raw)
    print("latency=" + ("ok" if lat and isinstance(obj["latency_ms"], float) else "bad"))
    for k in keys[1:]:
        if k != "latency_ms":
            print(f"{k}={obj[k]}")
    print(f"latency_ms={obj['latency_ms']}")
    sys.exit(0)
print("missing")
PY
}
# await_line FILE QNAME [CACHE]: the writer flushes within 50 ms; bounded.
await_line() {
	local out
	for _ in $(seq 60); do
		out=$(qline "$@")
		[ "${out%%$'\n'*}" = "keys=ok" ] && return 0
		sleep 0.05
	done
	return 1
}
field() { echo "$LINE" | sed -n "s/^$1=//p"; }
# expect NAME QNAME CACHE key=value...: one line, its format and values
expect() {
	local what=$1 qname=$2 cache=$3 kv
	shift 3
	await_line "$QF" "$qname" "$cache"
	LINE=$(qline "$QF" "$qname" "$cache")
	check_eq "$what: JSON with SPEC 4's keys, in order" ok "$(field keys)"
	check_eq "$what: ts RFC 3339 UTC, milliseconds, now" ok "$(field ts)"
	check_eq "$what: latency_ms with 3 decimals" ok "$(field latency)"
	for kv in "$@"; do
		check_eq "$what: ${kv%%=*}" "${kv#*=}" "$(field "${kv%%=*}")"
	done
}

check_eq "miss answered" "192.0.2.2" "$(qs www.example.org)"
check_eq "hit answered" "192.0.2.2" "$(qs www.example.org)" # within max_ttl_s
expect "miss" www.example.org miss client=127.0.0.1 qtype=A view=- rule=default via=branch \
	"upstream=127.0.0.1:$UP" rcode=NOERROR er=n/a
expect "hit" www.example.org hit client=127.0.0.1 qtype=A view=- rule=default via=branch \
	upstream=- rcode=NOERROR er=n/a
q -t AAAA nx-a.example.org >/dev/null
expect "NXDOMAIN" nx-a.example.org miss qtype=AAAA rcode=NXDOMAIN "upstream=127.0.0.1:$UP"
check_eq "local zone answered" "10.20.0.10" "$(qs printer.branch.contoso.com)"
expect "local zone" printer.branch.contoso.com local qtype=A view=- rule=local via=- upstream=- \
	rcode=NOERROR er=n/a
check_eq "view client answered" "192.0.2.2" "$(qs -b 127.0.0.4 www.office.test)"
expect "view" www.office.test miss client=127.0.0.4 view=pilot rule=office.test via=hq \
	"upstream=127.0.0.1:$UP"
# An m365 route (the audit's fixture list): the stand-in's 192.0.2.2 lies
# outside its ExpressRoute prefixes, which the audit says and the log too.
check_eq "m365 name answered" "192.0.2.2" "$(qs mail.audit.example)"
expect "m365 route" mail.audit.example miss rule=mail.audit.example via=hq,branch \
	"upstream=127.0.0.1:$UP" er=outside
qs mail.audit.example >/dev/null
expect "m365 route, hit (the verdict cached with the answer)" mail.audit.example hit \
	rule=mail.audit.example via=hq,branch upstream=- er=outside
check_has "refused client" "status: REFUSED" "$(q -b 127.0.0.3 www.example.com)"
expect "refused" www.example.com local client=127.0.0.3 qtype=A view=- rule=- via=- upstream=- \
	rcode=REFUSED er=n/a
qs -c CH -t TXT id.server >/dev/null
expect "CHAOS" id.server local qtype=TXT rule=chaos via=- upstream=-
check_has "BADVERS for EDNS version 1" "status: BADVERS" "$(q +edns=1 +noednsneg badvers.example.org)"
expect "BADVERS (its upper bits in the OPT record)" badvers.example.org local rcode=BADVERS rule=-
check_has "odd name answered" "status:" "$(q 'we\"ird\\name.example.org' TYPE65)"
expect "odd name, escaped" 'we\"ird\\name.example.org' miss qtype=HTTPS

# Stale: the entry (max_ttl_s 2) expires, then the upstream goes silent.
qs stale.example.org >/dev/null
sleep 2.2
echo silent >"$W/mode-up"
check_has "stale answer served" "EDE: 3" "$(q stale.example.org)"
expect "stale" stale.example.org stale qtype=A via=branch upstream=- rcode=NOERROR
echo answer >"$W/mode-up"
check_eq "every line is JSON" 0 "$(python3 -c '
import json, sys
bad = 0
for l in open(sys.argv[1], encoding="utf-8"):
    try: json.loads(l)
    except ValueError: bad += 1
print(bad)' "$QF")"

# logrotate: rename, SIGUSR1, new lines go to a new file by the old name.
before=$(wc -l <"$QF")
mv "$QF" "$QF.1"
kill -USR1 "$ERDNS_PID"
for _ in $(seq 100); do grep -q "reopen: reopened" "$W/erdns.log" && break; sleep 0.05; done
check_has "SIGUSR1 reopens" "reopen: reopened $QF" "$(cat "$W/erdns.log")"
qs after-rotate.example.org >/dev/null
check_eq "after the reopen: a line in the new file" 0 "$(await_line "$QF" after-rotate.example.org; echo $?)"
check_eq "the renamed file keeps the old lines, and only them" "$before" "$(wc -l <"$QF.1")"
check_eq "nothing new in the renamed file" missing "$(qline "$QF.1" after-rotate.example.org)"
# erdns ctl reopen does the same, and says so
mv "$QF" "$QF.2"
check_eq "ctl reopen" "reopened $QF" "$("$ERDNS" ctl -s "$W/ctl.sock" reopen 2>&1)"
qs after-ctl.example.org >/dev/null
check_eq "after ctl reopen: a line in the new file" 0 "$(await_line "$QF" after-ctl.example.org; echo $?)"
check_eq "nothing new in the file renamed before it" missing "$(qline "$QF.2" after-ctl.example.org)"

# A file that cannot be opened (its directory is missing) is tried again by
# a reload with the same settings once the directory is there.
LATE="$W/late/queries.jsonl"
write_config "$LATE"
kill -HUP "$ERDNS_PID"
for _ in $(seq 100); do grep -q "cannot open $LATE" "$W/erdns.log" && break; sleep 0.05; done
check_has "reload to a missing directory: the error is logged" \
	"query log: cannot open $LATE: No such file or directory" "$(cat "$W/erdns.log")"
mkdir "$W/late"
kill -HUP "$ERDNS_PID" # the same configuration
for _ in $(seq 100); do grep -q "writing to $LATE" "$W/erdns.log" && break; sleep 0.05; done
check_has "a reload with the same settings opens it" "query log: writing to $LATE" \
	"$(cat "$W/erdns.log")"
qs after-late.example.org >/dev/null
check_eq "after the retry: a line in the file" 0 "$(await_line "$LATE" after-late.example.org; echo $?)"

# answer_many N PREFIX: N queries one after the other (2 s timeout each);
# prints "answered elapsed_ms".
answer_many() {
	python3 - "$PORT" "$1" "$2" <<'PY'
import socket, struct, sys, time
port, n, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
answered, t0 = 0, time.monotonic()
for i in range(n):
    name = b"".join(bytes([len(l)]) + l.encode() for l in f"{prefix}{i}.example.org".split(".")) + b"\0"
    s.sendto(struct.pack("!HHHHHH", i, 0x100, 1, 0, 0, 0) + name + struct.pack("!HH", 1, 1),
             ("127.0.0.1", port))
    try:
        while True:
            data = s.recv(4096)
            if struct.unpack("!H", data[:2])[0] == i:
                answered += 1
                break
    except socket.timeout:
        pass
print(answered, int((time.monotonic() - t0) * 1000))
PY
}
# reload_to FILE: a reload that moves the log; waits for the message.
reload_to() {
	write_config "$1"
	local n
	n=$(grep -c "query log: writing to" "$W/erdns.log")
	kill -HUP "$ERDNS_PID"
	for _ in $(seq 100); do
		[ "$(grep -c "query log: writing to" "$W/erdns.log")" -gt "$n" ] && return 0
		sleep 0.05
	done
	return 1
}

# A full disk: every write fails; answers do not notice.
check_eq "reload to /dev/full" 0 "$(reload_to /dev/full; echo $?)"
read -r answered ms < <(answer_many 100 full)
check_eq "/dev/full: 100 queries, each answered" 100 "$answered"
check_le "/dev/full: 100 queries within 5 s (ms)" "$ms" 5000
for _ in $(seq 40); do grep -q "cannot write to /dev/full" "$W/erdns.log" && break; sleep 0.05; done
check_has "/dev/full: the failure is logged, drops counted" \
	"cannot write to /dev/full: No space left on device; lines are dropped and counted" \
	"$(cat "$W/erdns.log")"
check_eq "/dev/full: logged once, not per line" 1 "$(grep -c "cannot write to /dev/full" "$W/erdns.log")"

# A FIFO that is open (so erdns's non-blocking open succeeds) and never
# read: the pipe fills (64 KiB, ~300 lines), then lines are dropped.
mkfifo "$W/fifo"
exec 3<>"$W/fifo"
check_eq "reload to a FIFO nobody reads" 0 "$(reload_to "$W/fifo"; echo $?)"
read -r answered ms < <(answer_many 600 fifo)
check_eq "FIFO: 600 queries, each answered" 600 "$answered"
check_le "FIFO: 600 queries within 15 s (ms)" "$ms" 15000
for _ in $(seq 40); do grep -q "took nothing for" "$W/erdns.log" && break; sleep 0.05; done
check_has "FIFO: the stall is logged, drops counted" "$W/fifo took nothing for 100 ms" \
	"$(cat "$W/erdns.log")"
check_eq "still answering" "192.0.2.2" "$(qs still.example.org)"
answer_many 300 late >/dev/null # lines still queued for the full FIFO at the stop

t0=$(now_ms)
stop_erdns
check_le "stopped within 10 s with the FIFO full (ms)" $(($(now_ms) - t0)) 10000
exec 3>&-
dropped=$(sed -n 's/.*query log: [0-9]* lines written, \([0-9]*\) dropped.*/\1/p' "$W/erdns.log")
check_eq "the stop reports dropped lines" yes "$([ "${dropped:-0}" -gt 0 ] && echo yes || echo no)"
finish
