#!/usr/bin/env python3
"""Slow and idle HTTP clients for the metrics endpoint tests (loopback only).

  slowhttp.py PORT COUNT FIRST ADDRS HOLD_S [TRICKLE]

Opens COUNT TCP connections to 127.0.0.1:PORT, spread round-robin over ADDRS
source addresses 127.0.0.FIRST, 127.0.0.FIRST+1, ... Each sends half a request
("GET /metrics HTTP/1.1" and a Host header, never the blank line that ends
it) and then nothing: an idle client. The first TRICKLE of them (default 0)
are slow instead: one more header byte every second, so they are never idle
for long. Prints "connected COUNT" once all are open, then watches for
HOLD_S seconds (at most 60) which ones the server closes, and prints:

  early=E idle_closed=I trickle_closed=T first=F last=L

E: closed within 0.5 s of opening (refused by a connection limit at accept),
I and T: idle and trickling connections closed by the server in all, F and
L: seconds from its opening to the first and last close of an idle one (-1
when none). Every wait is bounded; every socket is closed on exit.
"""
import select
import socket
import sys
import time


def open_all(port, count, first, addrs, opened):
    socks = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((f"127.0.0.{first + i % addrs}", 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        s.setblocking(False)
        opened[s] = time.monotonic()
        socks.append(s)
    return socks


def is_closed(s):
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def main(argv):
    port, count, first, addrs = (int(a) for a in argv[:4])
    hold = float(argv[4])
    trickle = int(argv[5]) if len(argv) > 5 else 0
    if not 1 <= first <= first + addrs - 1 <= 254:
        sys.exit("slowhttp.py: source addresses must stay within 127.0.0.1-254")
    hold = min(hold, 60.0)
    t0, opened = time.monotonic(), {}
    socks = open_all(port, count, first, addrs, opened)
    print(f"connected {count}", flush=True)
    closed_at = {}
    next_byte = time.monotonic() + 1
    while time.monotonic() - t0 < hold:
        live = [s for s in socks if s not in closed_at]
        ready, _, _ = select.select(live, [], [], 0.1) if live else ([], [], [])
        for s in ready:
            if is_closed(s):
                closed_at[s] = time.monotonic() - opened[s]
        if time.monotonic() >= next_byte:
            next_byte += 1
            for s in socks[:trickle]:
                if s not in closed_at:
                    try:
                        s.send(b"X")
                    except OSError:
                        closed_at[s] = time.monotonic() - opened[s]
    idle = [closed_at[s] for s in socks[trickle:] if s in closed_at]
    early = sum(1 for t in closed_at.values() if t < 0.5)
    tclosed = sum(1 for s in socks[:trickle] if s in closed_at)
    first = f"{min(idle):.1f}" if idle else "-1"
    last = f"{max(idle):.1f}" if idle else "-1"
    print(f"early={early} idle_closed={len(idle)} trickle_closed={tclosed} "
          f"first={first} last={last}", flush=True)
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
