package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/brisk-serverless/brisk/invoker"
)

// maxLogLine is the longest line delivered as one LogLine; longer lines are
// split into several.
const maxLogLine = 64 << 10

// Container is one proxy process.
type Container struct {
	id      string
	addr    string
	port    int
	dir     string
	pid     int
	pidFile string
	factory *Factory
	cmd     *exec.Cmd

	logs      chan invoker.LogLine
	dropAfter time.Duration

	mu      sync.Mutex // guards reaped; held while the proxy is reaped
	reaped  bool
	exited  chan struct{} // closed once the proxy has been reaped
	waitErr error         // valid after exited is closed

	releaseOnce sync.Once
	releaseErr  error
}

var _ invoker.Container = (*Container)(nil)

// ID implements invoker.Container.
func (c *Container) ID() string { return c.id }

// Addr implements invoker.Container.
func (c *Container) Addr() string { return c.addr }

// Logs implements invoker.Container.
func (c *Container) Logs() <-chan invoker.LogLine { return c.logs }

// Pid is the proxy's process id, which is also its process group id.
func (c *Container) Pid() int { return c.pid }

// Exited is closed once the proxy process has exited and been reaped.
func (c *Container) Exited() <-chan struct{} { return c.exited }

// Destroy kills the proxy's whole process group (the proxy and the action
// process it started), waits until the proxy has been reaped and removes the
// container's directory. It is idempotent.
func (c *Container) Destroy(ctx context.Context) error {
	c.killGroup()
	select {
	case <-c.exited:
	case <-ctx.Done():
		return fmt.Errorf("destroy container %s (pid %d): %w", c.id, c.pid, ctx.Err())
	}
	c.releaseOnce.Do(func() {
		c.factory.forget(c)
		var errs []error
		if err := os.Remove(c.pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			c.releaseErr = fmt.Errorf("destroy container %s: %w", c.id, err)
		}
	})
	return c.releaseErr
}

// killGroup sends SIGKILL to the proxy's process group unless the proxy has
// already been reaped (its pid, hence the group id, may then be reused).
func (c *Container) killGroup() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.reaped {
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	}
}

// watch starts the goroutines that reap the proxy and pump its output.
func (c *Container) watch(stdout, stderr *os.File, drain time.Duration) {
	var wg sync.WaitGroup
	wg.Add(2)
	go c.pump(&wg, stdout, "stdout")
	go c.pump(&wg, stderr, "stderr")
	pumped := make(chan struct{})
	go func() {
		wg.Wait()
		close(pumped)
		close(c.logs)
	}()
	go func() {
		waitExited(c.pid)
		c.mu.Lock()
		// The proxy is a zombie now: its pid still names the group, so
		// killing the group reaches only what the proxy left behind.
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
		c.waitErr = c.cmd.Wait()
		c.reaped = true
		c.mu.Unlock()
		close(c.exited)
		c.factory.log.Debug("proxy exited", "container", c.id, "pid", c.pid, "status", c.waitErr)
		// Descendants that escaped the group may hold the pipes open; stop
		// reading after a grace period so Logs gets closed.
		select {
		case <-pumped:
		case <-time.After(drain):
			stdout.Close()
			stderr.Close()
		}
	}()
}

// pump reads one stream line by line into the Logs channel.
func (c *Container) pump(wg *sync.WaitGroup, r *os.File, stream string) {
	defer wg.Done()
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLogLine)
	d := dropper{c: c, stream: stream}
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			now := time.Now()
			text := chunk
			if text[len(text)-1] == '\n' {
				text = text[:len(text)-1]
			}
			d.deliver(invoker.LogLine{Time: now, Stream: stream, Text: string(text)})
		}
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
			c.factory.log.Debug("read proxy output", "container", c.id, "stream", stream, "err", err)
		}
		d.flush()
		return
	}
}

// dropper delivers lines to the Logs channel without blocking the proxy
// forever when nobody reads.
type dropper struct {
	c       *Container
	stream  string
	dropped int
}

func (d *dropper) marker() invoker.LogLine {
	return invoker.LogLine{
		Time:    time.Now(),
		Stream:  d.stream,
		Text:    fmt.Sprintf("Brisk dropped %d %s lines because nobody read the logs in time.", d.dropped, d.stream),
		Dropped: true,
	}
}

func (d *dropper) deliver(line invoker.LogLine) {
	if d.dropped > 0 {
		// Dropping: no waiting until there is room for the marker.
		select {
		case d.c.logs <- d.marker():
			d.dropped = 0
		default:
			d.dropped++
			return
		}
	}
	select {
	case d.c.logs <- line:
		return
	default:
	}
	t := time.NewTimer(d.c.dropAfter)
	defer t.Stop()
	select {
	case d.c.logs <- line:
	case <-t.C:
		d.dropped++
	}
}

// flush reports lines still counted as dropped when the stream ends.
func (d *dropper) flush() {
	if d.dropped == 0 {
		return
	}
	t := time.NewTimer(d.c.dropAfter)
	defer t.Stop()
	select {
	case d.c.logs <- d.marker():
	case <-t.C:
	}
}
