#!/usr/bin/env bash
# A local distributed Brisk: a Kafka broker, pouchdb-server (the
# CouchDB-compatible server), CONTROLLERS `brisk controller`s forming one Raft
# group (default 1) and INVOKERS `brisk invoker`s (default 2; process container
# backend), each a process of bin/brisk. `make cluster-up` and
# `make cluster-down` call this script.
#
#   scripts/cluster.sh up       start everything (idempotent); print the API host and guest key
#   scripts/cluster.sh down     stop everything `up` started
#   scripts/cluster.sh status   show what runs and GET /invokers
#
# Kafka is Apache Kafka from scripts/kafka.sh when its jars are installed
# (scripts/kafka.sh install), else Brisk's embedded kfake broker as a process
# of its own (tests/cluster/kfake). Logs, pids and data live in the state
# directory; `down` keeps the data, so the next `up` finds users, actions and
# activations again (remove the directory to start over).
#
# Environment: CONTROLLERS (1, 3 or 5), INVOKERS (2), BRISK_CLUSTER_DIR
# (state directory, default ~/.brisk/cluster), BRISK_CLUSTER_API_PORT (3233:
# controller N serves port+N), BRISK_CLUSTER_RAFT_PORT (3333: controller N's
# Raft port+N), BRISK_CLUSTER_KAFKA_PORT (9092), BRISK_CLUSTER_COUCHDB_PORT
# (5984), BRISK_CLUSTER_KAFKA (auto, kafka or kfake), BRISK_BIN (default
# bin/brisk). A changed CONTROLLERS starts a new Raft group (the group's
# membership is not user data; entities and activations stay).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
state="${BRISK_CLUSTER_DIR:-$HOME/.brisk/cluster}"
api_port="${BRISK_CLUSTER_API_PORT:-3233}"
raft_port="${BRISK_CLUSTER_RAFT_PORT:-3333}"
kafka_port="${BRISK_CLUSTER_KAFKA_PORT:-9092}"
couch_port="${BRISK_CLUSTER_COUCHDB_PORT:-5984}"
kafka_kind="${BRISK_CLUSTER_KAFKA:-auto}"
bin="${BRISK_BIN:-$root/bin/brisk}"
controllers="${CONTROLLERS:-1}"
invokers="${INVOKERS:-2}"
# down and status act on what up started.
[ -f "${BRISK_CLUSTER_DIR:-$HOME/.brisk/cluster}/controllers" ] && [ -z "${CONTROLLERS:-}" ] &&
  controllers="$(cat "${BRISK_CLUSTER_DIR:-$HOME/.brisk/cluster}/controllers")"
[ -f "${BRISK_CLUSTER_DIR:-$HOME/.brisk/cluster}/invokers" ] && [ -z "${INVOKERS:-}" ] &&
  invokers="$(cat "${BRISK_CLUSTER_DIR:-$HOME/.brisk/cluster}/invokers")"
# Upstream's well-known keys.
guest_auth="23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
system_auth="789c46b1-71f6-4ed5-8c54-816aa4f8c502:abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

usage() { sed -n '2,25p' "$0" >&2; exit 2; }

say() { echo "cluster.sh: $*"; }
die() { echo "cluster.sh: $*" >&2; exit 1; }

alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for NAME SECONDS COMMAND...: poll COMMAND until it succeeds, the
# process NAME dies, or the time is up.
wait_for() {
  local name="$1" secs="$2"
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      tail -n 30 "$state/$name.log" >&2 || true
      die "$name exited during startup (log: $state/$name.log)"
    fi
    [ $SECONDS -lt $deadline ] || die "$name did not come up within $secs s (log: $state/$name.log)"
    sleep 0.3
  done
}

# spawn NAME COMMAND...: start COMMAND in the background, detached from
# this shell, with its output in NAME.log and its pid in NAME.pid.
spawn() {
  local name="$1"
  shift
  nohup setsid "$@" >>"$state/$name.log" 2>&1 </dev/null &
  echo $! >"$state/$name.pid"
}

# stop_pid NAME: SIGTERM, then SIGKILL after 30 s.
stop_pid() {
  local name="$1" pid deadline
  [ -f "$state/$name.pid" ] || return 0
  pid="$(cat "$state/$name.pid")"
  if kill -TERM "$pid" 2>/dev/null; then
    deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then
        say "$name did not stop within 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
    say "stopped $name"
  fi
  rm -f "$state/$name.pid"
}

