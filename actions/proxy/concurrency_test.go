package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/actions/proxy"
	"github.com/brisk-serverless/brisk/actions/proxy/logproto"
)

// logLine is one line of a captured stream.
type logLine struct {
	id     string // "" when untagged
	tagged bool
	text   string
}

// parseLog splits a stream into lines and separates the tags with
// logproto.Split, the invoker's parser, so what the launchers and the proxy
// write is checked against the one definition of the log protocol. A tag
// byte anywhere but at the start of a line is an error: the writers must
// start every tagged line on a line of its own.
func parseLog(t *testing.T, stream, data string) []logLine {
	t.Helper()
	if data != "" && !strings.HasSuffix(data, "\n") {
		t.Errorf("%s: last line unterminated: %q", stream, data)
	}
	var out []logLine
	for _, l := range strings.SplitAfter(data, "\n") {
		if l == "" {
			continue
		}
		l = strings.TrimSuffix(l, "\n")
		id, text, ok := logproto.Split(l)
		if !ok && strings.HasPrefix(l, string(logproto.TagStart)) {
			t.Errorf("%s: unterminated tag in %q", stream, l)
			continue
		}
		if strings.ContainsRune(text, logproto.TagStart) {
			t.Errorf("%s: a tag in the middle of line %q", stream, l)
		}
		out = append(out, logLine{id: id, tagged: ok, text: text})
	}
	return out
}

// streamWant is what one stream must hold.
type streamWant struct {
	// tagged lists, per activation id, the lines it must have written in
	// order (nil: any lines); each is followed by exactly one sentinel.
	tagged map[string][]string
	// untagged lists the untagged lines, in order.
	untagged []string
	// optional untagged lines may also appear anywhere.
	optional []string
}

// checkStream checks the tag contract on one stream: every tagged line
// belongs to a known activation and comes before its one sentinel; the
// untagged lines are exactly the expected ones.
func checkStream(t *testing.T, stream, data string, want streamWant) {
	t.Helper()
	got := map[string][]string{}
	ended := map[string]bool{}
	var untagged []string
	for _, l := range parseLog(t, stream, data) {
		if !l.tagged {
			if !slices.Contains(want.optional, l.text) {
				untagged = append(untagged, l.text)
			}
			continue
		}
		if _, ok := want.tagged[l.id]; !ok {
			t.Errorf("%s: line %q tagged with unknown activation %q", stream, l.text, l.id)
			continue
		}
		if ended[l.id] {
			t.Errorf("%s: line %q of %s after its sentinel", stream, l.text, l.id)
			continue
		}
		if l.text == logproto.Sentinel {
			ended[l.id] = true
			continue
		}
		got[l.id] = append(got[l.id], l.text)
	}
	for id, lines := range want.tagged {
		if !ended[id] {
			t.Errorf("%s: no sentinel for %s", stream, id)
		}
		if lines != nil && !slices.Equal(got[id], lines) {
			t.Errorf("%s: %s wrote %q, want %q", stream, id, got[id], lines)
		}
	}
	if !slices.Equal(untagged, want.untagged) {
		t.Errorf("%s: untagged lines %q, want %q", stream, untagged, want.untagged)
	}
	if t.Failed() {
		t.Logf("%s:\n%s", stream, strings.NewReplacer(string(logproto.TagStart), "<", string(logproto.TagEnd), ">").Replace(data))
	}
}

// waitLog waits until the proxy's stdout (or stderr) contains s.
func (h *harness) waitLog(stderr bool, s string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, errOut := h.logs()
		if stderr {
			out = errOut
		}
		if strings.Contains(out, s) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no %q in the logs after 10 s:\n%q", s, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitGone waits until process pid no longer exists.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("launcher process %d still running after 10 s", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runResult is the outcome of a /run started with goRun.
type runResult struct {
	status int
	body   []byte
	err    error
}

// goRun starts a /run for activation id and returns where its result goes.
func (h *harness) goRun(ctx context.Context, id string, value any) <-chan runResult {
	done := make(chan runResult, 1)
	go func() {
		data, _ := json.Marshal(map[string]any{"value": value, "activation_id": id})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"/run", bytes.NewReader(data))
		if err != nil {
			done <- runResult{err: err}
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- runResult{err: err}
			return
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, err = buf.ReadFrom(resp.Body)
		done <- runResult{status: resp.StatusCode, body: buf.Bytes(), err: err}
	}()
	return done
}

// await returns a run's result, failing the test after 20 s.
func await(t *testing.T, ch <-chan runResult) runResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("a run did not end within 20 s")
		return runResult{}
	}
}

