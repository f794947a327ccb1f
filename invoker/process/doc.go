// Package process implements invoker.ContainerFactory with plain local
// processes: every container is one action proxy process (for example
// `brisk proxy`) listening on a free loopback port, in its own process group
// and with its own scratch and temp directory under the factory's WorkDir.
//
// It is the fallback when containerd is not available (development, tests,
// single-machine standalone mode). It gives no isolation and does not enforce
// memory limits. Pids of running proxies are recorded under WorkDir so that
// Cleanup can kill what an earlier invoker left behind.
package process
