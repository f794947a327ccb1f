// Package containerd holds the end-to-end tests of `brisk standalone
// --containers containerd`: the whole wsk-compat client suite run again with
// every server on a private containerd daemon, and scenarios only that
// backend has (memory, pids and network limits seen through the API,
// blackbox actions, pausing of idle containers, eviction under the memory
// budget). They need root, containerd, runc and the CNI plugins
// (scripts/containerd.sh install) and skip without them.
package containerd
