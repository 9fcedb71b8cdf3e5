#!/usr/bin/env python3
"""A client that floods, for test_ratelimit.sh: how many of its queries a
rate-limited server answers, and over how long.

  rate_client.py PORT udp N NAME SOCKETS SRC[,SRC...] [CLASS]
      for each source address SRC, SOCKETS UDP sockets bound to it (each
      its own source port, so SO_REUSEPORT spreads them over the server's
      workers) and N queries for NAME (type A, or TXT with CLASS CH); the
      sources' queries interleaved, sent as fast as they go while replies
      are read
  rate_client.py PORT tcp N NAME SRC [CLASS]
      one TCP connection from SRC, N queries for NAME in one write
      (pipelined, RFC 7766)

Then replies are read until none came for 1 s (10 s at most in all). Prints
one line per source: "SRC answered=A sent=N window_ms=W", A the distinct
queries answered, W the time from the first query sent to the last reply
received (or to the last query sent, if later): every answer was let
through inside that window. Only 127.0.0.0/8 is used, for both ends.
"""
import ipaddress
import random
import select
import socket
import struct
import sys
import time

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
QUIET_S = 1.0
TOTAL_S = 10.0


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qid, name, qclass):
    qtype = 16 if qclass == 3 else 1  # CHAOS: TXT (id.server); IN: A
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, qclass)


def loopback(addr):
    if ipaddress.ip_address(addr) not in LOOPBACK:
        sys.exit(f"rate_client.py: {addr} is not a loopback address")
    return addr


class Source:
    def __init__(self, addr):
        self.addr = addr
        self.pending = {}  # id -> True until answered
        self.answered = 0
        self.sent = 0


def report(sources, first_send, last_event):
    window_ms = int((last_event - first_send) * 1000)
    for s in sources:
        print(f"{s.addr} answered={s.answered} sent={s.sent} window_ms={window_ms}")


def read_udp(sock, owner, now_box):
    while True:
        try:
            data = sock.recv(65535)
        except BlockingIOError:
            return
        if len(data) < 12:
            continue
        qid = struct.unpack("!H", data[:2])[0]
        if owner.pending.pop(qid, None):
            owner.answered += 1
            now_box[0] = time.monotonic()


def run_udp(port, n, name, n_sockets, addrs, qclass):
    sources = [Source(loopback(a)) for a in addrs]
    socks = {}  # source -> its sockets
    by_fd = {}  # fd -> (socket, source)
    for s in sources:
        socks[s] = []
        for _ in range(n_sockets):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((s.addr, 0))
            sock.setblocking(False)
            socks[s].append(sock)
            by_fd[sock.fileno()] = (sock, s)
    ids = iter(random.sample(range(65536), n * len(sources)))
    last = [0.0]
    first_send = time.monotonic()
    deadline = first_send + TOTAL_S
    for i in range(n):
        for s in sources:
            sock = socks[s][i % n_sockets]
            qid = next(ids)
            s.pending[qid] = True
            sock.sendto(query(qid, name, qclass), ("127.0.0.1", port))
            s.sent += 1
            read_udp(sock, s, last)  # what has come back so far, if anything
    last_send = time.monotonic()
    quiet_until = last_send + QUIET_S
    while time.monotonic() < min(quiet_until, deadline):
        ready, _, _ = select.select(list(by_fd), [], [], 0.05)
        for fd in ready:
            sock, s = by_fd[fd]
            before = s.answered
            read_udp(sock, s, last)
            if s.answered != before:
                quiet_until = time.monotonic() + QUIET_S
    for sock, _ in by_fd.values():
        sock.close()
    report(sources, first_send, max(last[0], last_send))


def run_tcp(port, n, name, addr, qclass):
    src = Source(loopback(addr))
    sock = socket.create_connection(("127.0.0.1", port), timeout=5,
                                    source_address=(src.addr, 0))
    ids = random.sample(range(65536), n)
    out = b""
    for qid in ids:
        msg = query(qid, name, qclass)
        out += struct.pack("!H", len(msg)) + msg
        src.pending[qid] = True
    first_send = time.monotonic()
    sock.sendall(out)
    src.sent = n
    last_send = last = time.monotonic()
    deadline = first_send + TOTAL_S
    buf = b""
    sock.settimeout(QUIET_S)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65535)
        except socket.timeout:
            break
        if not data:
            break
        buf += data
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
            size = struct.unpack("!H", buf[:2])[0]
            msg, buf = buf[2:2 + size], buf[2 + size:]
            if len(msg) >= 12 and src.pending.pop(struct.unpack("!H", msg[:2])[0], None):
                src.answered += 1
                last = time.monotonic()
    sock.close()
    report([src], first_send, max(last, last_send))


def main():
    args = sys.argv[1:]
    if len(args) < 5:
        sys.exit(__doc__)
    port, mode, n, name = int(args[0]), args[1], int(args[2]), args[3]
    if mode == "udp" and len(args) in (6, 7):
        qclass = 3 if len(args) == 7 and args[6].upper() == "CH" else 1
        run_udp(port, n, name, int(args[4]), args[5].split(","), qclass)
    elif mode == "tcp" and len(args) in (5, 6):
        qclass = 3 if len(args) == 6 and args[5].upper() == "CH" else 1
        run_tcp(port, n, name, args[4], qclass)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
