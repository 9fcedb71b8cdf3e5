#!/usr/bin/env python3
"""Raw DNS client for the integration tests: things dig will not send.

  rawdns.py PORT tcp FIRST-ID NAME...     one query per NAME (IDs FIRST-ID, FIRST-ID+1,
                                          ...) in one TCP write; prints the IDs
                                          answered, in arrival order (stops after 6 s
                                          without an answer)
  rawdns.py PORT pipeline N SUFFIX        one TCP connection: N queries for distinct names
                                          (pI.SUFFIX with ID I, I = 0..N-1) in one write,
                                          all answers read (matched by ID and question),
                                          then one more query (ID N, extra.SUFFIX) on the
                                          same connection; prints
                                          "answered:A unexpected:U rcodes:R=C,... extra:X"
                                          (X the extra's rcode, no-reply or closed; stops
                                          after 6 s without an answer, 30 s in all)
  rawdns.py PORT garbage COUNT            COUNT random datagrams (and a few crafted
                                          malformed ones); prints the replies' rcodes
  rawdns.py PORT formerr                  a query with QDCOUNT=2; prints the rcode
  rawdns.py PORT short                    a 5-byte datagram; prints "no reply" or rcode
  rawdns.py PORT burst N SUFFIX           N UDP queries for distinct names under SUFFIX,
                                          all sent before any answer is read; prints
                                          "rcode:count" of the answers (10 s at most)
  rawdns.py PORT flood N NAME TYPE        N UDP queries for NAME/TYPE with EDNS 1232,
                                          as fast as they go, no answer read
  rawdns.py PORT header FLAGS NAME [CLASS]  one UDP query for NAME/A with the 16-bit header
                                          FLAGS word as given (e.g. 0x7ff0: opcode 15 and
                                          every flag), class CLASS (default 1); prints
                                          "flags=0xHHHH rcode=R qd=N an=N" of the reply
  rawdns.py PORT tsig NAME GOOD|BAD       one UDP query signed with an HMAC-SHA256 TSIG
                                          RR for a key nobody holds (GOOD: well-formed;
                                          BAD: rdlength one byte short of the rdata);
                                          prints "rcode=R tsig=ERROR|none"
RAWDNS_HOST picks the server address: 127.0.0.1 by default, otherwise only
127.0.0.0/8 or 198.18.0.0/15 (the namespaces the tests make). Every wait has
a timeout.
"""
import os
import random
import socket
import struct
import sys

import ipaddress

HOST = os.environ.get("RAWDNS_HOST", "127.0.0.1")
if not any(ipaddress.ip_address(HOST) in ipaddress.ip_network(n)
           for n in ("127.0.0.0/8", "198.18.0.0/15")):
    sys.exit(f"rawdns.py: {HOST} is not a test address")


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qid, name, qtype=1, qdcount=1, edns=0):
    """edns: the UDP size to advertise in an OPT record, 0 for none."""
    header = struct.pack("!HHHHHH", qid, 0x0100, qdcount, 0, 0, 1 if edns else 0)
    question = encode_name(name) + struct.pack("!HH", qtype, 1)
    opt = b"\0" + struct.pack("!HHIH", 41, edns, 0, 0) if edns else b""
    return header + question * qdcount + opt


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def tcp_batch(port, first_id, names):
    sock = socket.create_connection((HOST, port), timeout=6)
    blob = b""
    for i, name in enumerate(names):
        msg = query(first_id + i, name)
        blob += struct.pack("!H", len(msg)) + msg
    sock.sendall(blob)
    seen = []
    try:
        for _ in names:
            (length,) = struct.unpack("!H", recv_exact(sock, 2))
            msg = recv_exact(sock, length)
            seen.append(struct.unpack("!H", msg[:2])[0])
    except (socket.timeout, EOFError):
        pass
    sock.close()
    print(" ".join(str(i) for i in seen))


def read_msg(sock):
    (length,) = struct.unpack("!H", recv_exact(sock, 2))
    return recv_exact(sock, length)


def tcp_pipeline(port, n, suffix):
    import time
    deadline = time.monotonic() + 30
    names = [f"p{i}.{suffix}" for i in range(n)]
    sock = socket.create_connection((HOST, port), timeout=6)
    blob = b""
    for i, name in enumerate(names):
        msg = query(i, name)
        blob += struct.pack("!H", len(msg)) + msg
    sock.sendall(blob)
    seen = set()
    unexpected = 0
    rcodes = {}
    try:
        while len(seen) < n and time.monotonic() < deadline:
            msg = read_msg(sock)
            qid = struct.unpack("!H", msg[:2])[0]
            # the question, uncompressed right after the header, as asked
            if qid >= n or qid in seen or \
                    msg[12:12 + len(encode_name(names[qid]))] != encode_name(names[qid]):
                unexpected += 1
                continue
            seen.add(qid)
            r = rcode_of(msg)
            rcodes[r] = rcodes.get(r, 0) + 1
    except (socket.timeout, EOFError, OSError):
        pass
    extra = "no-reply"
    try:
        msg = query(n, f"extra.{suffix}")
        sock.sendall(struct.pack("!H", len(msg)) + msg)
        while time.monotonic() < deadline + 6:
            reply = read_msg(sock)
            if struct.unpack("!H", reply[:2])[0] == n:
                extra = rcode_of(reply)
                break
            unexpected += 1
    except socket.timeout:
        pass
    except (EOFError, OSError):
        extra = "closed"
    sock.close()
    codes = ",".join(f"{k}={v}" for k, v in sorted(rcodes.items()))
    print(f"answered:{len(seen)} unexpected:{unexpected} rcodes:{codes} extra:{extra}")


