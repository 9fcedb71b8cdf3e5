#!/usr/bin/env bash
# A real Prometheus (Debian's) scrapes erdns: it reads every scrape (up = 1,
# at least two of them), PromQL over the series names the expected routes,
# the share of an m365 chain answered off the ExpressRoute path shows, and
# every query of the Grafana dashboard (contrib/grafana/erdns.json) runs.
# Prometheus runs on 127.0.0.1 with its own temporary storage, scrapes only
# erdns (static_configs), and has nothing else configured: no remote write,
# no alerting, no service discovery.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_metrics.sh"

command -v prometheus >/dev/null || {
	echo "prometheus is missing: contrib/dev.sh installs Debian's package"
	exit 1
}
start_standin HQ --id 1 --mode silent
start_standin BR --id 2
cp "$SRCDIR/tests/fixtures/m365/small.json" "$W/small.json"
PORT=$(free_port)
MPORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2 },
  "upstreams": {
    "hq":     { "servers": ["127.0.0.1:$HQ"], "max_fails": 1, "probe_interval_ms": 30000,
                "timeout_ms": 300 },
    "branch": { "servers": ["127.0.0.1:$BR"] }
  },
  "routes": [
    { "m365": { "file": "small.json" }, "via": ["hq", "branch"] },
    { "domains": ["corp.test"], "via": "branch" }
  ],
  "default": "branch",
  "metrics": { "listen": "127.0.0.1:$MPORT" }
}
JSON
start_erdns "$W/erdns.json"

# Traffic on the three routes (m365, corp.test, default) for the whole test,
# bounded: at most 300 rounds of 0.1 s.
(
	for i in $(seq 300); do
		dig @127.0.0.1 -p "$PORT" +tries=1 +time=1 +short "m$i.outlook.example.com" >/dev/null
		dig @127.0.0.1 -p "$PORT" +tries=1 +time=1 +short "c$i.corp.test" >/dev/null
		dig @127.0.0.1 -p "$PORT" +tries=1 +time=1 +short "d$i.example.org" >/dev/null
		sleep 0.1
	done
) &
traffic=$!
BG_PIDS+=("$traffic")

# Prometheus: scrape every second, erdns only.
cat >"$W/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: erdns
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
YAML
for _ in 1 2 3; do
	PPORT=$(free_port)
	prometheus --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/prom-data" \
		--storage.tsdb.retention.time=1h --web.listen-address="127.0.0.1:$PPORT" \
		--log.level=warn >"$W/prometheus.log" 2>&1 &
	prom_pid=$!
	if await_ready "$prom_pid" curl -sf --max-time 1 "http://127.0.0.1:$PPORT/-/ready"; then
		BG_PIDS+=("$prom_pid")
		break
	fi
	prom_pid=""
done
[ -n "$prom_pid" ] || {
	not_ok "prometheus did not start: $(tail -5 "$W/prometheus.log")"
	finish
	exit 1
}

# promql QUERY: the API's JSON answer for an instant query now.
promql() {
	curl -s --max-time 5 --data-urlencode "query=$1" "http://127.0.0.1:$PPORT/api/v1/query"
}
# jq-less: a python3 expression over the answer `r`.
pyjson() { python3 -c "import json, sys; r = json.load(sys.stdin); print($1)"; }

for _ in $(seq 60); do
	n=$(promql 'sum(count_over_time(up{job="erdns"}[1m]))' |
		pyjson 'r["data"]["result"][0]["value"][1] if r["data"]["result"] else 0')
	[ "${n:-0}" -ge 4 ] && break
	sleep 0.25
done
check_le "prometheus scraped erdns at least 4 times" 4 "${n:-0}"
check_eq "every scrape read (up = 1)" 1 \
	"$(promql 'min_over_time(up{job="erdns"}[1m])' | pyjson 'r["data"]["result"][0]["value"][1]')"
