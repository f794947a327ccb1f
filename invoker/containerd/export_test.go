package containerd

import "time"

// OnCreateSteps calls fn with the steps of each later Create and how long
// each took (tests and benchmarks). Set it before the first Create.
func OnCreateSteps(f *Factory, fn func(names []string, took []time.Duration)) {
	f.onTrace = func(t *trace) {
		names := make([]string, len(t.steps))
		took := make([]time.Duration, len(t.steps))
		for i, s := range t.steps {
			names[i], took[i] = s.name, s.took
		}
		fn(names, took)
	}
}

// Lease is the id of the factory's lease.
func Lease(f *Factory) string { return f.lease }

// SnapshotKey is the key of the container's root file system view.
func SnapshotKey(c *Container) string { return c.snapshot }
