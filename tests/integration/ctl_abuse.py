#!/usr/bin/env python3
"""Misbehaving control-socket clients for test_ctl.sh (loopback Unix socket).

ctl_abuse.py SOCKET idle       seconds until the server drops a silent client
ctl_abuse.py SOCKET raw HEX    sends the bytes HEX, prints the reply line
ctl_abuse.py SOCKET long N     sends an N-byte line, prints the reply line
ctl_abuse.py SOCKET flood N F  N clients at once, F created once all are
                               connected: prints "REJECTED CLOSED SECONDS"
Every wait is bounded (10 s); a reply is printed as received, or "(none)".
"""
import socket
import sys
import time

LIMIT = 10.0


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(LIMIT)
    s.connect(path)
    return s


def read_all(s):
    """Bytes until the server closes; (data, closed): closed is False when
    the wait ran out first."""
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return data, True
        except socket.timeout:
            return data, False
        if not chunk:
            return data, True
        data += chunk


def show(data):
    line = data.split(b"\n")[0].decode("ascii", "replace")
    print(line if line else "(none)")


def idle(path):
    s = connect(path)
    t0 = time.monotonic()
    _, closed = read_all(s)
    print("%.2f" % (time.monotonic() - t0) if closed else "never")


def send_then_read(path, payload):
    s = connect(path)
    try:
        s.sendall(payload)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass  # the server answered and closed before taking it all
    show(read_all(s)[0])


def flood(path, n, ready):
    socks = [connect(path) for _ in range(n)]
    t0 = time.monotonic()
    open(ready, "w").close()  # the test may now try a 17th (n+1-th) client
    time.sleep(0.5)
    rejected = 0
    for s in socks:  # closed at once (with the "too many" reply) or held
        s.setblocking(False)
        try:
            data = s.recv(65536)
            if data == b"" or b"too many" in data:
                rejected += 1
        except BlockingIOError:
            pass
    closed = 0
    for s in socks:
        s.settimeout(max(0.1, LIMIT - (time.monotonic() - t0)))
        if read_all(s)[1]:
            closed += 1
    print("%d %d %.2f" % (rejected, closed, time.monotonic() - t0))


def main():
    path, what = sys.argv[1], sys.argv[2]
    if what == "idle":
        idle(path)
    elif what == "raw":
        send_then_read(path, bytes.fromhex(sys.argv[3]))
    elif what == "long":
        send_then_read(path, b"a" * int(sys.argv[3]) + b"\n")
    elif what == "flood":
        flood(path, int(sys.argv[3]), sys.argv[4])


if __name__ == "__main__":
    main()