// TestNodeConcurrentRunsAreTagged sends five overlapping runs to one proxy:
// each waits until all five have arrived, so {"max":5} proves they ran at
// once; every line they wrote is tagged with its own activation and comes
// before its sentinel; module-level output and runs without a usable id stay
// untagged. The streams are parsed with logproto, the invoker's parser, and
// which ids tag is decided by logproto.ValidTag, so the launcher is checked
// against the one definition of the log protocol.
func TestNodeConcurrentRunsAreTagged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	h.mustInit("nodejs/barrier.js", "main")
	ids := []string{"act-0", "act-1", "act ü/2", "act:3~", "4"}
	n := len(ids)
	var wg sync.WaitGroup
	results := make([]runResult, n)
	for i, id := range ids {
		if !logproto.ValidTag(id) {
			t.Fatalf("%q is not a valid tag", id)
		}
		wg.Go(func() {
			st, body, err := h.runAs(id, map[string]any{"name": id, "n": n})
			results[i] = runResult{st, body, err}
		})
	}
	wg.Wait()
	outWant := streamWant{tagged: map[string][]string{}, untagged: []string{"module loaded", "no newline yet"}}
	errWant := streamWant{tagged: map[string][]string{}, untagged: []string{"module loaded on stderr"}}
	for i, r := range results {
		id := ids[i]
		if r.err != nil {
			t.Fatalf("%s: %v", id, r.err)
		}
		expect(t, r.status, r.body, 200, fmt.Sprintf(`{"max":%d}`, n))
		outWant.tagged[id] = []string{"start " + id, "partial " + id + " done", "line one", "line two " + id}
		errWant.tagged[id] = []string{"after barrier " + id, "unfinished " + id}
	}

	// A run without an activation id, or with one that cannot be a tag, is
	// not tagged.
	for i, id := range []string{"", "bad\nid", "tab\tid", "\x1f"} {
		if logproto.ValidTag(id) {
			t.Fatalf("%q is a valid tag", id)
		}
		name := fmt.Sprintf("anon%d", i)
		st, body, err := h.runAs(id, map[string]any{"name": name, "n": 1})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, st, body, 200, fmt.Sprintf(`{"max":%d}`, n+1+i))
		outWant.untagged = append(outWant.untagged, "start "+name, "partial "+name+" done", "line one", "line two "+name, logproto.Sentinel)
		errWant.untagged = append(errWant.untagged, "after barrier "+name, "unfinished "+name, logproto.Sentinel)
	}

	stdout, stderr := h.logs()
	checkStream(t, "stdout", stdout, outWant)
	checkStream(t, "stderr", stderr, errWant)
}

// TestNodeLauncherExitFailsEveryRun: a launcher that dies fails all the
// runs in flight on it, each with its sentinel after its (flushed) lines.
func TestNodeLauncherExitFailsEveryRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	h.mustInit("nodejs/barrier.js", "main")
	a := h.goRun(context.Background(), "A", map[string]any{"name": "A", "n": 3})
	b := h.goRun(context.Background(), "B", map[string]any{"name": "B", "n": 3})
	h.waitLog(false, tagged("A", "start A"))
	h.waitLog(false, tagged("B", "start B"))
	c := h.goRun(context.Background(), "C", map[string]any{"name": "C", "exit": true})
	for name, ch := range map[string]<-chan runResult{"A": a, "B": b, "C": c} {
		r := await(t, ch)
		if r.err != nil || r.status != http.StatusBadGateway || !strings.Contains(string(r.body), "exited unexpectedly") {
			t.Errorf("run %s: %d %s %v, want 502 exited unexpectedly", name, r.status, r.body, r.err)
		}
	}
	st, body, err := h.runAs("D", map[string]any{"name": "D", "n": 1})
	if err != nil || st != http.StatusBadGateway || !strings.Contains(string(body), "can no longer run") {
		t.Errorf("run after the launcher died: %d %s %v", st, body, err)
	}
	stdout, stderr := h.logs()
	checkStream(t, "stdout", stdout, streamWant{
		tagged: map[string][]string{
			"A": {"start A", "partial A"}, "B": {"start B", "partial B"}, "C": {"exiting C"}, "D": {},
		},
		untagged: []string{"module loaded", "no newline yet"},
	})
	// Each failed run's log says why (upstream's result does not).
	exited := "The action process exited during the run: the action process exited unexpectedly (exit status 3)"
	checkStream(t, "stderr", stderr, streamWant{
		tagged:   map[string][]string{"A": {exited}, "B": {exited}, "C": {exited}, "D": {}},
		untagged: []string{"module loaded on stderr"},
	})
}

