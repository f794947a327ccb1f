package harness

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"
)

// SuiteRun is one more run of the whole wsk-compat suite (`go test
// ./wsk-compat/...` from the repository root) against another server set-up,
// chosen through the environment (BRISK_STANDALONE_ARGS,
// BRISK_EXTERNAL_APIHOST, BRISK_BIN): the scenarios stay written once.
type SuiteRun struct {
	// Env is the whole environment of `go test`.
	Env []string
	// Timeout bounds the run.
	Timeout time.Duration
	// Verbose runs `go test -v` (the summary then names skipped tests).
	Verbose bool
	// Keep, when set, adds lines to the summary besides go test's result lines.
	Keep func(line []byte) bool
}

// SuiteResult is what a SuiteRun printed.
type SuiteResult struct {
	Output  []byte // everything, cut at 2 MB
	Summary []byte // go test's result lines (and those Keep chose)
	Took    time.Duration
	Err     error
}

// summaryLine matches go test's per-package and per-test result lines.
var summaryLine = regexp.MustCompile(`^(ok|FAIL|---|    ---|panic:)`)

// RunSuite runs the suite; it fails t only when the run cannot start.
func RunSuite(t testing.TB, r SuiteRun) SuiteResult {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	args := []string{"test", "-count=1", "-timeout", (r.Timeout - time.Minute).String()}
	if r.Verbose {
		args = append(args, "-v")
	}
	cmd := exec.CommandContext(ctx, goBin, append(args, "./wsk-compat/...")...)
	cmd.Dir = root
	cmd.Env = r.Env
	cmd.WaitDelay = 30 * time.Second
	began := time.Now()
	out, err := cmd.CombinedOutput()
	res := SuiteResult{Took: time.Since(began), Err: err}

	var summary bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if summaryLine.Match(sc.Bytes()) || (r.Keep != nil && r.Keep(sc.Bytes())) {
			summary.Write(sc.Bytes())
			summary.WriteByte('\n')
		}
	}
	const maxOut = 2 << 20
	if len(out) > maxOut {
		out = append(out[:maxOut:maxOut], "\n[output cut]\n"...)
	}
	res.Output, res.Summary = out, summary.Bytes()
	return res
}

// Check fails t with the whole output when the suite failed, and logs the
// summary otherwise; what names the set-up.
func (r SuiteResult) Check(t testing.TB, what string) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("wsk-compat %s (%s): %v\n%s\n--- summary ---\n%s", what, r.Took.Round(time.Second), r.Err, r.Output, r.Summary)
	}
	t.Logf("wsk-compat %s, %s:\n%s", what, r.Took.Round(time.Second), r.Summary)
}
