package invoker

import (
	"context"
	"errors"
	"strings"
	"time"
)

// ContainerFactory creates action containers. Implementations: invoker/process
// (a local `brisk proxy` process per container) and, later, invoker/containerd.
//
// Lifecycle of a container:
//
//	Create ──> started (proxy reachable at Addr, not initialized)
//	       ──> the invoker POSTs /init once, then /run any number of times
//	       ──> Destroy (always called exactly once by the pool; idempotent)
//
// The factory never calls /init or /run itself: the invoker speaks the
// action-proxy protocol over HTTP to Addr for every implementation.
type ContainerFactory interface {
	// Create starts a container for the given spec. It returns once the
	// container process exists; the proxy inside may still be booting (the
	// invoker retries /init on connection refused until the action timeout).
	Create(ctx context.Context, spec ContainerSpec) (Container, error)
	// Cleanup removes containers left over from an earlier run of this invoker.
	Cleanup(ctx context.Context) error
	// Close releases the factory's resources (not the containers).
	Close() error
}

// ContainerSpec says what to start.
type ContainerSpec struct {
	// Name is unique per invoker, e.g. "wsk0_12_guest_hello".
	Name string
	// Kind is the runtime kind, e.g. "nodejs:20" or "python:3.11".
	Kind string
	// Image names the runtime image (containerd); ignored by the process backend.
	Image string
	// MemoryMB is the action's memory limit in megabytes.
	MemoryMB int
	// Env is added to the container's environment (e.g. __OW_API_HOST).
	Env map[string]string
}

// Container is one running action container.
type Container interface {
	// ID identifies the container within its factory.
	ID() string
	// Addr is host:port of the action proxy (/init, /run).
	Addr() string
	// Logs delivers the container's stdout and stderr lines in the order they
	// were read, each stamped when read. The channel is bounded; the
	// implementation drops lines only when nobody reads for a long time and
	// then sends one LogLine with Dropped set. It is closed when the container
	// has exited.
	Logs() <-chan LogLine
	// Destroy kills the container and releases everything it holds.
	Destroy(ctx context.Context) error
}

// Pauser is implemented by containers that can be frozen while idle.
type Pauser interface {
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
}

// OOMReporter is implemented by containers that know whether the kernel
// killed one of their processes for exceeding the memory limit.
type OOMReporter interface {
	OOMKilled(ctx context.Context) bool
}

// msgMemoryExhausted is upstream's developer error for an action the kernel
// killed for memory.
const msgMemoryExhausted = "The action exhausted its memory and was aborted."

// memoryExhausted reports whether c ran out of memory.
func memoryExhausted(ctx context.Context, c Container) bool {
	r, ok := c.(OOMReporter)
	return ok && r.OOMKilled(ctx)
}

// LogLine is one line an action wrote.
type LogLine struct {
	Time   time.Time
	Stream string // "stdout" or "stderr"
	Text   string // without the trailing newline
	// Dropped is set on a marker line when the implementation had to drop
	// lines because its buffer was full.
	Dropped bool
}

// ErrContainerStart is returned (wrapped) when a container cannot be created.
var ErrContainerStart = errors.New("container could not be started")

// SafeName turns a container name into letters, digits, '-', '_' and '.'
// (others become '_'), without leading punctuation, at most maxLen long;
// fallback when nothing is left. Backends use it for ids and file names.
func SafeName(name string, maxLen int, fallback string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
	s = strings.TrimLeft(s, "._-")
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	if s == "" {
		s = fallback
	}
	return s
}
