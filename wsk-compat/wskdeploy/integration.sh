#!/usr/bin/env bash
# Runs wskdeploy's own integration tests (tests/src/integration/*, build tag
# `integration`) of the pinned wskdeploy version against Brisk.
#
#   wsk-compat/wskdeploy/integration.sh [go test -run REGEX]
#   wsk-compat/wskdeploy/integration.sh --prepare
#
# --prepare only downloads what the tests build from (the wskdeploy module
# and the tests' dependencies, through the Go module proxy) and exits; it is
# idempotent and fast once the module cache has them (scripts/test-deps.sh).
#
# Server: with BRISK_APIHOST set (e.g. http://127.0.0.1:3233) the tests go to
# that server, authenticating with BRISK_AUTH (default: guest's key) in
# namespace BRISK_NAMESPACE (default guest). Without it the script starts
# `bin/brisk standalone` (or $BRISK_BIN) on a free loopback port with a
# temporary data dir and throttles raised, and stops it at the end.
#
# Tests: the REGEX argument, else $WSKDEPLOY_IT_RUN, else every test. The
# result of each test is printed as a table at the end ("PASS name",
# "FAIL name", "SKIP name") and, with WSKDEPLOY_IT_RESULTS=FILE, also written
# to FILE (WSKDEPLOY_IT_JSON=FILE keeps the raw `go test -json` stream); the
# tests' output goes to stdout. Exit status 0 when every selected test passed,
# 1 when one failed, 2 on a setup error. WSKDEPLOY_IT_TIMEOUT bounds the
# `go test` run (default 8m).
#
# The tests expect the wskdeploy source at
# $GOPATH/src/github.com/apache/openwhisk-wskdeploy, the `wskdeploy` binary on
# PATH and ~/.wskprops: the module cache's (read-only) copy is copied into a
# temporary GOPATH, wsk-compat/wskdeploy/bin/wskdeploy (build.sh) is put on
# PATH (or $WSKDEPLOY_BIN) and HOME points at a temporary directory holding
# .wskprops. The Go
# build and module caches stay the caller's. The first run downloads the
# test module's dependencies through the Go module proxy.
set -euo pipefail

WSKDEPLOY_VERSION="v0.0.0-20241212232442-16acc805fe2c"
GUEST_AUTH="23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
# Bound on the whole `go test` run (a Go duration).
IT_TIMEOUT="${WSKDEPLOY_IT_TIMEOUT:-8m}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
prepare=""
if [[ "${1:-}" == "--prepare" ]]; then
	prepare=1
	shift
fi
run="${1:-${WSKDEPLOY_IT_RUN:-}}"

die() { echo "integration.sh: $*" >&2; exit 2; }

command -v go >/dev/null || die "go is not on PATH"

# The caller's caches, fixed before GOPATH and HOME change.
gocache="$(go env GOCACHE)"
gomodcache="$(go env GOMODCACHE)"
goproxy="$(go env GOPROXY)"
gosumdb="$(go env GOSUMDB)"
goenv="$(go env GOENV)"

