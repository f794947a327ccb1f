package invoker

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/actions/proxy/logproto"
)

var logT0 = time.Date(2024, 1, 2, 3, 4, 5, 6789, time.UTC)

func line(stream, text string, i int) LogLine {
	return LogLine{Time: logT0.Add(time.Duration(i) * time.Millisecond), Stream: stream, Text: text}
}

func sentinels(ch chan<- LogLine) {
	ch <- LogLine{Time: logT0, Stream: "stdout", Text: logproto.Sentinel}
	ch <- LogLine{Time: logT0, Stream: "stderr", Text: logproto.Sentinel}
}

// finishAsync calls finish (with that idle timeout) in the background and returns how to get its
// lines and how long it took.
func finishAsync(c *logCollector, waitSentinels bool, idle time.Duration) func(t *testing.T, within time.Duration) ([]string, time.Duration) {
	type res struct {
		lines []string
		took  time.Duration
	}
	done := make(chan res, 1)
	start := time.Now()
	go func() {
		l := c.finish(waitSentinels, idle)
		done <- res{l, time.Since(start)}
	}()
	return func(t *testing.T, within time.Duration) ([]string, time.Duration) {
		t.Helper()
		select {
		case r := <-done:
			return r.lines, r.took
		case <-time.After(within):
			t.Fatalf("finish did not return within %v", within)
			return nil, 0
		}
	}
}

// waitClosed waits (at most 5 s) until ch is closed.
func waitClosed(t *testing.T, ch <-chan struct{}, failure string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s within 5 s", failure)
	}
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if got == nil {
		t.Errorf("lines are nil, want a non-nil slice (stored as [])")
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines\n got %q\nwant %q", got, want)
	}
}

// stamped checks a collector-generated line: "<now> stderr: <text>".
func stamped(t *testing.T, got, text string, notBefore time.Time) {
	t.Helper()
	ts, rest, ok := strings.Cut(got, " ")
	if !ok || rest != "stderr: "+text {
		t.Errorf("line %q, want <time> stderr: %s", got, text)
		return
	}
	at, err := time.Parse("2006-01-02T15:04:05.000000000Z", ts)
	if err != nil || len(ts) != 30 {
		t.Errorf("time %q of %q: %v", ts, got, err)
		return
	}
	if at.Before(notBefore.Add(-time.Millisecond)) || at.After(time.Now()) {
		t.Errorf("time %v of %q is not the collection time", at, got)
	}
}

func TestFormatLogLine(t *testing.T) {
	tests := []struct {
		l    LogLine
		want string
	}{
		{LogLine{Time: logT0, Stream: "stdout", Text: "hello"}, "2024-01-02T03:04:05.000006789Z stdout: hello"},
		{LogLine{Time: time.Date(2024, 1, 1, 0, 0, 0, 123456789, time.UTC), Stream: "stderr", Text: "oops"},
			"2024-01-01T00:00:00.123456789Z stderr: oops"},
		// Whole seconds keep all nine digits, and the time is printed in UTC.
		{LogLine{Time: time.Date(2024, 6, 1, 2, 0, 0, 0, time.FixedZone("CEST", 2*3600)), Stream: "stdout", Text: ""},
			"2024-06-01T00:00:00.000000000Z stdout: "},
		{LogLine{Time: logT0, Stream: "stdout", Text: "  indented\ttab"}, "2024-01-02T03:04:05.000006789Z stdout:   indented\ttab"},
	}
	for _, tt := range tests {
		if got := formatLogLine(tt.l); got != tt.want {
			t.Errorf("formatLogLine(%+v) = %q, want %q", tt.l, got, tt.want)
		}
	}
}

func TestLogCollectorSentinels(t *testing.T) {
	idle := 5 * time.Second
	// Unbuffered: every send below proves the collector reads while the
	// activation runs, before finish.
	ch := make(chan LogLine)
	c := startLogCollector(ch, 10<<20)
	ch <- line("stdout", "first", 0)
	ch <- line("stderr", "second", 1)
	for i := range 50 {
		ch <- line("stdout", fmt.Sprintf("n%d", i), 2)
	}
	get := finishAsync(c, true, idle)
	// The sentinels arrive after the run returned, as they do from a proxy.
	waitClosed(t, c.finishing, "finish was not called")
	ch <- line("stdout", "third", 3)
	sentinels(ch)
	lines, took := get(t, 3*time.Second)
	if took > time.Second {
		t.Errorf("finish took %v; both sentinels should end collection at once", took)
	}
	want := []string{
		"2024-01-02T03:04:05.000006789Z stdout: first",
		"2024-01-02T03:04:05.001006789Z stderr: second",
	}
	for i := range 50 {
		want = append(want, fmt.Sprintf("2024-01-02T03:04:05.002006789Z stdout: n%d", i))
	}
	want = append(want, "2024-01-02T03:04:05.003006789Z stdout: third")
	wantLines(t, lines, want...)
	// Collection has ended, but the container's output is still read (and
	// dropped while no activation is attached), so it never blocks.
	select {
	case ch <- line("stdout", "between activations", 9):
	case <-time.After(2 * time.Second):
		t.Error("nobody reads the container's output after the activation ended")
	}
}

