// Package containerd implements invoker.ContainerFactory with containerd and
// runc: every action container is a containerd container (namespace "brisk"
// by default) started from a local runtime image (actions/images) whose
// entry point is the Brisk action proxy, listening on port 8080 of the
// container's own network namespace.
//
// Isolation and limits, all enforced by the kernel through runc:
//
//   - memory: the action's limit is the cgroup's memory limit; a container
//     whose action the kernel killed for memory reports it through OOMKilled,
//     so the invoker answers upstream's "The action exhausted its memory and
//     was aborted.";
//   - pids: a cgroup pids limit (Config.PidsLimit) stops fork bombs;
//   - CPU: cgroup shares proportional to the memory limit;
//   - file system: the image is mounted read-only (a read-only snapshot view);
//     /tmp is a size-limited tmpfs and the only writable place;
//   - privileges: the proxy and the action run as an unprivileged user
//     (uid 1000) with no capabilities and no_new_privs;
//   - network: each container gets its own network namespace, joined to a
//     Linux bridge by the CNI bridge plugin with host-local addresses. The
//     bridge ports are isolated from each other (containers cannot reach one
//     another), new connections from containers to the host are dropped (the
//     platform's own ports are out of reach) and traffic to the outside is
//     masqueraded (Config.Network.DenyOutbound turns that off). Network
//     namespaces are prepared ahead (Config.Network.Prepared), so the CNI
//     plugins' 50-80 ms are not on the cold-start path.
//
// Timeouts and log limits are the invoker's: it destroys a container whose
// action ran out of time, and it reads the container's stdout and stderr
// (delivered by Container.Logs) up to the action's log limit.
//
// Cold start. What does not depend on the action is prepared once, or
// ahead in small bounded pools refilled after each Create (at the lowest
// CPU priority where the work is the factory's own commands), so that the
// refill does not compete with the start it serves: the network namespaces,
// two read-only root file system views per image (Config.PreparedViews),
// the image's part of the OCI spec (its config and the user's groups,
// otherwise read through a temporary mount of the image each time), and
// one containerd lease per factory (otherwise NewContainer creates and
// deletes one per container). What remains on the path is containerd's
// container record, the shim and `runc create`, `runc start`, and the
// proxy and runtime start-up inside the container. BenchmarkColdStartSteps
// reports each step.
//
// The factory imports the runtime images listed in an images.json index
// (written by actions/images) when it starts, skipping images containerd
// already has at the same digest. Cleanup removes the containers an earlier
// factory with the same Owner label left behind, with their snapshots and
// network addresses, and the views it prepared and its lease. Containers implement invoker.Pauser (the cgroup
// freezer, through containerd's task Pause and Resume).
package containerd
