#!/usr/bin/env bash
# Bursts of misses and the file descriptor limit: every upstream query in
# flight holds a socket (upstream/udp_pool.c), so erdns raises its soft
# RLIMIT_NOFILE to the hard limit at start. Started here with a soft limit
# of 256, it must still answer 600 distinct questions that are all waiting
# on a slow upstream at the same time (600 sockets at once), and every
# socket must be given back: a second burst reuses them.
. "$(dirname "$0")/lib.sh"

start_standin SLOW --id 4 --mode delay --delay-ms 150
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 1, "allow": ["127.0.0.0/8"],
              "query_timeout_ms": 3000 },
  "control": { "socket": "$W/control.sock" },
  "upstreams": { "slow": { "servers": ["127.0.0.1:$SLOW"], "timeout_ms": 2000 } },
  "default": "slow"
}
JSON
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt 2048 ] && [ "$(id -u)" -eq 0 ]; then
	ulimit -Hn 4096 && hard=$(ulimit -Hn) # root may raise it for this test's processes
fi
if [ "$hard" != unlimited ] && [ "$hard" -lt 2048 ]; then
	not_ok "the hard file descriptor limit ($hard) leaves no room to show the raise"
	finish
fi
ulimit -Sn 256
start_erdns "$W/erdns.json"
soft=$(awk '/^Max open files/ {print $4}' "/proc/$ERDNS_PID/limits")
want=$hard
[ "$want" = unlimited ] && want=1048576 # erdns's ceiling (fs.nr_open's default)
check_eq "soft fd limit raised to the hard limit" "$want" "$soft"
check_has "the raise is logged" "file descriptors" "$(cat "$W/erdns.log")"

fds_start=$(ls "/proc/$ERDNS_PID/fd" | wc -l)
check_eq "600 concurrent misses: all answered NOERROR" "NOERROR:600 no-reply:0" \
	"$(python3 "$SRCDIR/tests/integration/rawdns.py" "$PORT" burst 600 burst1.test |
		sed 's/\b0:/NOERROR:/')"
check_le "upstream saw all 600 (more if some attempts timed out and were retried)" 600 \
	"$(grep -c 'burst1.test' "$SLOW_LOG")"
check_eq "a second burst of 600: all answered" "NOERROR:600 no-reply:0" \
	"$(python3 "$SRCDIR/tests/integration/rawdns.py" "$PORT" burst 600 burst2.test |
		sed 's/\b0:/NOERROR:/')"
# Once every query has ended (attempts that timed out keep listening until
# the 3 s query deadline), the sockets are back in the pool, which keeps at
# most ER_UDP_POOL_IDLE_MAX = 1024 of them: 1200 attempts that held on to
# their sockets would leave more open than that.
sleep 3.5
fds_end=$(ls "/proc/$ERDNS_PID/fd" | wc -l)
check_le "sockets given back: open fds $fds_start at start, $fds_end after 1200 queries" \
	"$fds_end" $((fds_start + 1024))
check_eq "the in-flight cap is said once" 1 "$(grep -c 'forwarded queries in flight' "$W/erdns.log")"
check_has "the in-flight cap is said at info level" "erdns[info]: forwarded queries in flight: at most" \
	"$(cat "$W/erdns.log")"
check_lacks "a sane limit: no descriptor warning" "raise LimitNOFILE" "$(cat "$W/erdns.log")"
stop_erdns

# A hard limit of 1024 with two workers: the cap is sized from it, quietly,
# (1024 - 128 reserved - 2 x (96 + 2 listener sockets)) / 2 = 350 per worker;
# and a limit too small to size warns that it must be raised.
sed -i 's/"threads": 1/"threads": 2/' "$W/erdns.json"
status=0
(ulimit -Sn 1024 -Hn 1024 && exec "$ERDNS" check -c "$W/erdns.json" >/dev/null) || status=$?
check_eq "erdns check passes under a hard limit of 1024" 0 "$status"
( ulimit -Sn 1024 -Hn 1024; exec "$ERDNS" serve -c "$W/erdns.json" ) 2>"$W/erdns.log" &
ERDNS_PID=$!
BG_PIDS+=("$ERDNS_PID")
await_ready "$ERDNS_PID" dig @127.0.0.1 -p "$PORT" +tries=1 +time=1 +short -c CH -t TXT id.server ||
	not_ok "erdns did not start with a hard limit of 1024"
check_has "1024 descriptors, 2 workers: 350 in flight each" "at most 350 per worker" "$(cat "$W/erdns.log")"
check_lacks "1024 descriptors: no warning" "[warn]" "$(cat "$W/erdns.log")"
stop_erdns
( ulimit -Sn 300 -Hn 300; exec "$ERDNS" serve -c "$W/erdns.json" ) 2>"$W/erdns.log" &
ERDNS_PID=$!
BG_PIDS+=("$ERDNS_PID")
await_ready "$ERDNS_PID" dig @127.0.0.1 -p "$PORT" +tries=1 +time=1 +short -c CH -t TXT id.server ||
	not_ok "erdns did not start with a hard limit of 300"
check_has "300 descriptors: a warning that says what to raise" "raise LimitNOFILE" "$(cat "$W/erdns.log")"
stop_erdns
finish