func TestLogCollectorSentinelsBeforeFinish(t *testing.T) {
	idle := 5 * time.Second
	ch := make(chan LogLine, 8)
	c := startLogCollector(ch, 1<<20)
	ch <- line("stderr", "only line", 0)
	sentinels(ch)
	waitClosed(t, c.done, "the collector did not see both sentinels")
	lines, took := finishAsync(c, true, idle)(t, 3*time.Second)
	if took > time.Second {
		t.Errorf("finish took %v although both sentinels were already read", took)
	}
	wantLines(t, lines, "2024-01-02T03:04:05.000006789Z stderr: only line")
}

func TestLogCollectorLimit(t *testing.T) {
	idle := 5 * time.Second
	ch := make(chan LogLine, 16)
	c := startLogCollector(ch, 20)
	ch <- line("stdout", "0123456789", 0)
	ch <- line("stderr", "abcdefghij", 1) // exactly at the limit
	ch <- line("stdout", "overflow", 2)
	ch <- line("stdout", "x", 3) // would fit by itself, but truncation is final
	sentinels(ch)
	start := time.Now()
	lines, _ := finishAsync(c, true, idle)(t, 3*time.Second)
	if len(lines) != 3 {
		t.Fatalf("lines %q, want 2 lines and the truncation notice", lines)
	}
	wantLines(t, lines[:2],
		"2024-01-02T03:04:05.000006789Z stdout: 0123456789",
		"2024-01-02T03:04:05.001006789Z stderr: abcdefghij")
	stamped(t, lines[2], "Logs were truncated because the total bytes size exceeds the limit of 20 bytes.", start)
}

func TestLogCollectorDroppedMarker(t *testing.T) {
	idle := 5 * time.Second
	ch := make(chan LogLine, 16)
	c := startLogCollector(ch, 1<<20)
	ch <- line("stdout", "kept", 0)
	ch <- LogLine{Time: logT0, Stream: "stdout", Text: "[12 lines dropped]", Dropped: true}
	ch <- line("stdout", "after the gap", 1)
	sentinels(ch)
	start := time.Now()
	lines, _ := finishAsync(c, true, idle)(t, 3*time.Second)
	if len(lines) != 2 {
		t.Fatalf("lines %q, want the kept line and the truncation notice", lines)
	}
	wantLines(t, lines[:1], "2024-01-02T03:04:05.000006789Z stdout: kept")
	stamped(t, lines[1], fmt.Sprintf("Logs were truncated because the total bytes size exceeds the limit of %d bytes.", 1<<20), start)
}

func TestLogCollectorMissingSentinel(t *testing.T) {
	const idle = 150 * time.Millisecond
	ch := make(chan LogLine, 16)
	c := startLogCollector(ch, 1<<20)
	ch <- line("stdout", "before", 0)
	ch <- LogLine{Time: logT0, Stream: "stdout", Text: logproto.Sentinel} // stderr's never comes
	start := time.Now()
	get := finishAsync(c, true, idle)
	// Lines keep arriving for longer than the idle timeout: each resets it.
	// (Their spacing in time is what this test is about.)
	for i := range 4 {
		time.Sleep(idle / 2)
		ch <- line("stderr", fmt.Sprintf("late %d", i), i+1)
	}
	lines, took := get(t, 5*time.Second)
	if took < 2*idle+idle/2 || took > 2*time.Second {
		t.Errorf("finish took %v; want the idle timeout (%v) after the last line", took, idle)
	}
	if len(lines) != 6 {
		t.Fatalf("lines %q, want 5 lines and the missing-logs notice", lines)
	}
	wantLines(t, lines[:5],
		"2024-01-02T03:04:05.000006789Z stdout: before",
		"2024-01-02T03:04:05.001006789Z stderr: late 0",
		"2024-01-02T03:04:05.002006789Z stderr: late 1",
		"2024-01-02T03:04:05.003006789Z stderr: late 2",
		"2024-01-02T03:04:05.004006789Z stderr: late 3")
	stamped(t, lines[5], "There was an issue while collecting your logs. Data might be missing.", start)
}

func TestLogCollectorDeveloperError(t *testing.T) {
	idle := 5 * time.Second
	ch := make(chan LogLine, 16)
	c := startLogCollector(ch, 1<<20)
	ch <- line("stderr", "Error: crashed", 0)
	// No sentinels: a developer error does not wait for them.
	start := time.Now()
	lines, took := finishAsync(c, false, idle)(t, 3*time.Second)
	if took > time.Second {
		t.Errorf("finish(false) took %v; it must not wait for sentinels", took)
	}
	if len(lines) != 2 {
		t.Fatalf("lines %q, want the action's line and the developer-error notice", lines)
	}
	wantLines(t, lines[:1], "2024-01-02T03:04:05.000006789Z stderr: Error: crashed")
	stamped(t, lines[1], "The action did not initialize or run as expected. Log data might be missing.", start)

	// With the sentinels present the notice is still appended, once.
	ch2 := make(chan LogLine, 16)
	c2 := startLogCollector(ch2, 1<<20)
	ch2 <- line("stdout", "out", 0)
	sentinels(ch2)
	lines, _ = finishAsync(c2, false, idle)(t, 3*time.Second)
	if len(lines) != 2 || lines[0] != "2024-01-02T03:04:05.000006789Z stdout: out" {
		t.Fatalf("lines %q", lines)
	}
	stamped(t, lines[1], "The action did not initialize or run as expected. Log data might be missing.", start)
}