// startedPID waits for activation id of release.js to start and returns
// the launcher's pid it printed.
func (h *harness) startedPID(id string) int {
	h.t.Helper()
	prefix := tagged(id, "started "+id+" ")
	prefix = prefix[:len(prefix)-1]
	h.waitLog(false, prefix)
	stdout, _ := h.logs()
	rest := stdout[strings.Index(stdout, prefix)+len(prefix):]
	var pid int
	if _, err := fmt.Sscanf(rest, "%d", &pid); err != nil {
		h.t.Fatalf("no pid after %q: %v", prefix, err)
	}
	return pid
}

// TestNodeCancelWithSiblingInFlight cancels one of two overlapping runs:
// the container refuses new runs at once, the sibling still gets its real
// result, and the launcher is gone afterwards. The cancelled activation's
// logs end (partial line flushed, tagged sentinel) when it is cancelled;
// what it writes later is untagged.
func TestNodeCancelWithSiblingInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	h.mustInit("nodejs/release.js", "main")
	release := filepath.Join(t.TempDir(), "release")
	ctx, cancel := context.WithCancel(context.Background())
	a := h.goRun(ctx, "A", map[string]any{"name": "A", "release": release})
	b := h.goRun(context.Background(), "B", map[string]any{"name": "B", "release": release})
	pid := h.startedPID("A")
	h.startedPID("B")

	cancel()
	if r := await(t, a); !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled run: %d %s %v", r.status, r.body, r.err)
	}
	h.waitLog(false, tagged("A", logproto.Sentinel))
	h.waitLog(true, tagged("A", logproto.Sentinel))

	st, body, err := h.runAs("C", map[string]any{"name": "C", "release": release})
	if err != nil || st != http.StatusBadGateway || !strings.Contains(string(body), "can no longer run") {
		t.Errorf("run after a cancel: %d %s %v, want 502 can no longer run", st, body, err)
	}

	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := await(t, b)
	if r.err != nil {
		t.Fatal(r.err)
	}
	expect(t, r.status, r.body, 200, fmt.Sprintf(`{"name":"B","pid":%d}`, pid))
	waitGone(t, pid)

	stdout, stderr := h.logs()
	started := func(id string) string { return fmt.Sprintf("started %s %d", id, pid) }
	checkStream(t, "stdout", stdout, streamWant{
		tagged: map[string][]string{
			"A": {started("A"), "pending A"}, "B": {started("B"), "pending B released"}, "C": {},
		},
		optional: []string{" released"}, // A, if it got that far before the launcher was killed
	})
	checkStream(t, "stderr", stderr, streamWant{
		tagged:   map[string][]string{"A": {}, "B": {"bye B"}, "C": {}},
		optional: []string{"bye A"},
	})
}

