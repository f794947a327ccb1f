#!/usr/bin/env bash
# pouchdb-server, the CouchDB-compatible server that Brisk's CouchDB tests
# run against (no Apache CouchDB package exists for this machine's Debian).
# The version is pinned by tests/couchdb/package-lock.json.
#
#   scripts/pouchdb.sh install                   npm ci once (about 2-3 min); idempotent
#   scripts/pouchdb.sh run   [--port P] [--dir D] [--workdir W]
#                                                run in the foreground until killed:
#                                                in memory, or persistent under D
#   scripts/pouchdb.sh start [--port P] [--dir D] start in the background and wait
#                                                until it answers; prints its URL
#   scripts/pouchdb.sh stop  [--port P]          stop what `start` started
#
# Defaults: port 5984 on 127.0.0.1. pouchdb-server writes config.json and
# log.txt into its working directory: W, else D, else a directory under
# ${TMPDIR:-/tmp}. It runs in admin party (no admin, no credentials): with
# an admin configured, one unauthenticated request crashes it
# (pouchdb/pouchdb-server#374).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pkg="$root/tests/couchdb"
bin="$pkg/node_modules/.bin/pouchdb-server"

usage() { sed -n '2,18p' "$0" >&2; exit 2; }

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
port=5984 dir="" workdir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --workdir) workdir="$2"; shift 2 ;;
    *) usage ;;
  esac
done
state="${TMPDIR:-/tmp}/brisk-pouchdb-$port"

install() {
  local stamp="$pkg/node_modules/.brisk-installed"
  if [ ! -x "$bin" ] || [ ! -f "$stamp" ] || [ "$pkg/package-lock.json" -nt "$stamp" ]; then
    command -v npm >/dev/null 2>&1 || { echo "pouchdb.sh: npm is needed (apt-get install nodejs npm)" >&2; exit 1; }
    echo "pouchdb.sh: npm ci in tests/couchdb (pouchdb-server, pinned; takes a few minutes)"
    (cd "$pkg" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  fi
  stock_views
}

# pouchdb-server runs view map functions in strict mode (CouchDB runs them
# in sloppy mode). Brisk's design documents evaluate in both, and the tests
# run against pouchdb-server as shipped: an earlier version of this script
# patched pouchdb-mapreduce to drop "use strict"; undo that. Idempotent.
stock_views() {
  local f
  for f in "$pkg"/node_modules/pouchdb-mapreduce/lib/index.js "$pkg"/node_modules/pouchdb-mapreduce/lib/index.es.js; do
    if [ -f "$f" ] && grep -q "var code = '(function() {' +" "$f"; then
      sed -i "s/var code = '(function() {' +/var code = '(function() {\"use strict\";' +/" "$f"
    fi
  done
}

need_bin() {
  [ -x "$bin" ] || { echo "pouchdb.sh: $bin is missing; run scripts/pouchdb.sh install" >&2; exit 1; }
  stock_views
}

args() {
  local a=(-p "$port" -o 127.0.0.1 -n --no-color)
  if [ -n "$dir" ]; then
    mkdir -p "$dir"
    a+=(-d "$(cd "$dir" && pwd)/")
  else
    a+=(--in-memory)
  fi
  printf '%s\n' "${a[@]}"
}

case "$cmd" in
  install)
    install
    ;;
  run)
    need_bin
    wd="${workdir:-${dir:-$state}}"
    mkdir -p "$wd"
    mapfile -t a < <(args)
    cd "$wd"
    exec "$bin" "${a[@]}"
    ;;
  start)
    need_bin
    mkdir -p "$state"
    if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      echo "pouchdb.sh: already running (pid $(cat "$state/pid"))" >&2
      exit 1
    fi
    wd="${workdir:-${dir:-$state}}"
    mkdir -p "$wd"
    mapfile -t a < <(args)
    (cd "$wd" && exec "$bin" "${a[@]}") >"$state/out.log" 2>&1 &
    echo $! >"$state/pid"
    for _ in $(seq 1 150); do
      if curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1; then
        echo "http://127.0.0.1:$port"
        exit 0
      fi
      kill -0 "$(cat "$state/pid")" 2>/dev/null || break
      sleep 0.2
    done
    echo "pouchdb.sh: pouchdb-server did not answer on port $port; output:" >&2
    cat "$state/out.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$state/pid" ]; then
      pid="$(cat "$state/pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$state/pid"
    fi
    ;;
  *)
    usage
    ;;
esac