kafka_up() {
  local kind="$kafka_kind" out
  if [ "$kind" = auto ]; then
    if command -v java >/dev/null 2>&1 && [ -x "$root/scripts/kafka.sh" ] && bash "$root/scripts/kafka.sh" installed >/dev/null 2>&1; then
      kind=kafka
    else
      kind=kfake
    fi
  fi
  port_busy "$kafka_port" && die "port $kafka_port is in use: set BRISK_CLUSTER_KAFKA_PORT"
  case "$kind" in
    kafka)
      say "starting Apache Kafka (scripts/kafka.sh) on 127.0.0.1:$kafka_port"
      out="$(bash "$root/scripts/kafka.sh" start --port "$kafka_port" --dir "$state/kafka-data")"
      echo "${out##*$'\n'}" >"$state/kafka.brokers"
      echo kafka >"$state/kafka.kind"
      ;;
    kfake)
      say "starting the embedded kfake broker on 127.0.0.1:$kafka_port (install Apache Kafka with scripts/kafka.sh install)"
      (cd "$root" && go build -o "$state/kfake" ./tests/cluster/kfake)
      spawn kafka "$state/kfake" -port "$kafka_port" -data-dir "$state/kfake-data"
      wait_for kafka 30 port_busy "$kafka_port"
      echo "127.0.0.1:$kafka_port" >"$state/kafka.brokers"
      echo kfake >"$state/kafka.kind"
      ;;
    *) die "BRISK_CLUSTER_KAFKA=$kind: auto, kafka or kfake" ;;
  esac
}

kafka_down() {
  [ -f "$state/kafka.kind" ] || return 0
  case "$(cat "$state/kafka.kind")" in
    kafka)
      bash "$root/scripts/kafka.sh" stop --port "$kafka_port"
      say "stopped kafka"
      ;;
    kfake) stop_pid kafka ;;
  esac
  rm -f "$state/kafka.kind" "$state/kafka.brokers"
}

couch_up() {
  port_busy "$couch_port" && die "port $couch_port is in use: set BRISK_CLUSTER_COUCHDB_PORT"
  bash "$root/scripts/pouchdb.sh" install
  say "starting pouchdb-server on 127.0.0.1:$couch_port"
  bash "$root/scripts/pouchdb.sh" start --port "$couch_port" --dir "$state/couchdb" | tail -n1 >"$state/couchdb.url"
  echo "$couch_port" >"$state/couchdb.port"
}

couch_down() {
  [ -f "$state/couchdb.port" ] || return 0
  bash "$root/scripts/pouchdb.sh" stop --port "$(cat "$state/couchdb.port")"
  say "stopped pouchdb-server"
  rm -f "$state/couchdb.port" "$state/couchdb.url"
}

# subject NAME AUTH: create the subject with its well-known key unless it exists.
subject() {
  if ! "$bin" admin --couchdb "$couch" user get "$1" >/dev/null 2>&1; then
    "$bin" admin --couchdb "$couch" user create "$1" -u "$2" >/dev/null
  fi
}