work="$(mktemp -d "${TMPDIR:-/tmp}/brisk-wskdeploy-it.XXXXXX")"
server_pid=""
cleanup() {
	if [[ -n "$server_pid" ]]; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	chmod -R u+w "$work" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# 1. The source of the pinned version, writable, where the tests look for it.
src="$(cd "$work" && GOWORK=off GOFLAGS=-mod=mod timeout 300 go mod download -json \
	"github.com/apache/openwhisk-wskdeploy@${WSKDEPLOY_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
[[ -n "$src" && -d "$src" ]] || die "could not download github.com/apache/openwhisk-wskdeploy@${WSKDEPLOY_VERSION}"
gopath="$work/gopath"
dst="$gopath/src/github.com/apache/openwhisk-wskdeploy"
mkdir -p "$(dirname "$dst")"
cp -R "$src" "$dst"
chmod -R u+w "$dst"

if [[ -n "$prepare" ]]; then
	(cd "$dst" && GOPATH="$gopath" GOMODCACHE="$gomodcache" GOCACHE="$gocache" GOWORK=off GOFLAGS=-mod=mod \
		timeout 600 go list -deps -test -tags integration ./tests/src/integration/... >/dev/null) ||
		die "downloading the integration tests' dependencies failed"
	echo "integration.sh: wskdeploy integration tests ready"
	exit 0
fi

# The wskdeploy the tests run, as `wskdeploy` on PATH.
bindir="$work/bin"
mkdir -p "$bindir"
if [[ -n "${WSKDEPLOY_BIN:-}" ]]; then
	ln -s "$(cd "$(dirname "$WSKDEPLOY_BIN")" && pwd)/$(basename "$WSKDEPLOY_BIN")" "$bindir/wskdeploy"
else
	bash "$here/build.sh" >&2 || die "building wskdeploy failed"
	ln -s "$here/bin/wskdeploy" "$bindir/wskdeploy"
fi

# 2. The server.
if [[ -n "${BRISK_APIHOST:-}" ]]; then
	apihost="$BRISK_APIHOST"
else
	bin="${BRISK_BIN:-$root/bin/brisk}"
	[[ -x "$bin" ]] || die "$bin not found; run make build (or set BRISK_BIN or BRISK_APIHOST)"
	port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
	apihost="http://127.0.0.1:$port"
	BRISK_INVOCATIONS_PER_MINUTE="${BRISK_INVOCATIONS_PER_MINUTE:-100000}" \
		BRISK_FIRES_PER_MINUTE="${BRISK_FIRES_PER_MINUTE:-100000}" \
		BRISK_CONCURRENT_INVOCATIONS="${BRISK_CONCURRENT_INVOCATIONS:-100}" \
		"$bin" standalone --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
	server_pid=$!
	up=""
	for _ in $(seq 1 300); do
		if python3 -c 'import sys, urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1] + "/ping", timeout=2).read().strip() != b"pong")' "$apihost" 2>/dev/null; then
			up=1
			break
		fi
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.2
	done
	if [[ -z "$up" ]]; then
		cat "$work/server.log" >&2
		die "brisk standalone did not answer /ping"
	fi
	echo "integration.sh: brisk standalone on $apihost (log $work/server.log while running)" >&2
fi
auth="${BRISK_AUTH:-$GUEST_AUTH}"
namespace="${BRISK_NAMESPACE:-guest}"

# 3. The environment the tests read: ~/.wskprops for wskdeploy, BLUEMIX_*
# for the tests that deploy with explicit credentials (they skip without).
home="$work/home"
mkdir -p "$home"
printf 'APIHOST=%s\nAUTH=%s\nNAMESPACE=%s\n' "$apihost" "$auth" "$namespace" >"$home/.wskprops"
export HOME="$home" GOPATH="$gopath" GOCACHE="$gocache" GOMODCACHE="$gomodcache"
export GOENV="$goenv" GOPROXY="$goproxy" GOSUMDB="$gosumdb" GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
export PATH="$bindir:$PATH"
export BLUEMIX_APIHOST="$apihost" BLUEMIX_AUTH="$auth" BLUEMIX_NAMESPACE="$namespace"
# Tests that build deployment plans in process find the home directory with
# os/user (not $HOME), so they read $OPENWHISK_HOME/whisk.properties instead,
# as on upstream's CI; it names a file holding the key.
owhome="$work/openwhisk"
mkdir -p "$owhome"
printf '%s\n' "$auth" >"$owhome/auth.guest"
printf 'whisk.api.host.name=%s\nrouter.host=%s\ntesting.auth=%s\n' "$apihost" "$apihost" "$owhome/auth.guest" >"$owhome/whisk.properties"
export OPENWHISK_HOME="$owhome"
unset WSK_CONFIG_FILE WSKDEPLOY_BIN

# 4. The tests, one package at a time (they share entity names), with
# per-test results taken from the test2json stream.
args=(-tags integration -count=1 -p 1 -timeout "$IT_TIMEOUT" -json)
[[ -n "$run" ]] && args+=(-run "$run")
cd "$dst"
set +e
go test "${args[@]}" ./tests/src/integration/... >"$work/test.json" 2>"$work/test.stderr"
status=$?
set -e

python3 - "$work/test.json" "$work/results" <<'EOF'
import json, sys
results, order, out = {}, [], {}
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        ev = json.loads(line)
    except ValueError:
        sys.stdout.write(line)
        continue
    test, action = ev.get("Test"), ev.get("Action")
    if action == "output":
        sys.stdout.write(ev.get("Output", ""))
    if not test:
        continue
    if action in ("pass", "fail", "skip"):
        key = test
        if key not in results:
            order.append(key)
        results[key] = (action.upper(), ev.get("Elapsed", 0), ev.get("Package", "").rsplit("/", 1)[-1])
with open(sys.argv[2], "w") as f:
    for key in order:
        r, secs, pkg = results[key]
        f.write("%s\t%s\t%s\t%.1fs\n" % (r, key, pkg, secs))
EOF
grep -v '^$' "$work/test.stderr" >&2 || true

echo
echo "=== wskdeploy integration tests against $apihost"
if [[ -s "$work/results" ]]; then
	column -t -s $'\t' "$work/results" 2>/dev/null || cat "$work/results"
else
	echo "(no test ran)"
fi
if [[ -n "${WSKDEPLOY_IT_RESULTS:-}" ]]; then
	cp "$work/results" "$WSKDEPLOY_IT_RESULTS"
fi
if [[ -n "${WSKDEPLOY_IT_JSON:-}" ]]; then
	cp "$work/test.json" "$WSKDEPLOY_IT_JSON"
fi
if grep -q '^FAIL' "$work/results" 2>/dev/null; then
	exit 1
fi
if [[ $status -ne 0 ]]; then
	echo "integration.sh: go test exited $status without a failed test (build error or timeout?)" >&2
	exit 2
fi
exit 0
