#!/usr/bin/env bash
# Apache Kafka 4.x for Brisk's tests and local runs: the broker is assembled
# from Maven Central artifacts (org.apache.kafka:kafka_2.13 and its runtime
# dependencies, listed by scripts/kafka/pom.xml) and runs as one KRaft node
# (broker and controller in one JVM) on 127.0.0.1. See docs/kafka.md.
#
#   scripts/kafka.sh install          fetch the jars with Maven once; idempotent
#   scripts/kafka.sh installed        exit 0 (and print the jar directory) if installed
#   scripts/kafka.sh start [OPTIONS]  start in the background, wait until it serves
#                                     (at most KAFKA_START_TIMEOUT s, default 120),
#                                     print its bootstrap address host:port
#   scripts/kafka.sh run   [OPTIONS]  run in the foreground until killed
#   scripts/kafka.sh stop  --port P   stop what `start --port P` started
#
# OPTIONS: --port P             client port (default: a free one)
#          --controller-port Q  KRaft controller port (default: a free one)
#          --dir D              data directory, kept across runs (default: a
#                               temporary one, removed by stop)
#          --parent PID         stop the broker when process PID exits
#          --set KEY=VALUE      extra server.properties line (repeatable)
#
# Environment: KAFKA_VERSION (default: the pom's kafka.version) with
# KAFKA_LOG4J_VERSION (the log4j2 version that Kafka's kafka-server uses;
# default: the pom's log4j.version),
# BRISK_CACHE_DIR (default ~/.cache/brisk; jars in kafka-<version>/libs),
# KAFKA_HEAP_OPTS (default -Xms128m -Xmx512m), JAVA (default: java on PATH),
# KAFKA_LOG4J_CONFIG (default scripts/kafka/log4j2.properties).
# State (pid, properties, server.log) is in ${TMPDIR:-/tmp}/brisk-kafka-<port>.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
conf="$here/kafka"

usage() { sed -n '2,29p' "$0" >&2; exit 2; }

pom_prop() { sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" "$conf/pom.xml" | head -n1; }
version="${KAFKA_VERSION:-$(pom_prop kafka.version)}"
log4j_version="${KAFKA_LOG4J_VERSION:-$(pom_prop log4j.version)}"
cache="${BRISK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/brisk}/kafka-$version"
libs="$cache/libs"
stamp="$cache/.brisk-installed"
java="${JAVA:-java}"

# The stamp holds the pom's checksum and the log4j version, so editing the
# pom re-installs.
pom_sum() { echo "$(sha256sum "$conf/pom.xml" | cut -d' ' -f1) log4j-$log4j_version"; }

is_installed() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(pom_sum)" ] && compgen -G "$libs/kafka_2.13-$version.jar" >/dev/null
}

install() {
  if is_installed; then
    echo "kafka.sh: Apache Kafka $version already installed in $libs"
    return
  fi
  command -v mvn >/dev/null 2>&1 || { echo "kafka.sh: Maven (mvn) is needed: apt-get install maven" >&2; exit 1; }
  need_java
  local start=$SECONDS tmp
  echo "kafka.sh: fetching Apache Kafka $version jars from Maven Central into $libs"
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/libs.XXXXXX")"
  # dependency:copy-dependencies is bounded by Maven's own connect and read
  # timeouts; `timeout` bounds the whole fetch (about 20 s with an empty ~/.m2).
  if ! timeout "${KAFKA_INSTALL_TIMEOUT:-900}" mvn -B -q -Dstyle.color=never -f "$conf/pom.xml" \
      -Dkafka.version="$version" -Dlog4j.version="$log4j_version" \
      -Dmaven.wagon.http.retryHandler.count=3 \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$cache/install.log" 2>&1; then
    rm -rf "$tmp"
    tail -n 40 "$cache/install.log" >&2
    echo "kafka.sh: fetching the Kafka jars failed (log: $cache/install.log)" >&2
    exit 1
  fi
  rm -rf "$libs"
  mv "$tmp" "$libs"
  pom_sum >"$stamp"
  echo "kafka.sh: installed Apache Kafka $version ($(ls "$libs" | wc -l) jars, $(du -sh "$libs" | cut -f1)) in $((SECONDS - start)) s"
}

need_java() {
  command -v "$java" >/dev/null 2>&1 || { echo "kafka.sh: Java 17 or newer is needed (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
  local v
  v="$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
  if [ -z "$v" ] || [ "$v" -lt 17 ]; then
    echo "kafka.sh: Kafka $version needs Java 17 or newer; $java is ${v:-unknown}" >&2
    exit 1
  fi
}

need_installed() {
  is_installed || { echo "kafka.sh: Apache Kafka $version is not installed; run scripts/kafka.sh install" >&2; exit 1; }
  need_java
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
port="" cport="" dir="" parent="" sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --controller-port) cport="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --parent) parent="$2"; shift 2 ;;
    --set) sets+=("$2"); shift 2 ;;
    *) usage ;;
  esac