func TestLogCollectorLimitZero(t *testing.T) {
	idle := 5 * time.Second
	for _, waitSentinels := range []bool{true, false} {
		ch := make(chan LogLine, 16)
		c := startLogCollector(ch, 0)
		ch <- line("stdout", "not collected", 0)
		ch <- line("stderr", "neither", 1)
		sentinels(ch)
		lines, _ := finishAsync(c, waitSentinels, idle)(t, 3*time.Second)
		wantLines(t, lines)
	}
}

// TestLogCollectorLimitZeroWithoutSentinels: with a log limit of 0 nothing is
// collected and no notice is added, even when the sentinels never come
// (Brisk still consumes them when they do, so that the next activation on the
// container starts clean).
func TestLogCollectorLimitZeroWithoutSentinels(t *testing.T) {
	idle := 200 * time.Millisecond
	ch := make(chan LogLine, 16)
	c := startLogCollector(ch, 0)
	ch <- line("stdout", "not collected", 0)
	lines, _ := finishAsync(c, true, idle)(t, 3*time.Second)
	wantLines(t, lines)
}

func TestLogCollectorClosedChannel(t *testing.T) {
	idle := 5 * time.Second
	// Closed before finish.
	ch := make(chan LogLine, 16)
	c := startLogCollector(ch, 1<<20)
	ch <- line("stdout", "last words", 0)
	close(ch)
	waitClosed(t, c.done, "the collector did not see its channel close")
	lines, took := finishAsync(c, true, idle)(t, 3*time.Second)
	if took > time.Second {
		t.Errorf("finish took %v on a closed channel", took)
	}
	if len(lines) == 0 || lines[0] != "2024-01-02T03:04:05.000006789Z stdout: last words" {
		t.Errorf("lines %q", lines)
	}

	// Closed while finish waits for the sentinels.
	ch2 := make(chan LogLine, 16)
	c2 := startLogCollector(ch2, 1<<20)
	get := finishAsync(c2, true, idle)
	waitClosed(t, c2.finishing, "finish was not called")
	ch2 <- line("stderr", "dying", 1)
	close(ch2)
	lines, took = get(t, 3*time.Second)
	if took > time.Second {
		t.Errorf("finish took %v; a closed channel must end the wait", took)
	}
	if len(lines) == 0 || lines[0] != "2024-01-02T03:04:05.001006789Z stderr: dying" {
		t.Errorf("lines %q", lines)
	}
}

func tagged(id, stream, text string, i int) LogLine {
	return line(stream, strings.TrimSuffix(logproto.Line(id, text), "\n"), i)
}

// TestLogRouterAttributesLines: activations sharing a container each get
// their own tagged lines and sentinels; untagged lines go to every
// activation running at the time; lines of nobody running are dropped.
func TestLogRouterAttributesLines(t *testing.T) {
	idle := 5 * time.Second
	ch := make(chan LogLine)
	r := newLogRouter(ch)
	ch <- line("stdout", "before anybody runs", 0)
	a := r.attach("aaa", 1<<20)
	b := r.attach("bbb", 1<<20)
	ch <- tagged("aaa", "stdout", "a one", 1)
	ch <- tagged("bbb", "stdout", "b one", 2)
	ch <- line("stderr", "untagged", 3)
	ch <- tagged("bbb", "stderr", "b two", 4)
	ch <- tagged("ccc", "stdout", "nobody's", 5)
	ch <- tagged("aaa", "stdout", logproto.Sentinel, 6)
	ch <- tagged("aaa", "stderr", logproto.Sentinel, 7)
	// a is complete although b still runs.
	lines, took := finishAsync(a, true, idle)(t, 3*time.Second)
	if took > time.Second {
		t.Errorf("finish took %v; a's own sentinels should end its collection", took)
	}
	wantLines(t, lines,
		"2024-01-02T03:04:05.001006789Z stdout: a one",
		"2024-01-02T03:04:05.003006789Z stderr: untagged")
	ch <- tagged("aaa", "stdout", "a after its end", 8)
	ch <- tagged("bbb", "stdout", "b three", 9)
	get := finishAsync(b, true, idle)
	ch <- tagged("bbb", "stderr", logproto.Sentinel, 10)
	ch <- tagged("bbb", "stdout", logproto.Sentinel, 11)
	lines, _ = get(t, 3*time.Second)
	wantLines(t, lines,
		"2024-01-02T03:04:05.002006789Z stdout: b one",
		"2024-01-02T03:04:05.003006789Z stderr: untagged",
		"2024-01-02T03:04:05.004006789Z stderr: b two",
		"2024-01-02T03:04:05.009006789Z stdout: b three")
	close(ch)
}
