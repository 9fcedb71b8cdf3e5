#!/usr/bin/env bash
# m365-refresh.sh: keeps erdns's copy of a Microsoft 365 endpoints list
# current, never installing one that fails `erdns check` (SPEC 4).
#
#   1. GET {base}/version/{instance}?clientrequestid=GUID; the GUID is this
#      machine's, created once in the state directory and reused, as
#      Microsoft asks.
#   2. Only when "latest" is newer than the installed version (YYYYMMDDNN,
#      compared as strings) GET {base}/endpoints/{instance} (calling it more
#      often gets HTTP 429).
#   3. `erdns check` on a temporary copy of the config (next to it, so its
#      relative paths still resolve) that points at the new file instead.
#   4. `erdns m365 diff` old -> new, printed for the operator and the journal.
#   5. Installs atomically: the old file is kept as LIST.prev, the new one is
#      renamed over LIST (same directory, same filesystem).
#   6. Reloads the server (default `systemctl reload erdns`; erdns reloads
#      on SIGHUP and keeps its running config if the new one is bad).
#
# Exit status: 0 installed or already current, 1 failure (nothing
# installed), 2 usage. Options (or the environment variables in brackets):
#   --config FILE      erdns config [ERDNS_CONFIG] (/etc/erdns/erdns.json)
#   --list FILE        the installed list the config's m365 route reads
#                      [M365_LIST] (/etc/erdns/m365-worldwide.json)
#   --instance NAME    Worldwide, USGovDoD, USGovGCCHigh, China [M365_INSTANCE]
#   --base-url URL     [M365_BASE_URL] (https://endpoints.office.com)
#   --tenant NAME      TenantName, fills tenant parts of names [M365_TENANT]
#   --state-dir DIR    clientrequestid and installed version
#                      [M365_STATE_DIR] (/var/lib/erdns)
#   --reload CMD       run after installing [M365_RELOAD] (systemctl reload erdns)
#   --erdns BIN        [ERDNS] (erdns)
#   --diff-args ARGS   filters for `erdns m365 diff`, e.g. "--service-areas
#                      Exchange" [M365_DIFF_ARGS]
#   --force            download even when the version is not newer
set -uo pipefail

CONFIG="${ERDNS_CONFIG:-/etc/erdns/erdns.json}"
LIST="${M365_LIST:-/etc/erdns/m365-worldwide.json}"
INSTANCE="${M365_INSTANCE:-Worldwide}"
BASE_URL="${M365_BASE_URL:-https://endpoints.office.com}"
TENANT="${M365_TENANT:-}"
STATE_DIR="${M365_STATE_DIR:-/var/lib/erdns}"
RELOAD="${M365_RELOAD:-systemctl reload erdns}"
ERDNS="${ERDNS:-erdns}"
DIFF_ARGS="${M365_DIFF_ARGS:-}"
FORCE=0
TMP_FILES=()

log() { echo "m365-refresh: $*" >&2; }
die() {
	log "$*"
	exit 1
}
usage() {
	sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}
cleanup() {
	local f
	for f in "${TMP_FILES[@]}"; do rm -f -- "$f"; done
}
trap cleanup EXIT

while [ $# -gt 0 ]; do
	case "$1" in
	--config) CONFIG="${2:?}"; shift 2 ;;
	--list) LIST="${2:?}"; shift 2 ;;
	--instance) INSTANCE="${2:?}"; shift 2 ;;
	--base-url) BASE_URL="${2:?}"; shift 2 ;;
	--tenant) TENANT="${2:?}"; shift 2 ;;
	--state-dir) STATE_DIR="${2:?}"; shift 2 ;;
	--reload) RELOAD="${2:?}"; shift 2 ;;
	--erdns) ERDNS="${2:?}"; shift 2 ;;
	--diff-args) DIFF_ARGS="${2?}"; shift 2 ;;
	--force) FORCE=1; shift ;;
	-h | --help) usage ;;
	*) log "unknown option $1"; usage ;;
	esac
done
case "$INSTANCE" in
Worldwide | USGovDoD | USGovGCCHigh | China) ;;
*) log "unknown instance \"$INSTANCE\" (Worldwide, USGovDoD, USGovGCCHigh, China)"; exit 2 ;;
esac
command -v curl >/dev/null || die "curl is not installed"
[ -r "$CONFIG" ] || die "$CONFIG: cannot read the erdns config"

