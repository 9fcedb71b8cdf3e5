#!/usr/bin/env python3
"""Reads a Prometheus text exposition (format 0.0.4) on stdin for the
integration tests.

  prom.py NAME [LABEL=VALUE ...]   the sum of the samples of NAME whose labels
                                   include every LABEL=VALUE given (VALUE may be
                                   empty); an integer when it is one, "none"
                                   when no sample matches
  prom.py labels NAME LABEL        the distinct values of LABEL over the samples
                                   of NAME, one per line, sorted

A line that does not parse is an error (exit 2): the tests must not pass on
a scrape they could not read.
"""
import math
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def unescape(value):
    return re.sub(r'\\(.)', lambda m: '\n' if m.group(1) == 'n' else m.group(1), value)


def parse_labels(text, line):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            sys.exit(f"prom.py: bad labels in: {line}")
        labels[m.group(1)] = unescape(m.group(2))
        pos = m.end()
    return labels


def samples(stream):
    for line in stream:
        line = line.rstrip('\n')
        if not line or line.startswith('#'):
            continue
        m = SAMPLE.match(line)
        if not m:
            print(f"prom.py: not a sample: {line}", file=sys.stderr)
            sys.exit(2)
        labels = parse_labels(m.group(3) or '', line)
        yield m.group(1), labels, float(m.group(4))


def main(argv):
    if len(argv) >= 3 and argv[0] == 'labels':
        values = {l[argv[2]] for n, l, _ in samples(sys.stdin) if n == argv[1] and argv[2] in l}
        print('\n'.join(sorted(values)))
        return 0
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    want = dict(a.split('=', 1) for a in argv[1:])
    total, found = 0.0, False
    for name, labels, value in samples(sys.stdin):
        if name == argv[0] and all(labels.get(k) == v for k, v in want.items()):
            total += value
            found = True
    if not found:
        print("none")
    elif math.isfinite(total) and total == int(total):
        print(int(total))
    else:
        print(total)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
