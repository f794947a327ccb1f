package invoker

import (
	"fmt"
	"sync"
	"time"

	"github.com/brisk-serverless/brisk/actions/proxy/logproto"
)

// logDrainWindow is how long the logs of a failed run are drained. The idle
// timeout is Config.LogIdleTimeout; the total is max(logMB, 5) * 2 s, as
// upstream.
const logDrainWindow = 20 * time.Millisecond

const (
	msgLogsTruncated = "Logs were truncated because the total bytes size exceeds the limit of %d bytes."
	msgLogsMissing   = "There was an issue while collecting your logs. Data might be missing."
	msgLogsDevError  = "The action did not initialize or run as expected. Log data might be missing."
)

// formatLogLine renders a line the way upstream stores it:
// "2024-01-01T00:00:00.123456789Z stdout: text".
func formatLogLine(l LogLine) string {
	return l.Time.UTC().Format("2006-01-02T15:04:05.000000000Z") + " " + l.Stream + ": " + l.Text
}

// logRouter reads every line a container writes, for the container's whole
// life, and gives each to the activation it belongs to: a tagged line to the
// activation it names, an untagged one to every activation attached at the
// time (with one activation at a time per container: that one). Lines nobody
// is attached for are dropped, so the router never blocks the container.
type logRouter struct {
	mu       sync.Mutex
	attached map[string]*logCollector
	closed   bool
}

func newLogRouter(ch <-chan LogLine) *logRouter {
	r := &logRouter{attached: map[string]*logCollector{}}
	go r.loop(ch)
	return r
}

func (r *logRouter) loop(ch <-chan LogLine) {
	for l := range ch {
		id, text, tagged := logproto.Split(l.Text)
		l.Text = text
		r.mu.Lock()
		if tagged {
			if c := r.attached[id]; c != nil {
				c.add(l)
			}
		} else {
			for _, c := range r.attached {
				c.add(l)
			}
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.closed = true
	for _, c := range r.attached {
		c.close()
	}
	r.mu.Unlock()
}

// attach starts collecting the lines of activation id (limitBytes 0 collects
// nothing but still waits for the sentinels). It must be called before the
// activation's /init or /run is sent.
func (r *logRouter) attach(id string, limitBytes int) *logCollector {
	c := &logCollector{limit: limitBytes, lines: []string{}, activity: make(chan struct{}, 1), done: make(chan struct{}),
		finishing: make(chan struct{})}
	r.mu.Lock()
	if r.closed {
		c.close()
	} else {
		if old := r.attached[id]; old != nil {
			old.close() // the same id twice on one container: the older one stops here
		}
		r.attached[id] = c
	}
	r.mu.Unlock()
	c.detach = func() {
		r.mu.Lock()
		if r.attached[id] == c {
			delete(r.attached, id)
		}
		r.mu.Unlock()
	}
	return c
}

// logCollector gathers one activation's log lines.
type logCollector struct {
	limit  int
	detach func()

	mu        sync.Mutex
	lines     []string
	size      int
	truncated bool
	seenOut   bool
	seenErr   bool
	ended     bool          // both sentinels seen, or the container's output closed
	closed    bool          // the container's output closed
	activity  chan struct{} // a line arrived (capacity 1)
	done      chan struct{} // closed once ended
	finishing chan struct{} // closed when finish is called (tests wait on it)
}

// startLogCollector collects the lines of a channel that carries one
// activation at a time.
func startLogCollector(ch <-chan LogLine, limitBytes int) *logCollector {
	return newLogRouter(ch).attach("", limitBytes)
}

// add takes one line; the router holds its lock.
func (c *logCollector) add(l LogLine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	select {
	case c.activity <- struct{}{}:
	default:
	}
	switch {
	case logproto.IsSentinel(l.Text):
		if l.Stream == "stderr" {
			c.seenErr = true
		} else {
			c.seenOut = true
		}
		if c.seenOut && c.seenErr {
			c.ended = true
			close(c.done)
		}
	case l.Dropped:
		c.truncated = true
	case c.truncated || c.limit == 0:
	case c.size+len(l.Text) > c.limit:
		c.truncated = true
	default:
		c.size += len(l.Text)
		c.lines = append(c.lines, formatLogLine(l))
	}
}

// close ends collection because the container's output ended.
func (c *logCollector) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if !c.ended {
		c.ended = true
		close(c.done)
	}
}

// finish tells the collector the activation ended and returns its lines.
// waitSentinels (a healthy run) waits for both sentinels, at most
// idleTimeout without a line (DefaultLogIdleTimeout when not positive) and
// the total log-collection timeout; otherwise it only drains briefly.
func (c *logCollector) finish(waitSentinels bool, idleTimeout time.Duration) []string {
	close(c.finishing)
	if idleTimeout <= 0 {
		idleTimeout = DefaultLogIdleTimeout
	}
	missing := false
	if waitSentinels {
		deadline := time.NewTimer(time.Duration(max(c.limit>>20, 5)) * 2 * time.Second)
		idle := time.NewTimer(idleTimeout)
	wait:
		for {
			select {
			case <-c.done:
				break wait
			case <-c.activity:
				idle.Reset(idleTimeout)
			case <-idle.C:
				missing = true
				break wait
			case <-deadline.C:
				missing = true
				break wait
			}
		}
		deadline.Stop()
		idle.Stop()
	} else {
		window := time.NewTimer(logDrainWindow)
		select {
		case <-c.done:
		case <-window.C:
		}
		window.Stop()
	}
	c.detach()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended && missing {
		missing = false // it ended just as the wait ran out
	}
	c.ended = true // late lines are not this activation's any more
	if c.limit == 0 {
		return []string{}
	}
	lines := c.lines
	now := time.Now()
	if c.truncated {
		lines = append(lines, formatLogLine(LogLine{Time: now, Stream: "stderr", Text: fmt.Sprintf(msgLogsTruncated, c.limit)}))
	}
	if missing {
		lines = append(lines, formatLogLine(LogLine{Time: now, Stream: "stderr", Text: msgLogsMissing}))
	}
	if !waitSentinels {
		lines = append(lines, formatLogLine(LogLine{Time: now, Stream: "stderr", Text: msgLogsDevError}))
	}
	return lines
}
