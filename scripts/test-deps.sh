#!/usr/bin/env bash
# Installs what the tests need, idempotently: the runtimes the process
# backend uses (node, python3), the npm `openwhisk` client, and wskdeploy.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests fail (they do not skip) when something they need is missing, so
# everything is installed here: node and npm (actions, the npm client,
# pouchdb-server), python3 (actions), Java 17 and Maven (Apache Kafka, whose
# jars scripts/kafka.sh fetches with Maven).
need_apt=()
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
if ! bash scripts/kafka.sh installed >/dev/null 2>&1; then
  command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test-deps: installing ${need_apt[*]} with apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# npm client (pinned by package-lock.json)
lock=wsk-compat/npm/package-lock.json
stamp=wsk-compat/npm/node_modules/.brisk-installed
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  echo "test-deps: npm ci in wsk-compat/npm"
  (cd wsk-compat/npm && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi

# wskdeploy, built from the Go module proxy inside a scratch module
bash wsk-compat/wskdeploy/build.sh
bash scripts/pouchdb.sh install
bash scripts/containerd.sh install
bash wsk-compat/wskdeploy/integration.sh --prepare
bash scripts/kafka.sh install
