#!/usr/bin/env python3
"""Expected routes for every URL of a Microsoft 365 endpoints list, computed
independently of erdns from SPEC 2.2 (used by test_m365.sh and test_pac.sh).

usage: m365_oracle.py LIST.json [--operator PATTERN]...
prints one line per test name: NAME ROUTE SOURCE
  ROUTE   er | default | operator
  SOURCE  m365:ID (the set whose rule decides), operator, or default

Model: default filter (sets flagged expressRoute). Selected URLs become rules
to "er" (the first selected set listing a URL is its source); a URL listed
only in left-out sets that a selected rule catches (through its test name)
becomes an exception of the same shape to "default". Operator patterns
("=host", "*.x", "x", globs) route to "operator" and beat m365 rules at equal
specificity. A name is decided by the matching rule with the deepest anchor;
at one anchor exact > glob > "*."/subtree; then operator before m365; among
globs the most literal characters, then the earliest added.
"""
import json
import re
import sys


def test_name(url):
    return url.replace("*", "probe").lower()


def shape(pattern):
    if pattern.startswith("="):
        return "exact", pattern[1:]
    if "*" not in pattern:
        return "subtree", pattern
    if pattern.startswith("*.") and "*" not in pattern[1:]:
        return "below", pattern[2:]
    after = pattern[pattern.rindex("*"):]
    return "glob", after[after.index(".") + 1:]


def m365_pattern(url):
    return url if "*" in url else "=" + url


class Rule:
    seq = 0

    def __init__(self, pattern, route, source, origin):
        self.pattern = pattern.lower()
        self.kind, self.anchor = shape(self.pattern)
        self.route, self.source, self.origin = route, source, origin
        self.depth = self.anchor.count(".") + 1
        self.literals = len(self.pattern.replace("*", ""))
        if self.kind == "glob":
            parts = [re.escape(p) for p in self.pattern.split("*")]
            self.regex = re.compile("^" + ".*".join(parts) + "$")
        Rule.seq += 1
        self.seq = Rule.seq

    def matches(self, name):
        if self.kind == "exact":
            return name == self.anchor
        if self.kind == "subtree":
            return name == self.anchor or name.endswith("." + self.anchor)
        if self.kind == "below":
            return name.endswith("." + self.anchor)
        return bool(self.regex.match(name))

    def key(self):
        rank = {"exact": 0, "glob": 1, "below": 2, "subtree": 2}[self.kind]
        lit = -self.literals if self.kind == "glob" else 0
        return (-self.depth, rank, lit, 0 if self.origin == "operator" else 1, self.seq)


def decide(rules, name):
    hits = [r for r in rules if r.matches(name)]
    return min(hits, key=Rule.key) if hits else None


def main():
    path = sys.argv[1]
    operators = [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--operator"]
    sets = json.load(open(path))
    selected, left_out, order = {}, {}, []
    for s in sets:
        for url in s.get("urls", []):
            key = url.lower()
            if key not in selected and key not in left_out:
                order.append(url)
            bucket = selected if s["expressRoute"] else left_out
            bucket.setdefault(key, s["id"])
    rules = [Rule(p, "operator", "operator", "operator") for p in operators]
    m365 = [Rule(m365_pattern(u), "er", "m365:%d" % selected[u.lower()], "m365")
            for u in order if u.lower() in selected]
    # the file order of selected rules: a URL's first selected set
    rules += m365
    for url in order:
        key = url.lower()
        if key in selected:
            continue
        if decide(m365, test_name(url)) is not None:
            rules.append(Rule(m365_pattern(url), "default", "m365:%d" % left_out[key], "m365"))
    names = []
    for url in order:
        n = test_name(url)
        if n not in names:
            names.append(n)
    for n in names:
        r = decide(rules, n)
        print(n, r.route if r else "default", r.source if r else "default")


main()