// TestNodeCancelAloneKillsLauncher: a cancelled run with nothing else in
// flight kills the launcher at once.
func TestNodeCancelAloneKillsLauncher(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	h.mustInit("nodejs/release.js", "main")
	release := filepath.Join(t.TempDir(), "release")
	ctx, cancel := context.WithCancel(context.Background())
	a := h.goRun(ctx, "A", map[string]any{"name": "A", "release": release})
	pid := h.startedPID("A")
	cancel()
	if r := await(t, a); !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled run: %d %s %v", r.status, r.body, r.err)
	}
	waitGone(t, pid)
	h.waitLog(false, tagged("A", logproto.Sentinel))
	h.waitLog(true, tagged("A", logproto.Sentinel))
	st, body, err := h.runAs("B", map[string]any{"name": "B", "release": release})
	if err != nil || st != http.StatusBadGateway || !strings.Contains(string(body), "can no longer run") {
		t.Errorf("run after a cancel: %d %s %v, want 502 can no longer run", st, body, err)
	}
	stdout, stderr := h.logs()
	checkStream(t, "stdout", stdout, streamWant{tagged: map[string][]string{
		"A": {fmt.Sprintf("started A %d", pid)}, "B": {}, // the partial line dies with the process
	}})
	checkStream(t, "stderr", stderr, streamWant{tagged: map[string][]string{"A": {}, "B": {}}})
}

// TestNodeFatalWithSiblingsInFlight: an activation that throws
// synchronously stops the container, but the runs in flight finish first.
func TestNodeFatalWithSiblingsInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	h.mustInit("nodejs/release.js", "main")
	release := filepath.Join(t.TempDir(), "release")
	a := h.goRun(context.Background(), "A", map[string]any{"name": "A", "release": release})
	b := h.goRun(context.Background(), "B", map[string]any{"name": "B", "release": release})
	pid := h.startedPID("A")
	h.startedPID("B")
	st, body, err := h.runAs("C", map[string]any{"throw": true})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, st, body, 502, `{"error":"An error has occurred: Error: boom"}`)
	st, body, err = h.runAs("D", map[string]any{"name": "D", "release": release})
	if err != nil || st != http.StatusBadGateway || !strings.Contains(string(body), "can no longer run") {
		t.Errorf("run after a fatal error: %d %s %v", st, body, err)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan runResult{"A": a, "B": b} {
		r := await(t, ch)
		if r.err != nil {
			t.Fatal(r.err)
		}
		expect(t, r.status, r.body, 200, fmt.Sprintf(`{"name":%q,"pid":%d}`, name, pid))
	}
	waitGone(t, pid)
	stdout, stderr := h.logs()
	started := func(id string) string { return fmt.Sprintf("started %s %d", id, pid) }
	checkStream(t, "stdout", stdout, streamWant{tagged: map[string][]string{
		"A": {started("A"), "pending A released"}, "B": {started("B"), "pending B released"}, "C": {}, "D": {},
	}})
	checkStream(t, "stderr", stderr, streamWant{tagged: map[string][]string{
		"A": {"bye A"}, "B": {"bye B"}, "C": nil, "D": {}, // C: the exception's stack
	}})
	if !strings.Contains(stderr, tagged("C", "Error: boom")) {
		t.Errorf("stderr lacks C's exception, tagged: %q", stderr)
	}
}

// TestNodeTooManyConcurrentRuns: beyond the bound /run answers 429 (never
// 503), and the bound frees up as runs end.
func TestNodeTooManyConcurrentRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind, func(c *proxy.Config) { c.MaxConcurrentRuns = 2 })
	h.mustInit("nodejs/release.js", "main")
	release := filepath.Join(t.TempDir(), "release")
	a := h.goRun(context.Background(), "A", map[string]any{"name": "A", "release": release})
	b := h.goRun(context.Background(), "B", map[string]any{"name": "B", "release": release})
	h.startedPID("A")
	h.startedPID("B")
	st, body, err := h.runAs("C", map[string]any{"name": "C", "release": release})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, st, body, 429, `{"error":"Too many concurrent activations in this container (limit 2)."}`)
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan runResult{a, b} {
		if r := await(t, ch); r.err != nil || r.status != 200 {
			t.Errorf("run: %d %s %v", r.status, r.body, r.err)
		}
	}
	st, body, err = h.runAs("D", map[string]any{"name": "D", "release": release})
	if err != nil || st != 200 {
		t.Errorf("run after the others ended: %d %s %v", st, body, err)
	}
	stdout, _ := h.logs()
	checkStream(t, "stdout", stdout, streamWant{tagged: map[string][]string{"A": nil, "B": nil, "C": {}, "D": nil}})
}

