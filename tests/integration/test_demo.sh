#!/usr/bin/env bash
# The README's demo, checked: three erdns processes on 127.0.0.1:5300-5302.
. "$(dirname "$0")/lib.sh"
out=$(timeout 60 "$SRCDIR/contrib/demo.sh" "$ERDNS" --smoke 2>&1)
status=$?
echo "$out"
check_eq "demo smoke run passes" 0 "$status"
check_lacks "no failed demo line" "FAIL" "$out"
finish