def flood(port, n, name, qtype):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(n):
        sock.sendto(query(i & 0xFFFF, name, qtype=qtype, edns=1232), (HOST, port))
    sock.close()


def udp_exchange(port, payload, wait=0.5):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(wait)
    sock.sendto(payload, (HOST, port))
    try:
        data, _ = sock.recvfrom(65535)
        return data
    except socket.timeout:
        return None
    finally:
        sock.close()


def rcode_of(data):
    if data is None:
        return "no-reply"
    if len(data) < 12:
        return "short-reply"
    return str(struct.unpack("!H", data[2:4])[0] & 0xF)


def garbage(port, count):
    rng = random.Random(5452)
    results = {}
    crafted = [
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",  # pointer loop
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3f" + b"a" * 10,  # cut label
        b"\x12\x34\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff",  # huge counts
    ]
    payloads = crafted + [os.urandom(rng.randint(0, 600)) for _ in range(count)]
    for p in payloads:
        r = rcode_of(udp_exchange(port, p, wait=0.05))
        results[r] = results.get(r, 0) + 1
    print(" ".join(f"{k}:{v}" for k, v in sorted(results.items())))


def burst(port, n, suffix):
    import time
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    for i in range(n):
        sock.sendto(query(i, f"b{i}.{suffix}"), (HOST, port))
    results = {}
    seen = set()
    deadline = time.monotonic() + 10
    while len(seen) < n and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data, _ = sock.recvfrom(65535)
        except socket.timeout:
            break
        qid = struct.unpack("!H", data[:2])[0]
        if qid in seen:
            continue
        seen.add(qid)
        r = rcode_of(data)
        results[r] = results.get(r, 0) + 1
    results["no-reply"] = n - len(seen)
    print(" ".join(f"{k}:{v}" for k, v in sorted(results.items())))


def header_query(port, flags, name, qclass):
    msg = struct.pack("!HHHHHH", 4242, flags, 1, 0, 0, 0) + encode_name(name) + \
        struct.pack("!HH", 1, qclass)
    data = udp_exchange(port, msg, wait=2)
    if data is None or len(data) < 12:
        print("no-reply")
        return
    f, qd, an = struct.unpack("!HHH", data[2:8])
    print(f"flags=0x{f:04x} rcode={f & 0xF} qd={qd} an={an}")


def tsig_query(port, name, good):
    import time
    alg = encode_name("hmac-sha256")
    now = int(time.time())
    rdata = alg + struct.pack("!HIH", now >> 32, now & 0xFFFFFFFF, 300) + \
        struct.pack("!H", 32) + os.urandom(32) + struct.pack("!HHH", 4242, 0, 0)
    rdlen = len(rdata) if good else len(rdata) - 1
    tsig = encode_name("nobodys-key") + struct.pack("!HHIH", 250, 255, 0, rdlen) + rdata
    msg = struct.pack("!HHHHHH", 4242, 0x0100, 1, 0, 0, 1) + encode_name(name) + \
        struct.pack("!HH", 1, 1) + tsig
    data = udp_exchange(port, msg, wait=2)
    if data is None:
        print("no-reply")
        return
    err = "none"
    if struct.unpack("!H", data[10:12])[0] >= 1:
        # the TSIG RR is the last record: its error field is 4 bytes from the end
        err = str(struct.unpack("!H", data[-4:-2])[0]) if data.find(b"\x00\xfa\x00\xff") > 0 else "none"
    print(f"rcode={rcode_of(data)} tsig={err}")


def main():
    port = int(sys.argv[1])
    cmd = sys.argv[2]
    if cmd == "tcp":
        tcp_batch(port, int(sys.argv[3]), sys.argv[4:])
    elif cmd == "pipeline":
        tcp_pipeline(port, int(sys.argv[3]), sys.argv[4])
    elif cmd == "flood":
        types = {"A": 1, "TXT": 16, "AAAA": 28}
        flood(port, int(sys.argv[3]), sys.argv[4], types[sys.argv[5]])
    elif cmd == "garbage":
        garbage(port, int(sys.argv[3]))
    elif cmd == "formerr":
        print(rcode_of(udp_exchange(port, query(77, "www.example.org", qdcount=2))))
    elif cmd == "burst":
        burst(port, int(sys.argv[3]), sys.argv[4])
    elif cmd == "short":
        print(rcode_of(udp_exchange(port, b"\x00\x01\x02\x03\x04")))
    elif cmd == "header":
        header_query(port, int(sys.argv[3], 16), sys.argv[4],
                     int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    elif cmd == "tsig":
        tsig_query(port, sys.argv[3], sys.argv[4] == "GOOD")
    else:
        sys.exit("unknown command")


if __name__ == "__main__":
    main()