# The machine's clientrequestid: one GUID, created once.
client_id() {
	local f="$STATE_DIR/clientrequestid" id
	mkdir -p "$STATE_DIR" || die "$STATE_DIR: cannot create"
	if [ ! -s "$f" ]; then
		id=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen) || die "no uuid source"
		{ printf "%s\n" "$id" >"$f.tmp" && mv -f "$f.tmp" "$f"; } || die "$f: cannot write"
	fi
	id=$(head -1 "$f")
	[[ "$id" =~ ^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$ ]] ||
		die "$f: \"$id\" is not a GUID; remove the file to create a new one"
	echo "$id"
}

fetch() { # URL OUT
	curl -fsS --proto '=https,http' --max-time 60 --retry 2 -o "$2" "$1"
}

latest_version() { # ID
	local out
	out=$(curl -fsS --max-time 30 --retry 2 "$BASE_URL/version/$INSTANCE?clientrequestid=$1") ||
		die "cannot ask $BASE_URL/version/$INSTANCE"
	out=$(printf '%s' "$out" | tr -d '\r\n' |
		sed -n 's/.*"latest"[[:space:]]*:[[:space:]]*"\([0-9]\{10\}\)".*/\1/p')
	[ -n "$out" ] || die "$BASE_URL/version/$INSTANCE: no 10-digit \"latest\" in the answer"
	echo "$out"
}

sed_escape() { printf '%s' "$1" | sed 's/[][\\/.*^$&]/\\&/g'; }

# Writes to $2 a copy of the config whose m365 file $LIST is replaced by $1.
# $2 lies next to the config, so the config's relative paths still resolve.
write_temp_config() {
	local new=$1 tmp=$2 dir rel
	dir=$(dirname -- "$CONFIG")
	rel=${LIST#"$dir"/}
	sed -e "s/\"$(sed_escape "$LIST")\"/\"$(sed_escape "$new")\"/g" \
	    -e "s/\"$(sed_escape "$rel")\"/\"$(sed_escape "$new")\"/g" "$CONFIG" >"$tmp" ||
		die "cannot write $tmp"
	grep -qF "\"$new\"" "$tmp" ||
		die "$CONFIG does not name $LIST in an m365 route (\"file\"); check --list"
}

main() {
	local id latest current="" state new tmpconf url
	id=$(client_id) || exit 1
	state="$STATE_DIR/version-$INSTANCE"
	[ -s "$state" ] && current=$(head -1 "$state")
	latest=$(latest_version "$id") || exit 1
	if [ "$FORCE" = 0 ] && [ -e "$LIST" ] && [[ ! "$latest" > "$current" ]]; then
		log "$INSTANCE version $latest is installed; nothing to do"
		return 0
	fi
	log "$INSTANCE version ${current:-none} -> $latest: downloading"
	new=$(mktemp "$(dirname -- "$LIST")/.$(basename -- "$LIST").XXXXXX") ||
		die "$(dirname -- "$LIST"): cannot write"
	TMP_FILES+=("$new") # after the mv below, rm -f of the old name is a no-op
	url="$BASE_URL/endpoints/$INSTANCE?clientrequestid=$id"
	[ -n "$TENANT" ] && url="$url&TenantName=$TENANT"
	fetch "$url" "$new" || die "download of $url failed; nothing installed"
	# mktemp here, not in a $(...) subshell, so that cleanup knows the file
	tmpconf=$(mktemp "$(dirname -- "$CONFIG")/.erdns-check.XXXXXX.json") ||
		die "$(dirname -- "$CONFIG"): cannot write a temporary config"
	TMP_FILES+=("$tmpconf")
	write_temp_config "$new" "$tmpconf"
	if ! "$ERDNS" check -c "$tmpconf" >/dev/null; then
		die "version $latest fails erdns check (above); not installed, $LIST unchanged"
	fi
	if [ -e "$LIST" ]; then
		# shellcheck disable=SC2086 # DIFF_ARGS is a list of options
		"$ERDNS" m365 diff $DIFF_ARGS "$LIST" "$new"
		[ $? -le 3 ] || log "erdns m365 diff failed; installing anyway (erdns check passed)"
		{ cp -p -- "$LIST" "$LIST.prev.tmp" && mv -f -- "$LIST.prev.tmp" "$LIST.prev"; } ||
			die "cannot keep the previous list as $LIST.prev; nothing installed"
	fi
	chmod 0644 "$new"
	mv -f -- "$new" "$LIST" || die "cannot install $LIST"
	printf '%s\n' "$latest" >"$state.tmp" && mv -f "$state.tmp" "$state"
	log "installed $INSTANCE version $latest as $LIST (previous: $LIST.prev)"
	if [ -n "$RELOAD" ]; then
		sh -c "$RELOAD" || die "installed, but \"$RELOAD\" failed: reload erdns by hand"
	fi
	return 0
}

main