all_up() { [ "$(curl -fsS "http://127.0.0.1:$api_port/invokers/healthy/count")" = "$invokers" ]; }

has_leader() { curl -fsS "http://127.0.0.1:$api_port/controllers" | grep -q '"state":"leader"'; }

# on_exit undoes a failed `up`.
failed_up=0
on_exit() {
  if [ "$failed_up" = 1 ]; then
    echo "cluster.sh: up failed; stopping what it started (logs in $state)" >&2
    down >&2 || true
  fi
}

print_info() {
  local api="http://127.0.0.1:$api_port" i
  echo
  echo "Brisk cluster is up: $controllers controller(s), $invokers invokers, $(cat "$state/kafka.kind") on $(cat "$state/kafka.brokers"), pouchdb-server on $(cat "$state/couchdb.url")"
  for ((i = 0; i < controllers; i++)); do echo "controller $i: http://127.0.0.1:$((api_port + i))"; done
  echo "API host:  $api"
  echo "guest key: $guest_auth"
  echo "wsk property set --apihost $api --auth $guest_auth"
  echo "GET $api/invokers: $(curl -fsS "$api/invokers" 2>/dev/null || echo unavailable)"
  echo "GET $api/controllers: $(curl -fsS "$api/controllers" 2>/dev/null || echo unavailable)"
  echo "logs and data in $state; stop with: make cluster-down"
}

up() {
  [ -x "$bin" ] || die "$bin not found: run make build"
  mkdir -p "$state"
  case "$controllers" in 1 | 3 | 5) ;; *) die "CONTROLLERS=$controllers: 1, 3 or 5" ;; esac
  [[ "$invokers" =~ ^[1-9][0-9]?$ ]] || die "INVOKERS=$invokers: 1 to 99"
  if alive controller0; then
    say "already running"
    couch="$(cat "$state/couchdb.url")"
    print_info
    return
  fi
  local i
  for ((i = 0; i < controllers; i++)); do
    port_busy "$((api_port + i))" && die "port $((api_port + i)) is in use (a brisk standalone?): set BRISK_CLUSTER_API_PORT"
    port_busy "$((raft_port + i))" && die "port $((raft_port + i)) is in use: set BRISK_CLUSTER_RAFT_PORT"
  done
  if [ -f "$state/controllers" ] && [ "$(cat "$state/controllers")" != "$controllers" ]; then
    say "$(cat "$state/controllers") controller(s) before, $controllers now: starting a new Raft group"
    rm -rf "$state"/controller*/raft
  fi
  echo "$controllers" >"$state/controllers"
  echo "$invokers" >"$state/invokers"
  failed_up=1
  trap on_exit EXIT
  kafka_up
  couch_up
  local brokers
  brokers="$(cat "$state/kafka.brokers")"
  couch="$(cat "$state/couchdb.url")"
  subject guest "$guest_auth"
  subject whisk.system "$system_auth"

  local voters=""
  for ((i = 0; i < controllers; i++)); do voters+="${voters:+,}$i=127.0.0.1:$((raft_port + i))"; done
  for ((i = 0; i < controllers; i++)); do
    say "starting controller$i on 127.0.0.1:$((api_port + i)) (Raft 127.0.0.1:$((raft_port + i)))"
    spawn "controller$i" "$bin" controller --config "$root/config/controller.yaml" --id "$i" \
      --listen "127.0.0.1:$((api_port + i))" --kafka "$brokers" --couchdb "$couch" \
      --raft-bind "127.0.0.1:$((raft_port + i))" --raft-data-dir "$state/controller$i/raft" --raft-voters "$voters"
  done
  for ((i = 0; i < controllers; i++)); do
    wait_for "controller$i" 60 curl -fsS "http://127.0.0.1:$((api_port + i))/ping"
  done
  wait_for controller0 60 has_leader
  for ((i = 0; i < invokers; i++)); do
    say "starting invoker$i"
    spawn "invoker$i" "$bin" invoker --config "$root/config/invoker.yaml" --id "$i" \
      --data-dir "$state/invoker$i" --api-host "http://127.0.0.1:$api_port" --kafka "$brokers" --couchdb "$couch"
  done
  wait_for controller0 90 all_up
  failed_up=0
  print_info
}

down() {
  local i
  for ((i = invokers - 1; i >= 0; i--)); do stop_pid "invoker$i"; done
  for ((i = controllers - 1; i >= 0; i--)); do stop_pid "controller$i"; done
  stop_pid controller # left by an earlier version of this script
  kafka_down
  couch_down
}

status() {
  local name
  if [ -f "$state/kafka.brokers" ] && port_busy "${kafka_port}"; then
    echo "kafka: $(cat "$state/kafka.kind") on $(cat "$state/kafka.brokers")"
  else
    echo "kafka: stopped"
  fi
  local i names=()
  for ((i = 0; i < controllers; i++)); do names+=("controller$i"); done
  for ((i = 0; i < invokers; i++)); do names+=("invoker$i"); done
  for name in "${names[@]}"; do
    if alive "$name"; then echo "$name: running (pid $(cat "$state/$name.pid"))"; else echo "$name: stopped"; fi
  done
  [ -f "$state/couchdb.url" ] && echo "couchdb: $(cat "$state/couchdb.url")"
  curl -fsS "http://127.0.0.1:$api_port/invokers" 2>/dev/null && echo || true
  curl -fsS "http://127.0.0.1:$api_port/controllers" 2>/dev/null && echo || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) usage ;;
esac
