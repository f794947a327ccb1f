#!/usr/bin/env bash
# Installs what the containerd backend needs (Debian packages: containerd,
# runc, the CNI plugins, iptables), idempotently, and starts or stops a
# private containerd daemon for manual use. Tests start their own daemon
# (invoker/containerd/ctrdtest) and only need `install`.
#
#   scripts/containerd.sh install            # apt-get install when missing (root)
#   scripts/containerd.sh start DIR          # private daemon: socket DIR/containerd.sock
#   scripts/containerd.sh stop DIR
set -euo pipefail

cmd=${1:-install}
case $cmd in
install)
  need=()
  command -v containerd >/dev/null 2>&1 || need+=(containerd)
  command -v runc >/dev/null 2>&1 || need+=(runc)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  command -v iptables >/dev/null 2>&1 || need+=(iptables)
  if [ ${#need[@]} -eq 0 ]; then
    exit 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "containerd.sh: not root, cannot install ${need[*]}; the containerd tests will skip" >&2
    exit 0
  fi
  echo "containerd.sh: installing ${need[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends: no systemd units or docker-related extras; the
  # daemon is never started as a system service, only privately.
  apt-get install -y -qq --no-install-recommends "${need[@]}"
  ;;
start)
  dir=$(realpath -m "${2:?usage: containerd.sh start DIR}")
  mkdir -p "$dir"
  cat > "$dir/config.toml" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[debug]
  address = "$dir/debug.sock"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$dir/opt"
TOML
  if [ -f "$dir/containerd.pid" ] && kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null; then
    echo "$dir/containerd.sock"
    exit 0
  fi
  setsid containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 </dev/null &
  echo $! >"$dir/containerd.pid"
  for _ in $(seq 100); do
    [ -S "$dir/containerd.sock" ] && { echo "$dir/containerd.sock"; exit 0; }
    sleep 0.1
  done
  echo "containerd.sh: daemon did not create $dir/containerd.sock; see $dir/containerd.log" >&2
  exit 1
  ;;
stop)
  dir=$(realpath -m "${2:?usage: containerd.sh stop DIR}")
  if [ -f "$dir/containerd.pid" ]; then
    pid=$(cat "$dir/containerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/containerd.pid"
  fi
  ;;
*)
  echo "usage: $0 install | start DIR | stop DIR" >&2
  exit 2
  ;;
esac
