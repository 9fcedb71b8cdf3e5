#!/usr/bin/env bash
# Reload epochs (SPEC 3, reload): a query in flight across the swap is
# answered, but what it fetched under the old config is never cached under
# the new one, and no query that arrives after the swap joins a forward
# started under the old config: once "configuration reloaded" is logged,
# every answer follows the new routes.
#
# The trap: chains are numbered in order of first appearance, the default
# first (resolver/config/config.c). Config A: default hq (chain 0), route
# epoch.test via branch (chain 1). Config B: default branch (chain 0), route
# epoch.test via hq (chain 1). epoch.test uses chain index 1 in both, so an
# answer BRANCH gives under A, if cached by its index, is served under B as
# if it were hq's.
. "$(dirname "$0")/lib.sh"
# check_ge DESCRIPTION VALUE MIN
check_ge() { if [ "$2" -ge "$3" ]; then ok "$1 ($2 >= $3)"; else not_ok "$1: expected at least $3, got $2"; fi; }

start_standin BRANCH --id 2 --mode delay --delay-ms 1500
start_standin HQ --id 3
PORT=$(free_port)
config() { # A|B
	local dflt=hq route=branch
	[ "$1" = B ] && dflt=branch route=hq
	cat >"$W/erdns.json.new" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 4, "query_timeout_ms": 3000 },
  "upstreams": {
    "hq":     { "servers": ["127.0.0.1:$HQ"], "max_fails": 100 },
    "branch": { "servers": ["127.0.0.1:$BRANCH"], "max_fails": 100, "timeout_ms": 1500 }
  },
  "routes": [ { "domains": ["epoch.test"], "via": "$route" } ],
  "default": "$dflt"
}
JSON
	mv "$W/erdns.json.new" "$W/erdns.json" # the reload never reads half a file
}
config A
start_erdns "$W/erdns.json"

reloads=0
# reload A|B: rewrite the config, SIGHUP, wait (bounded, 5 s) for the log line.
reload() {
	config "$1"
	kill -HUP "$ERDNS_PID"
	reloads=$((reloads + 1))
	for _ in $(seq 100); do
		[ "$(grep -c 'configuration reloaded' "$W/erdns.log")" -ge "$reloads" ] && return 0
		sleep 0.05
	done
	return 1
}

check_eq "config A: epoch.test via branch (delayed 1.5 s)" "192.0.2.2" "$(qs a.epoch.test)"
check_eq "config A: other names via hq" "192.0.2.3" "$(qs a.other.test)"

ROUNDS=3
for round in $(seq "$ROUNDS"); do
	name="r$round-$RANDOM.epoch.test"
	[ "$round" -gt 1 ] && { reload A || not_ok "round $round: reload to A not logged"; }
	# 1. a query under A, in flight on BRANCH for 1.5 s
	qs "$name" >"$W/old-$round" &
	old_pid=$!
	# (bounded, 2 s) until BRANCH has it: the forward is under way
	for _ in $(seq 40); do grep -q " $name " "$BRANCH_LOG" && break; sleep 0.05; done
	sleep 0.2
	# 2. swap to B while it is in flight
	if reload B; then ok "round $round: reload to B logged"; else not_ok "round $round: reload to B not logged"; fi
	# 3. queries that arrive after the swap: a forward of their own, to HQ.
	# Four dig processes at once, so that one likely lands on the worker
	# whose old forward is still in flight.
	new_pids=()
	for i in 1 2 3 4; do
		qs "$name" >"$W/new-$round-$i" &
		new_pids+=($!)
	done
	wait "$old_pid" "${new_pids[@]}"
	old=$(cat "$W/old-$round")
	if [ "$old" = "192.0.2.2" ] || [ "$old" = "192.0.2.3" ]; then
		ok "round $round: the query in flight across the reload was answered ($old)"
	else
		not_ok "round $round: the query in flight across the reload: got [$old]"
	fi
	check_eq "round $round: 4 queries right after the reload do not join the old forward (answers from hq)" \
		"192.0.2.3 192.0.2.3 192.0.2.3 192.0.2.3" "$(for i in 1 2 3 4; do cat "$W/new-$round-$i"; echo; done | paste -sd ' ')"
	# 4. the old forward has finished: its answer must not be in the cache
	# under the new chain. Separate dig processes spread over the 4 workers.
	branch_before=$(grep -c " $name " "$BRANCH_LOG")
	answers=()
	for i in 1 2 3 4 5 6 7 8; do answers+=("$(qs "$name")"); done
	check_eq "round $round: after the in-flight answer, 8 queries all follow config B (hq)" \
		"192.0.2.3 192.0.2.3 192.0.2.3 192.0.2.3 192.0.2.3 192.0.2.3 192.0.2.3 192.0.2.3" "${answers[*]}"
	hq_asked=$(grep -c " $name " "$HQ_LOG")
	check_ge "round $round: hq was asked for $name after the reload (queries)" "$hq_asked" 1
	check_eq "round $round: no query after the reload went to branch" "$branch_before" \
		"$(grep -c " $name " "$BRANCH_LOG")"
done

stop_erdns
finish