# Prometheus' own counters (read from its /metrics, not scraped): nothing
# erdns sent was dropped as a duplicate, out of order or malformed.
curl -s --max-time 5 "http://127.0.0.1:$PPORT/metrics" >"$W/prometheus-self.txt"
for m in prometheus_target_scrapes_sample_duplicate_timestamp_total \
	prometheus_target_scrapes_sample_out_of_order_total \
	prometheus_target_scrapes_sample_out_of_bounds_total \
	prometheus_target_scrapes_exceeded_sample_limit_total; do
	check_eq "prometheus: $m" 0 "$($PROM "$m" <"$W/prometheus-self.txt")"
done

routes=$(promql 'sum by (route) (rate(erdns_answers_total[30s]))' |
	pyjson '" ".join(sorted(s["metric"].get("route", "") for s in r["data"]["result"]))')
check_eq "PromQL: answers per route name the routes" "0 1 chaos default" "$routes"
share=$(promql 'sum by (chain) (rate(erdns_forwarded_answers_total{path="fallback"}[30s])) / sum by (chain) (rate(erdns_forwarded_answers_total[30s]))' |
	pyjson '{s["metric"]["chain"]: s["value"][1] for s in r["data"]["result"]}.get("hq,branch")')
awk -v s="$share" 'BEGIN { exit !(s > 0.5) }' && ok "m365 chain hq,branch: most answers off the ExpressRoute path ($share)" ||
	not_ok "breakout share of hq,branch: $share"

# Every query of the dashboard, with Grafana's variables replaced.
python3 - "$SRCDIR/contrib/grafana/erdns.json" "$PPORT" >"$W/grafana.out" 2>&1 <<'PY'
import json, re, sys, urllib.parse, urllib.request

VARS = {"__rate_interval": "30s", "__interval": "5s", "__range": "5m", "instance": ".+"}
# Panels whose queries must have a result here (the rest may be empty: no
# stale answers, no reload, no drops in this run).
MUST = {"Queries per route", "ExpressRoute vs breakout: share answered by a later group, per chain",
        "Upstream up / down", "Upstream RTT (p50, p95)", "Microsoft 365 list age"}

def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))

def expand(expr):
    def one(m):
        name = m.group(1) or m.group(2)
        if name not in VARS:
            sys.exit(f"unknown variable ${name} in: {expr}")
        return VARS[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)

dash = json.load(open(sys.argv[1]))
failed = 0
n = 0
for p in panels(dash["panels"]):
    for t in p.get("targets", []):
        expr = expand(t["expr"])
        url = f"http://127.0.0.1:{sys.argv[2]}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            r = json.load(urllib.request.urlopen(url, timeout=5))
        except Exception as e:  # an HTTP 400 is a bad query
            r = {"status": "error", "error": str(e)}
        n += 1
        empty = r.get("status") == "success" and not r["data"]["result"]
        bad = r.get("status") != "success" or (empty and p["title"] in MUST)
        failed += bad
        print(f"{'FAIL' if bad else 'ok  '} {p['title']} [{t['refId']}]: {r.get('status')}"
              f"{' (empty)' if empty else ''} {r.get('error', '')}")
print(f"queries={n} failed={failed}")
PY
cat "$W/grafana.out"
check_has "every dashboard query runs (status success; key panels not empty)" "failed=0" "$(tail -1 "$W/grafana.out")"
check_lacks "the dashboard's queries were found" "queries=0 " "$(tail -1 "$W/grafana.out")"

# Prometheus talks to nothing but loopback (its listener, erdns, our curl).
peers=$(ss -Htunap 2>/dev/null | grep "pid=$prom_pid," | awk '{ print $6 }' | sort -u)
check_eq "prometheus: every socket's peer is on 127.0.0.1" "" \
	"$(echo "$peers" | grep -v -e '^127\.0\.0\.1:' -e '^0\.0\.0\.0:\*' -e '^\*:\*' -e '^\[::ffff:127\.0\.0\.1\]:' -e '^$')"
check_has "... and it holds a connection to erdns" "127.0.0.1:$MPORT" "$peers"
kill -TERM "$prom_pid"
wait "$prom_pid"
check_eq "prometheus stopped" 0 "$?"
check_eq "prometheus logged nothing but its stop" "" \
	"$(grep -v 'Received SIGTERM' "$W/prometheus.log")"
kill -TERM "$traffic" 2>/dev/null
wait "$traffic" 2>/dev/null
stop_erdns
finish