done

state_of() { echo "${TMPDIR:-/tmp}/brisk-kafka-$1"; }

# prepare writes the state directory: server.properties and, for a new data
# directory, the KRaft storage format. It sets state, data and props.
prepare() {
  [ -n "$port" ] || port="$(free_port)"
  while [ -z "$cport" ] || [ "$cport" = "$port" ]; do
    [ -z "$cport" ] || { echo "kafka.sh: --port and --controller-port must differ" >&2; exit 2; }
    cport="$(free_port)"
    [ "$cport" != "$port" ] || cport=""
  done
  state="$(state_of "$port")"
  if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
    echo "kafka.sh: a broker started by this script already runs on port $port (pid $(cat "$state/pid"))" >&2
    exit 1
  fi
  rm -rf "$state"
  mkdir -p "$state"
  if [ -n "$dir" ]; then
    mkdir -p "$dir"
    data="$(cd "$dir" && pwd)"
  else
    data="$state/data"
    mkdir -p "$data"
  fi
  props="$state/server.properties"
  sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" -e "s|@DATA_DIR@|$data|g" \
    "$conf/server.properties.in" >"$props"
  local kv
  for kv in "${sets[@]}"; do echo "$kv" >>"$props"; done
  if [ ! -f "$data/meta.properties" ]; then
    local cid
    # A KRaft cluster id is a base64url UUID without padding.
    cid="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    jvm_opts
    "$java" "${jvm[@]}" -cp "$libs/*" kafka.tools.StorageTool format -t "$cid" -c "$props" \
      >"$state/format.log" 2>&1 || { cat "$state/format.log" >&2; exit 1; }
  fi
}

# jvm_opts sets jvm, the JVM options; broker_cmd sets broker, the command line.
jvm_opts() {
  local heap
  read -r -a heap <<<"${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
  jvm=("${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true "-Dkafka.logs.dir=$state" "-Dlog4j2.configurationFile=${KAFKA_LOG4J_CONFIG:-$conf/log4j2.properties}")
}

broker_cmd() {
  jvm_opts
  broker=("$java" "${jvm[@]}" -cp "$libs/*" kafka.Kafka "$props")
}

# wait_ready polls until the broker logs that it started and its port
# accepts connections, the process dies, or the timeout passes.
wait_ready() {
  local pid="$1" deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-120}))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "kafka.sh: the broker exited during startup; last lines of $state:" >&2
      tail -n 30 "$state/console.out" "$state/server.log" >&2 2>/dev/null || true
      return 1
    fi
    if grep -q 'Kafka Server started' "$state/server.log" 2>/dev/null &&
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "kafka.sh: the broker did not start within ${KAFKA_START_TIMEOUT:-120} s; see $state/server.log" >&2
  return 1
}

stop_pid() {
  local pid="$1" deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT:-30}))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
}

case "$cmd" in
  install)
    install
    ;;
  installed)
    is_installed && echo "$libs"
    ;;
  run)
    need_installed
    prepare
    echo "kafka.sh: Apache Kafka $version on 127.0.0.1:$port (controller $cport), data $data, log $state/server.log" >&2
    broker_cmd
    echo "$$" >"$state/pid" # exec keeps the pid, so `stop --port` works too
    exec "${broker[@]}"
    ;;
  start)
    need_installed
    prepare
    broker_cmd
    nohup "${broker[@]}" >"$state/console.out" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$state/pid"
    if [ -n "$parent" ]; then
      # Watchdog: a test killed before its cleanup runs does not leave the
      # broker behind.
      (
        while kill -0 "$parent" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
        stop_pid "$pid"
        rm -rf "$state"
      ) >/dev/null 2>&1 </dev/null &
      disown
    fi
    if ! wait_ready "$pid"; then
      stop_pid "$pid"
      exit 1
    fi
    echo "127.0.0.1:$port"
    ;;
  stop)
    [ -n "$port" ] || usage
    state="$(state_of "$port")"
    if [ -f "$state/pid" ]; then
      pid="$(cat "$state/pid")"
      # Only a process this script started: its command line names the state directory.
      if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$state/server.properties"; then
        stop_pid "$pid"
      fi
    fi
    rm -rf "$state"
    ;;
  *)
    usage
    ;;
esac
