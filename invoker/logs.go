package invoker

import (
	"fmt"
	"time"
)

// Log collection timeouts (upstream: idle 2 s; total max(logMB, 5) * 2 s).
var (
	logIdleTimeout = 2 * time.Second
	logDrainWindow = 20 * time.Millisecond
)

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

// logCollector gathers one activation's log lines from a container.
type logCollector struct {
	finished chan bool // true: wait for the sentinels; false: drain briefly
	result   chan []string
}

// startLogCollector reads lines from ch until the activation is finished and
// both sentinels were seen (or the wait runs out). limitBytes 0 collects nothing.
func startLogCollector(ch <-chan LogLine, limitBytes int) *logCollector {
	c := &logCollector{finished: make(chan bool, 1), result: make(chan []string, 1)}
	go c.loop(ch, limitBytes)
	return c
}

// finish tells the collector the activation ended and returns its lines.
func (c *logCollector) finish(waitSentinels bool) []string {
	c.finished <- waitSentinels
	return <-c.result
}

func (c *logCollector) loop(ch <-chan LogLine, limit int) {
	var (
		lines     = []string{}
		size      int
		truncated bool
		seen      = map[string]bool{}
		closed    bool
	)
	add := func(l LogLine) {
		if l.Text == Sentinel {
			seen[l.Stream] = true
			return
		}
		if l.Dropped {
			truncated = true
			return
		}
		if truncated || limit == 0 {
			return
		}
		if size+len(l.Text) > limit {
			truncated = true
			return
		}
		size += len(l.Text)
		lines = append(lines, formatLogLine(l))
	}
	done := func() bool { return seen["stdout"] && seen["stderr"] }
	// Until the activation finishes, keep reading so the action never blocks
	// on a full pipe.
	var wait bool
	for !closed {
		select {
		case l, ok := <-ch:
			if !ok {
				closed = true
				continue
			}
			add(l)
			continue
		case wait = <-c.finished:
		}
		break
	}
	if closed {
		wait = <-c.finished
	}
	missing := false
	if !closed && !done() {
		if wait {
			deadline := time.NewTimer(time.Duration(max(limit>>20, 5)) * 2 * time.Second)
			idle := time.NewTimer(logIdleTimeout)
		waitLoop:
			for !done() {
				select {
				case l, ok := <-ch:
					if !ok {
						break waitLoop
					}
					add(l)
					idle.Reset(logIdleTimeout)
				case <-idle.C:
					missing = true
					break waitLoop
				case <-deadline.C:
					missing = true
					break waitLoop
				}
			}
			deadline.Stop()
			idle.Stop()
		} else {
			window := time.NewTimer(logDrainWindow)
		drain:
			for !done() {
				select {
				case l, ok := <-ch:
					if !ok {
						break drain
					}
					add(l)
				case <-window.C:
					break drain
				}
			}
			window.Stop()
		}
	}
	if limit == 0 {
		// No collection asked for: the sentinels were still consumed above, so
		// the next activation on this container starts clean.
		c.result <- []string{}
		return
	}
	now := time.Now()
	if truncated {
		lines = append(lines, formatLogLine(LogLine{Time: now, Stream: "stderr", Text: fmt.Sprintf(msgLogsTruncated, limit)}))
	}
	if missing {
		lines = append(lines, formatLogLine(LogLine{Time: now, Stream: "stderr", Text: msgLogsMissing}))
	}
	if !wait && limit > 0 {
		lines = append(lines, formatLogLine(LogLine{Time: now, Stream: "stderr", Text: msgLogsDevError}))
	}
	c.result <- lines
}
