#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_wire (tests/fuzz/corpus/wire/).

Hand-built DNS messages, no library: client queries (plain, EDNS with DO and
ECS, each error status) and upstream responses to the fuzz target's fixed
question www.example.com A IN (positive with compression and OPT, CNAME
chain, NXDOMAIN and NODATA with SOA, SERVFAIL, TC, extended rcode, records
after the OPT, one past 512 bytes), and the regressions fuzzing found.
Run it again after changing it; the
output is deterministic.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "wire")
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(id_, flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", id_, flags, qd, an, ns, ar)


def question(qname="www.example.com", qtype=1, qclass=1):
    return name(qname) + struct.pack("!HH", qtype, qclass)


def rr(owner, rtype, ttl, rdata, rclass=1):
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def opt(udp=1232, ext_rcode=0, do=False, options=b"", version=0):
    ttl = (ext_rcode << 24) | (version << 16) | (0x8000 if do else 0)
    return b"\0" + struct.pack("!HHIH", 41, udp, ttl, len(options)) + options


QNAME_PTR = b"\xc0\x0c"  # the question name, right after the header
SOA = name("ns1.example.com") + name("hostmaster.example.com") + struct.pack(
    "!IIIII", 2024010101, 7200, 900, 1209600, 300)
ECS = struct.pack("!HHHBB", 8, 7, 1, 24, 0) + bytes([192, 0, 2])

SEEDS = {
    # client queries
    "q-plain": header(0x1234, RD) + question(),
    "q-edns-do": header(0x1234, RD, ar=1) + question(qtype=28) + opt(4096, do=True),
    "q-edns-ecs": header(0x1234, RD, ar=1) + question() + opt(1232, options=ECS),
    "q-case": header(0x0001, RD) + question("WwW.ExAmPlE.cOm", qtype=16),
    "q-notimp": header(0x1234, 4 << 11) + question(),
    "q-badvers": header(0x1234, RD, ar=1) + question() + opt(version=1),
    "q-formerr-an": header(0x1234, RD, an=1) + question()
        + rr(QNAME_PTR, 1, 60, bytes([192, 0, 2, 1])),
    "q-chaos": header(0x1234, 0) + question("id.server", qtype=16, qclass=3),
    # upstream responses to www.example.com A IN
    "r-positive": header(0x4242, QR | RD | RA, an=2, ar=1) + question()
        + rr(QNAME_PTR, 1, 300, bytes([192, 0, 2, 1]))
        + rr(QNAME_PTR, 1, 60, bytes([192, 0, 2, 2])) + opt(1232, do=True),
    "r-cname": header(0x4242, QR | RD | RA, an=2) + question()
        + rr(QNAME_PTR, 5, 120, b"\x03cdn\xc0\x10")
        + rr(b"\x03cdn\xc0\x10", 1, 30, bytes([198, 51, 100, 7])),
    "r-nxdomain": header(0x4242, QR | RD | RA | 3, ns=1, ar=1) + question()
        + rr(b"\xc0\x10", 6, 3600, SOA) + opt(),
    "r-nodata": header(0x4242, QR | RD | RA, ns=1) + question()
        + rr(b"\xc0\x10", 6, 600, SOA),
    "r-servfail": header(0x4242, QR | RD | RA | 2) + question(),
    "r-tc": header(0x4242, QR | TC | RD | RA) + question(),
    "r-ext-rcode": header(0x4242, QR | RD | RA, ar=1) + question() + opt(ext_rcode=1),
    "r-after-opt": header(0x4242, QR | RD | RA, an=1, ar=3) + question()
        + rr(QNAME_PTR, 1, 300, bytes([192, 0, 2, 1]))
        + rr(b"\x03ns1\xc0\x10", 1, 300, bytes([192, 0, 2, 53]))
        + opt() + rr(name("key.example"), 250, 0, b"\0" * 8, rclass=255),
    "r-big": header(0x4242, QR | AA | RD | RA, an=40) + question()
        + b"".join(rr(QNAME_PTR, 1, 300 + i, bytes([192, 0, 2, i])) for i in range(40)),
    # regressions found by fuzzing (tests/unit/test_cache.c, test_reply.c)
    "x-pointer-into-ttl": header(0x4242, QR | RD | RA, an=2) + question()
        + rr(QNAME_PTR, 1, 256, bytes([192, 0, 2, 1]))
        + rr(b"\xc0\x2a", 1, 80, bytes([192, 0, 2, 2])),
    "x-name-into-opt": header(0x4242, QR | RD | RA, an=2, ar=1) + question()
        + rr(QNAME_PTR, 16, 300, b"\x0d") + rr(b"\xc0\x2d", 1, 60, b"") + opt(),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for key, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, key), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
