package wskcompat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// knownFailure is a wskdeploy integration test that fails against Brisk for
// a documented reason (docs/compatibility.md, "wskdeploy integration tests"):
// its output must contain one of signatures, so that a failure for another
// reason is still caught.
type knownFailure struct {
	reason     string
	signatures []string
}

// Signatures of the known failures. wskdeploy reports the first unsupported
// runtime it meets in map order, so a runtime failure has several forms.
var (
	sigNoAPIGateway = []string{"The requested resource does not exist."}
	sigNoRuntime    = []string{"Invalid or missing runtime", "is not supported", "has no kind set"}
)

// wskdeployKnownFailures lists the wskdeploy integration tests that are
// expected to fail, with the reason.
var wskdeployKnownFailures = map[string]knownFailure{
	"TestApiGateway":                 {"API Gateway (`apis:`) is not implemented", sigNoAPIGateway},
	"TestApiGatewayWithParams":       {"API Gateway (`apis:`) is not implemented", sigNoAPIGateway},
	"TestExportApi":                  {"API Gateway (`apis:`) is not implemented", sigNoAPIGateway},
	"TestRequireWhiskAuthAnnotation": {"API Gateway (`apis:`) is not implemented", sigNoAPIGateway},
	"TestCloudant":                   {"no /whisk.system/cloudant package", []string{"not authorized to access 'whisk.system/cloudant'"}},
	"TestHelloWorld":                 {"runtimes other than nodejs:20 and python:3.11", sigNoRuntime},
	"TestExplicitRuntimes":           {"runtimes other than nodejs:20 and python:3.11", sigNoRuntime},
	"TestJarAction":                  {"no java runtime", sigNoRuntime},
	"TestPackagesInManifest":         {"no java runtime", sigNoRuntime},
}

// hasAny reports whether s contains one of subs.
func hasAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// wskdeployTestEvent is one line of `go test -json`.
type wskdeployTestEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// TestWskdeployIntegration runs wskdeploy's own integration tests (module
// github.com/apache/openwhisk-wskdeploy at the version build.sh pins, build
// tag `integration`) against a Brisk standalone through
// wskdeploy/integration.sh, and checks each outcome against
// wskdeployKnownFailures: every other test must pass, every known failure
// must fail for its reason.
func TestWskdeployIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("runs wskdeploy's integration suite (about a minute once built); skipped with -short")
	}
	wskdeployBinary(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	t.Setenv("BRISK_INVOCATIONS_PER_MINUTE", "100000")
	t.Setenv("BRISK_FIRES_PER_MINUTE", "100000")
	t.Setenv("BRISK_CONCURRENT_INVOCATIONS", "100")
	srv := harness.Start(t)

	jsonOut := filepath.Join(t.TempDir(), "test.json")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("wskdeploy", "integration.sh"))
	cmd.Env = append(os.Environ(),
		"BRISK_APIHOST="+srv.APIHost, "BRISK_AUTH="+srv.Auth, "BRISK_NAMESPACE="+srv.Namespace,
		"WSKDEPLOY_IT_JSON="+jsonOut, "WSKDEPLOY_IT_TIMEOUT=5m", "WSKDEPLOY_IT_RUN=")
	if p := os.Getenv("WSKDEPLOY_BIN"); p == "" {
		abs, _ := filepath.Abs(filepath.Join("wskdeploy", "bin", "wskdeploy"))
		cmd.Env = append(cmd.Env, "WSKDEPLOY_BIN="+abs)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	runErr := cmd.Run()
	code := 0
	if ee, ok := runErr.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if runErr != nil && code != 1 {
		t.Fatalf("integration.sh: %v (exit %d); output:\n%s", runErr, code, tail(out.String(), 8000))
	}

	results, outputs, err := readWskdeployEvents(jsonOut)
	if err != nil {
		t.Fatalf("read the test results: %v; output:\n%s", err, tail(out.String(), 8000))
	}
	var names []string
	for name := range results {
		names = append(names, name)
	}
	sort.Strings(names)
	var table strings.Builder
	for _, name := range names {
		fmt.Fprintf(&table, "%-4s %s\n", results[name], name)
	}
	t.Logf("wskdeploy integration tests against %s:\n%s", srv.APIHost, table.String())
	if len(results) < 30 {
		t.Errorf("only %d tests reported a result, want the whole suite (about 38)", len(results))
	}

	for _, name := range names {
		known, isKnown := wskdeployKnownFailures[name]
		switch res := results[name]; {
		case res == "FAIL" && !isKnown:
			t.Errorf("%s failed:\n%s", name, tail(outputs[name], 6000))
		case res == "FAIL" && !hasAny(outputs[name], known.signatures):
			t.Errorf("%s failed, but not for the known reason (%s; none of %q in its output):\n%s", name, known.reason, known.signatures, tail(outputs[name], 6000))
		case res == "PASS" && isKnown:
			t.Errorf("%s passes now: remove it from wskdeployKnownFailures and the table in docs/compatibility.md", name)
		}
	}
	for name := range wskdeployKnownFailures {
		if _, ok := results[name]; !ok {
			t.Errorf("known failure %s did not run", name)
		}
	}
}

// readWskdeployEvents reads a `go test -json` stream: each test's result
// (PASS, FAIL, SKIP) and output.
func readWskdeployEvents(path string) (map[string]string, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	results, outputs := map[string]string{}, map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var ev wskdeployTestEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Test == "" {
			continue
		}
		switch ev.Action {
		case "output":
			outputs[ev.Test] += ev.Output
		case "pass", "fail", "skip":
			results[ev.Test] = strings.ToUpper(ev.Action)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return results, outputs, nil
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
