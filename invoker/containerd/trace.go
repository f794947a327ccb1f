package containerd

import "time"

// trace records how long each step of a container's creation took.
type trace struct {
	start time.Time
	last  time.Time
	steps []step
}

type step struct {
	name string
	took time.Duration
}

func newTrace() *trace {
	now := time.Now()
	return &trace{start: now, last: now}
}

// mark ends the step called name.
func (t *trace) mark(name string) {
	now := time.Now()
	t.steps = append(t.steps, step{name, now.Sub(t.last)})
	t.last = now
}

// attrs is the trace as slog key-value pairs, with the total.
func (t *trace) attrs() []any {
	out := make([]any, 0, 2*len(t.steps)+2)
	for _, s := range t.steps {
		out = append(out, s.name, s.took.Round(10*time.Microsecond))
	}
	return append(out, "total", t.last.Sub(t.start).Round(10*time.Microsecond))
}
