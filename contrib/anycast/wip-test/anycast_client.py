#!/usr/bin/env python3
"""Client flows for test_anycast.sh: CHAOS TXT id.server queries at a steady
rate, each from a new UDP socket (a new source port, so a new flow for the
router's L4 ECMP hash), the source addresses taken in turn from a list.

  anycast_client.py SERVER PORT COUNT RATE LOG SRC...

COUNT queries, RATE per second. A query waits 1 s for its answer, then is
sent once more from the same socket, as a stub resolver's retry would be
(glibc keeps its socket, so the retry is the same flow), and waits 1 s
again. Each query's outcome is a line in LOG, written when it is known:

  SENT_MS SRC IDENTITY TRY LATENCY_MS

SENT_MS is the wall clock (ms since the epoch) of the first send, IDENTITY
the answering instance's server.identity ("-" when there was no answer),
TRY 1 (answered in time), 2 (answered only after the retry: late) or 0
(lost), LATENCY_MS from the first send. On stdout, at the end:

  sent=N ok=N late=N lost=N ID=N ID=N...

Only 127.0.0.0/8 and 198.18.0.0/15 (the namespaces the test makes) are
accepted as SERVER or SRC. Bounded: COUNT / RATE + 2 s, then it exits.
"""
import ipaddress
import random
import selectors
import socket
import struct
import sys
import time

TEST_NETS = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "198.18.0.0/15")]
TRY_TIMEOUT = 1.0
TRIES = 2


def test_address(text):
    if not any(ipaddress.ip_address(text) in n for n in TEST_NETS):
        sys.exit(f"anycast_client.py: {text} is not a test address")
    return text


def query(qid):
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    name = b"\x02id\x06server\x00"
    return header + name + struct.pack("!HH", 16, 3)  # TXT, CHAOS


def skip_name(msg, off):
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        if n == 0:
            return off + 1
        off += 1 + n


def identity(msg, qid):
    """The first TXT string of an answer to QID, or None."""
    if len(msg) < 12:
        return None
    rid, flags, qd, an = struct.unpack("!HHHH", msg[:8])
    if rid != qid or not flags & 0x8000 or flags & 0xF != 0 or qd != 1 or an < 1:
        return None
    try:
        off = skip_name(msg, 12) + 4
        off = skip_name(msg, off)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        if rtype != 16 or rdlen < 1:
            return None
        n = msg[off]
        return msg[off + 1:off + 1 + n].decode("ascii", "replace")
    except (IndexError, struct.error):
        return None


def main():
    if len(sys.argv) < 7:
        sys.exit(__doc__)
    server = test_address(sys.argv[1])
    port, count, rate = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    out = open(sys.argv[5], "a", buffering=1)
    sources = [test_address(s) for s in sys.argv[6:]]
    sel = selectors.DefaultSelector()
    stats = {"ok": 0, "late": 0, "lost": 0}
    ids = {}
    t0 = time.monotonic()
    hard_stop = t0 + count / rate + TRIES * TRY_TIMEOUT + 2
    sent = 0

    def finish(p, ident, try_no):
        sel.unregister(p["sock"])
        p["sock"].close()
        lat = (time.monotonic() - p["t"]) * 1000
        out.write(f"{p['wall']} {p['src']} {ident or '-'} {try_no} {lat:.0f}\n")
        if try_no == 1:
            stats["ok"] += 1
        elif try_no == 2:
            stats["late"] += 1
        else:
            stats["lost"] += 1
        if ident:
            ids[ident] = ids.get(ident, 0) + 1

    while time.monotonic() < hard_stop and (sent < count or sel.get_map()):
        now = time.monotonic()
        if sent < count and now >= t0 + sent / rate:
            src = sources[sent % len(sources)]
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((src, 0))
            s.setblocking(False)
            qid = random.randrange(65536)
            p = {"sock": s, "qid": qid, "src": src, "t": now, "try": 1, "deadline": now + TRY_TIMEOUT,
                 "wall": time.time_ns() // 1_000_000}
            try:
                s.sendto(query(qid), (server, port))
            except OSError:
                pass  # no route at this instant: it counts as unanswered
            sel.register(s, selectors.EVENT_READ, p)
            sent += 1
        # Deadlines: retry once from the same socket, then give up.
        for key in list(sel.get_map().values()):
            p = key.data
            if now >= p["deadline"]:
                if p["try"] < TRIES:
                    p["try"] += 1
                    p["deadline"] = now + TRY_TIMEOUT
                    try:
                        p["sock"].sendto(query(p["qid"]), (server, port))
                    except OSError:
                        pass
                else:
                    finish(p, None, 0)
        wait = 0.01 if sent < count else 0.05
        if not sel.get_map():
            time.sleep(wait)
            continue
        for key, _ in sel.select(timeout=wait):
            p = key.data
            try:
                msg, peer = p["sock"].recvfrom(4096)
            except OSError:
                continue  # ICMP port unreachable from a dead instance: wait on
            ident = identity(msg, p["qid"]) if peer[0] == server else None
            if ident:
                finish(p, ident, p["try"])
    for key in list(sel.get_map().values()):
        finish(key.data, None, 0)
    per_id = " ".join(f"{k}={v}" for k, v in sorted(ids.items()))
    print(f"sent={sent} ok={stats['ok']} late={stats['late']} lost={stats['lost']} {per_id}".rstrip())
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
