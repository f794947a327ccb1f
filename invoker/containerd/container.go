package containerd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/brisk-serverless/brisk/invoker"
)

// Container is one containerd container running the action proxy.
type Container struct {
	id        string
	addr      string
	cgroup    string
	factory   *Factory
	container ctrd.Container
	task      ctrd.Task
	pump      *logPump
	netns     *slot
	snapshot  string // key of the root file system view
	watching  bool

	exited     chan struct{} // closed when the task has exited
	exitStatus ctrd.ExitStatus

	mu     sync.Mutex // serializes Pause, Resume and Destroy
	paused bool
	gone   bool

	destroyOnce sync.Once
	destroyErr  error
}

var (
	_ invoker.Container = (*Container)(nil)
	_ invoker.Pauser    = (*Container)(nil)
)

// ID implements invoker.Container.
func (c *Container) ID() string { return c.id }

// Addr implements invoker.Container: the container's address on the bridge.
func (c *Container) Addr() string { return c.addr }

// Logs implements invoker.Container.
func (c *Container) Logs() <-chan invoker.LogLine { return c.pump.ch }

// Exited is closed once the container's proxy process has exited.
func (c *Container) Exited() <-chan struct{} { return c.exited }

// Pid is the host pid of the container's proxy process.
func (c *Container) Pid() int { return int(c.task.Pid()) }

// Cgroup is the container's cgroup path (below each hierarchy's root).
func (c *Container) Cgroup() string { return c.cgroup }

// watch waits for the task's exit, then ends the logs after a drain period
// unless Destroy ends them first.
func (c *Container) watch(exitC <-chan ctrd.ExitStatus) {
	st, ok := <-exitC
	if ok {
		c.exitStatus = st
	}
	close(c.exited)
	c.factory.log.Debug("container exited", "container", c.id, "code", st.ExitCode())
	time.Sleep(c.factory.cfg.LogDrain)
	c.pump.close()
}

// waitListening polls the proxy's port every 2 ms until it accepts a
// connection, the container exits, ctx ends or readyTimeout passes, so that
// the invoker's first /init finds it ready instead of retrying at its own
// slower pace. It gives up silently: /init then reports what is wrong.
func (c *Container) waitListening(ctx context.Context) {
	deadline := time.Now().Add(readyTimeout)
	d := net.Dialer{Timeout: 100 * time.Millisecond}
	for time.Now().Before(deadline) {
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-c.exited:
			return
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// readyTimeout bounds waitListening.
const readyTimeout = 10 * time.Second

// Pause freezes every process of the container (cgroup freezer).
func (c *Container) Pause(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || c.paused {
		return nil
	}
	if err := c.task.Pause(c.factory.ctx(ctx)); err != nil {
		return fmt.Errorf("pause container %s: %w", c.id, err)
	}
	c.paused = true
	return nil
}

// Resume thaws a paused container.
func (c *Container) Resume(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || !c.paused {
		return nil
	}
	if err := c.task.Resume(c.factory.ctx(ctx)); err != nil {
		return fmt.Errorf("resume container %s: %w", c.id, err)
	}
	c.paused = false
	return nil
}

// Paused reports whether the container is frozen.
func (c *Container) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// OOMKilled reports whether the kernel killed a process of the container
// because the container ran out of memory.
func (c *Container) OOMKilled(context.Context) bool {
	n, err := oomKills(c.cgroup)
	if err != nil {
		c.factory.log.Debug("read oom counter", "container", c.id, "err", err)
	}
	return n > 0
}

// oomKills reads the oom_kill counter of a cgroup (v1 memory.oom_control,
// else v2 memory.events).
func oomKills(cgroup string) (int, error) {
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup/memory", cgroup, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup", cgroup, "memory.events"),
	} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), " ")
			if k == "oom_kill" {
				return strconv.Atoi(strings.TrimSpace(v))
			}
		}
		return 0, nil
	}
	return 0, fmt.Errorf("no memory cgroup files for %s", cgroup)
}

// Destroy kills the container and removes its task, network address,
// snapshot and container record. It is idempotent.
func (c *Container) Destroy(ctx context.Context) error {
	c.destroyOnce.Do(func() {
		c.destroyErr = c.teardown(c.factory.leaseCtx(ctx))
		c.factory.forget(c)
	})
	return c.destroyErr
}

func (c *Container) teardown(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gone = true
	var errs []error
	if c.task != nil {
		if c.paused {
			// A frozen process does not die until thawed.
			if err := c.task.Resume(ctx); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("resume before kill: %w", err))
			}
			c.paused = false
		}
		if err := c.task.Kill(ctx, signalKill); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
			errs = append(errs, fmt.Errorf("kill: %w", err))
		}
		if c.watching {
			select {
			case <-c.exited:
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("wait for exit: %w", ctx.Err()))
			}
		}
	}
	if c.netns != nil {
		// The namespace outlives the task (it is a named one): give its
		// address back and remove it, off the caller's path.
		c.factory.netns.release(c.netns)
		c.netns = nil
	}
	if c.task != nil {
		if _, err := c.task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete task: %w", err))
		}
	}
	if c.pump != nil {
		c.pump.close()
	}
	if err := c.container.Delete(ctx, ctrd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete container: %w", err))
	}
	c.factory.snaps.disown(c.snapshot)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy container %s: %w", c.id, err)
	}
	return nil
}
