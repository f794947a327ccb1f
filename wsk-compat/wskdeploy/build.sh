#!/usr/bin/env bash
# Builds Apache OpenWhisk wskdeploy into wsk-compat/wskdeploy/bin/wskdeploy.
#
# The module proxy refuses `go install ...@latest` for the apache openwhisk
# modules and wskdeploy's own go.mod is too old for `go install pkg@version`,
# so the binary is built from a throw-away module in a temp dir that requires
# one exact pseudo-version. Idempotent: does nothing when the binary exists
# and is newer than this script. Set WSKDEPLOY_FORCE=1 to rebuild.
set -euo pipefail

WSKDEPLOY_VERSION="v0.0.0-20241212232442-16acc805fe2c"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/bin/wskdeploy"

if [[ -z "${WSKDEPLOY_FORCE:-}" && -x "$out" && "$out" -nt "${BASH_SOURCE[0]}" ]]; then
	echo "wskdeploy: up to date ($out)"
	exit 0
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$here/bin"

cd "$scratch"
# The scratch module must not pick up a go.work or GOFLAGS from the caller.
export GOWORK=off GOFLAGS=-mod=mod
go mod init scratch >/dev/null 2>&1
go get "github.com/apache/openwhisk-wskdeploy@${WSKDEPLOY_VERSION}"
go build -trimpath -buildvcs=false -o "$out.tmp" github.com/apache/openwhisk-wskdeploy
mv "$out.tmp" "$out"
echo "wskdeploy: built $out"
