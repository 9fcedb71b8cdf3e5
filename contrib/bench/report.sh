# shellcheck shell=bash
# Helpers shared by run.sh and shapes.sh for their reports (sourced, not run).
# median: numbers on stdin, one per line -> their median, or "-" for none
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# ratio A B -> "A/B" as "1.23x", or "-" when either is not a number
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2fx", a / b; else print "-" }'; }
