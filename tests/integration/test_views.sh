#!/usr/bin/env bash
# Views (SPEC 2.2): the first view whose clients match consults its own
# routes first, whatever the global routes say; otherwise global routes;
# then the view's default, then the global default. dig -b picks the source.
. "$(dirname "$0")/lib.sh"

start_standin HQ --id 1
start_standin BR --id 2
start_standin EU --id 3
PORT=$(free_port)
cat >"$W/erdns.json" <<JSON
{
  "server": { "listen": ["127.0.0.1:$PORT"], "threads": 2, "allow": ["127.0.0.0/8"] },
  "upstreams": {
    "hq": { "servers": ["127.0.0.1:$HQ"] },
    "branch": { "servers": ["127.0.0.1:$BR"] },
    "hq-eu": { "servers": ["127.0.0.1:$EU"] }
  },
  "routes": [
    { "domains": ["outlook.office.com"], "via": "hq" },
    { "domains": ["www.office.com"], "via": "branch" }
  ],
  "views": [
    { "name": "pilot", "clients": ["127.0.0.2/32", "127.0.0.3/32"],
      "routes": [ { "domains": ["office.com"], "via": "hq" } ] },
    { "name": "europe", "clients": ["127.0.0.3/32", "127.0.0.4/32"], "default": "hq-eu",
      "routes": [ { "domains": ["=special.example"], "via": "hq" } ] }
  ],
  "default": "branch"
}
JSON
start_erdns "$W/erdns.json"

check_eq "no view: global rule" "192.0.2.2" "$(qs www.office.com)"
check_eq "pilot view: its routes win even over a more specific global rule" "192.0.2.1" "$(qs -b 127.0.0.2 www.office.com)"
check_eq "pilot view: no view rule -> global rules" "192.0.2.2" "$(qs -b 127.0.0.2 www.example.org)"
check_eq "first matching view wins (127.0.0.3 is in both)" "192.0.2.1" "$(qs -b 127.0.0.3 www.office.com)"
check_eq "europe view: view default" "192.0.2.3" "$(qs -b 127.0.0.4 www.example.org)"
check_eq "europe view: global rule before view default" "192.0.2.1" "$(qs -b 127.0.0.4 outlook.office.com)"
check_eq "europe view: own rule" "192.0.2.1" "$(qs -b 127.0.0.4 special.example)"
check_has "CHAOS shows the view" "view=pilot rule=office.com" "$(qs -b 127.0.0.2 -c CH -t TXT www.office.com)"
check_has "CHAOS outside views" "view=- rule=www.office.com" "$(qs -c CH -t TXT www.office.com)"
check_has "CHAOS: view default" "view=europe rule=default source=config via=hq-eu" "$(qs -b 127.0.0.4 -c CH -t TXT www.example.org)"

stop_erdns
finish