// TestBlackboxConcurrentRuns runs five overlapping blackbox activations:
// each waits until all five have started, and its stdout log lines and
// stderr lines are tagged with its id, before its sentinel.
func TestBlackboxConcurrentRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "blackbox")
	script, err := os.ReadFile("testdata/blackbox/barrier.sh")
	if err != nil {
		t.Fatal(err)
	}
	st, body := h.initValue(map[string]any{"main": "main", "code": string(script),
		"env": map[string]any{"BARRIER_DIR": t.TempDir()}})
	expect(t, st, body, 200, `{"ok":true}`)
	const n = 5
	var wg sync.WaitGroup
	results := make([]runResult, n)
	for i := range n {
		wg.Go(func() {
			st, body, err := h.runAs(fmt.Sprintf("bb-%d", i), map[string]any{})
			results[i] = runResult{st, body, err}
		})
	}
	wg.Wait()
	outWant := streamWant{tagged: map[string][]string{}}
	errWant := streamWant{tagged: map[string][]string{}}
	for i, r := range results {
		id := fmt.Sprintf("bb-%d", i)
		if r.err != nil {
			t.Fatal(r.err)
		}
		expect(t, r.status, r.body, 200, `{"max":5}`)
		outWant.tagged[id] = []string{"start " + id, "out " + id}
		errWant.tagged[id] = []string{"err " + id, "partial " + id}
	}
	stdout, stderr := h.logs()
	checkStream(t, "stdout", stdout, outWant)
	checkStream(t, "stderr", stderr, errWant)
}

// TestPythonOverlappingRunsAreSerialized sends a second run while the first
// is still running (the proxy's 429 at a bound of 2 proves both are in): the
// second starts only after the first has ended, and both are correct. The
// user's lines are untagged, the sentinels tagged.
func TestPythonOverlappingRunsAreSerialized(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pythonKind, func(c *proxy.Config) { c.MaxConcurrentRuns = 2 })
	h.mustInit("python/steps.py", "main")
	release := filepath.Join(t.TempDir(), "release")
	a := h.goRun(context.Background(), "A", map[string]any{"name": "A", "release": release})
	h.waitLog(false, "start A\n")
	b := make(chan runResult, 1)
	var bID string // the id of B's accepted attempt; set before b is sent on
	go func() {
		for i := 0; ; i++ {
			// A probe below may hold the second slot for a moment: retry
			// (each attempt has its own id, the refused ones are ignored).
			id := fmt.Sprintf("B%d", i)
			r := <-h.goRun(context.Background(), id, map[string]any{"name": "B", "release": release})
			if r.err != nil || r.status != http.StatusTooManyRequests {
				bID = id
				b <- r
				return
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// A probe that is refused at once, unless the bound refuses it first.
		st, _, err := postJSON(h.url+"/run", `{"value":"not an object","activation_id":"probe"}`)
		if err != nil {
			t.Fatal(err)
		}
		if st == http.StatusTooManyRequests {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second run never reached the proxy")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan runResult{"A": a, "B": b} {
		r := await(t, ch)
		if r.err != nil {
			t.Fatal(r.err)
		}
		expect(t, r.status, r.body, 200, fmt.Sprintf(`{"name":%q}`, name))
	}
	stdout, stderr := h.logs()
	sequence := func(stream, data string) []string {
		var out []string
		for _, l := range parseLog(t, stream, data) {
			switch {
			case l.id == "probe", strings.HasPrefix(l.id, "B") && l.id != bID: // refused requests
			case l.id == bID:
				out = append(out, "B: "+l.text)
			case l.tagged:
				out = append(out, l.id+": "+l.text)
			default:
				out = append(out, l.text)
			}
		}
		return out
	}
	s := logproto.Sentinel
	if got, want := sequence("stdout", stdout), []string{"start A", "end A", "A: " + s, "start B", "end B", "B: " + s}; !slices.Equal(got, want) {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got, want := sequence("stderr", stderr), []string{"end A", "A: " + s, "end B", "B: " + s}; !slices.Equal(got, want) {
		t.Errorf("stderr %q, want %q", got, want)
	}
}
