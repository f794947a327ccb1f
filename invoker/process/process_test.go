package process_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/actions/proxy/logproto"
	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/process"
)

// proxyBin is the proxy test program TestMain builds.
var proxyBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "brisk-process-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	goBin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "go tool not found:", err)
		return 1
	}
	proxyBin = filepath.Join(dir, "proxymain")
	build := exec.Command(goBin, "build", "-o", proxyBin, "./testdata/proxymain")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build proxy test program:", err)
		return 1
	}
	return m.Run()
}

func requireBin(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not on PATH (make test-deps installs the runtimes: apt-get install nodejs python3): %v", name, err)
	}
}

func newFactory(t *testing.T, workDir string, mutate ...func(*process.Config)) *process.Factory {
	t.Helper()
	cfg := process.Config{ProxyCommand: []string{proxyBin}, WorkDir: workDir}
	for _, m := range mutate {
		m(&cfg)
	}
	f, err := process.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func create(t *testing.T, f *process.Factory, name, kind string, env map[string]string) *process.Container {
	t.Helper()
	c, err := f.Create(context.Background(), invoker.ContainerSpec{Name: name, Kind: kind, MemoryMB: 256, Env: env})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	pc := c.(*process.Container)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := pc.Destroy(ctx); err != nil {
			t.Errorf("Destroy in cleanup: %v", err)
		}
	})
	return pc
}

// post sends a JSON body to the container, retrying while the proxy is not
// listening yet (as the invoker does for /init).
func post(t *testing.T, addr, path string, body any) (int, []byte, error) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Post("http://"+addr+path, "application/json", bytes.NewReader(data))
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			return 0, nil, err
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, out, err
	}
}

func initAction(t *testing.T, c *process.Container, code string) {
	t.Helper()
	status, body, err := post(t, c.Addr(), "/init", map[string]any{"value": map[string]any{"name": "t", "main": "main", "code": code}})
	if err != nil || status != http.StatusOK {
		t.Fatalf("init: %d %s %v", status, body, err)
	}
}

// collect reads log lines until both streams have delivered a sentinel.
func collect(t *testing.T, logs <-chan invoker.LogLine) []invoker.LogLine {
	t.Helper()
	var lines []invoker.LogLine
	seen := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for !seen["stdout"] || !seen["stderr"] {
		select {
		case l, ok := <-logs:
			if !ok {
				t.Fatalf("logs closed early after %v", lines)
			}
			_, l.Text, _ = logproto.Split(l.Text)
			lines = append(lines, l)
			if l.Text == logproto.Sentinel {
				seen[l.Stream] = true
			}
		case <-timeout:
			t.Fatalf("no sentinels on both streams; got %v", lines)
		}
	}
	return lines
}

// streamTexts returns the texts of one stream's lines.
func streamTexts(lines []invoker.LogLine, stream string) []string {
	var out []string
	for _, l := range lines {
		if l.Stream == stream {
			out = append(out, l.Text)
		}
	}
	return out
}

// waitClosed drains logs until the channel is closed.
func waitClosed(t *testing.T, logs <-chan invoker.LogLine, within time.Duration) []invoker.LogLine {
	t.Helper()
	var rest []invoker.LogLine
	timeout := time.After(within)
	for {
		select {
		case l, ok := <-logs:
			if !ok {
				return rest
			}
			rest = append(rest, l)
		case <-timeout:
			t.Fatalf("logs channel not closed within %v", within)
		}
	}
}

// groupMembers lists the live (non-zombie) processes in process group pgid.
func groupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var members []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
			continue
		}
		if fields[2] == strconv.Itoa(pgid) {
			comm := string(stat[bytes.IndexByte(stat, '(')+1 : i])
			members = append(members, fmt.Sprintf("%d(%s)", pid, comm))
		}
	}
	return members
}

func waitNoMembers(t *testing.T, pgid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		m := groupMembers(t, pgid)
		if len(m) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has %v", pgid, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const nodeEnvAction = `
const os = require('os');
function main(params) {
  console.log('stdout says ' + params.name);
  console.error('stderr says ' + params.name);
  return {
    apiHost: process.env.__OW_API_HOST || null,
    leaked: process.env.BRISK_TEST_LEAK || null,
    tmp: os.tmpdir(),
    activation: process.env.__OW_ACTIVATION_ID,
  };
}
`

func TestNodeContainerRunAndLogs(t *testing.T) {
	requireBin(t, "node")
	t.Setenv("BRISK_TEST_LEAK", "secret")
	workDir := t.TempDir()
	f := newFactory(t, workDir)
	c := create(t, f, "wsk0_1_guest_hello", "nodejs:20", map[string]string{"__OW_API_HOST": "http://api.example"})
	if c.ID() != "wsk0_1_guest_hello" || !strings.HasPrefix(c.Addr(), "127.0.0.1:") {
		t.Errorf("ID %q Addr %q", c.ID(), c.Addr())
	}
	initAction(t, c, nodeEnvAction)
	before := time.Now()
	status, body, err := post(t, c.Addr(), "/run", map[string]any{"value": map[string]any{"name": "Ada"}, "activation_id": "a1"})
	if err != nil || status != http.StatusOK {
		t.Fatalf("run: %d %s %v", status, body, err)
	}
	var res struct {
		APIHost, Tmp, Activation string
		Leaked                   *string
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.APIHost != "http://api.example" || res.Leaked != nil || res.Activation != "a1" {
		t.Errorf("environment seen by the action: %s", body)
	}
	if !strings.HasPrefix(res.Tmp, filepath.Join(workDir, "containers")) {
		t.Errorf("action temp dir %q is not the container's own", res.Tmp)
	}

	lines := collect(t, c.Logs())
	if got := streamTexts(lines, "stdout"); !slicesEqual(got, []string{"stdout says Ada", logproto.Sentinel}) {
		t.Errorf("stdout lines %q", got)
	}
	if got := streamTexts(lines, "stderr"); !slicesEqual(got, []string{"stderr says Ada", logproto.Sentinel}) {
		t.Errorf("stderr lines %q", got)
	}
	for _, l := range lines {
		if l.Time.Before(before.Add(-time.Second)) || l.Time.After(time.Now()) || l.Dropped {
			t.Errorf("bad line stamp or flag: %+v", l)
		}
	}

	if err := c.Destroy(context.Background()); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	waitClosed(t, c.Logs(), 5*time.Second)
	if entries, _ := os.ReadDir(filepath.Join(workDir, "containers")); len(entries) != 0 {
		t.Errorf("container directories left: %v", entries)
	}
	if entries, _ := os.ReadDir(filepath.Join(workDir, "pids")); len(entries) != 0 {
		t.Errorf("pid records left: %v", entries)
	}
}

func TestPythonContainerRunAndLogs(t *testing.T) {
	requireBin(t, "python3")
	f := newFactory(t, t.TempDir())
	c := create(t, f, "wsk0_2_guest_py", "python:3.11", nil)
	initAction(t, c, "import sys\n\ndef main(args):\n    print('py out')\n    print('py err', file=sys.stderr)\n    return {'n': args['n'] + 1}\n")
	for i := range 2 {
		status, body, err := post(t, c.Addr(), "/run", map[string]any{"value": map[string]any{"n": i}})
		if err != nil || status != http.StatusOK || string(body) != fmt.Sprintf(`{"n":%d}`, i+1) {
			t.Fatalf("run %d: %d %s %v", i, status, body, err)
		}
		lines := collect(t, c.Logs())
		if got := streamTexts(lines, "stdout"); !slicesEqual(got, []string{"py out", logproto.Sentinel}) {
			t.Errorf("run %d stdout %q", i, got)
		}
		if got := streamTexts(lines, "stderr"); !slicesEqual(got, []string{"py err", logproto.Sentinel}) {
			t.Errorf("run %d stderr %q", i, got)
		}
	}
}

const spawnSleepAction = `
require('child_process').spawn('sleep', ['300'], { stdio: 'ignore' });
function main() { return {}; }
`

func TestDestroyKillsActionProcess(t *testing.T) {
	requireBin(t, "node")
	f := newFactory(t, t.TempDir())
	requireBin(t, "sleep")
	c := create(t, f, "kill-me", "nodejs:20", nil)
	// The action starts a grandchild of the proxy; only killing the whole
	// process group reaches it.
	initAction(t, c, spawnSleepAction)
	members := strings.Join(groupMembers(t, c.Pid()), " ")
	if !strings.Contains(members, "(node)") || !strings.Contains(members, "(sleep)") {
		t.Fatalf("want node and sleep in the proxy's group, have %v", members)
	}
	if err := c.Destroy(context.Background()); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	waitNoMembers(t, c.Pid(), 5*time.Second)
	select {
	case <-c.Exited():
	default:
		t.Error("Destroy returned before the proxy was reaped")
	}
	if err := c.Destroy(context.Background()); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	waitClosed(t, c.Logs(), 5*time.Second)
}

func TestDestroyMidRun(t *testing.T) {
	requireBin(t, "python3")
	f := newFactory(t, t.TempDir())
	c := create(t, f, "sleeper", "python:3.11", nil)
	initAction(t, c, "import time\n\ndef main(args):\n    print('running', flush=True)\n    time.sleep(60)\n    return {}\n")
	runDone := make(chan error, 1)
	go func() {
		status, body, err := post(t, c.Addr(), "/run", map[string]any{"value": map[string]any{}})
		if err == nil {
			err = fmt.Errorf("run finished normally: %d %s", status, body)
		}
		runDone <- err
	}()
	// The run is under way once the action's line arrives.
	running := time.After(10 * time.Second)
	for waiting := true; waiting; {
		select {
		case l, ok := <-c.Logs():
			if !ok {
				t.Fatal("logs closed before the run started")
			}
			waiting = !strings.Contains(l.Text, "running")
		case <-running:
			t.Fatal("the run did not start within 10 s")
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Destroy(ctx); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Destroy took %v", d)
	}
	select {
	case err := <-runDone:
		t.Logf("interrupted run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the run did not end after Destroy")
	}
	waitNoMembers(t, c.Pid(), 5*time.Second)
}

func TestCleanupKillsLeftovers(t *testing.T) {
	requireBin(t, "node")
	workDir := t.TempDir()
	previous := newFactory(t, workDir)
	old := create(t, previous, "left-behind", "nodejs:20", nil)
	initAction(t, old, spawnSleepAction)
	if n := len(groupMembers(t, old.Pid())); n < 3 {
		t.Fatalf("expected the proxy, node and sleep in group %d, have %d", old.Pid(), n)
	}
	// A record whose pid now runs something else (this test binary) must be
	// ignored, not killed.
	bogus := fmt.Sprintf(`{"pid":%d,"args":["/not/the/proxy","--listen","x"],"dir":"/nonexistent"}`, os.Getpid())
	bogusFile := filepath.Join(workDir, "pids", strconv.Itoa(os.Getpid())+".json")
	if err := os.WriteFile(bogusFile, []byte(bogus), 0o600); err != nil {
		t.Fatal(err)
	}

	current := newFactory(t, workDir)
	mine := create(t, current, "mine", "nodejs:20", nil)
	initAction(t, mine, "function main() { return {mine: true}; }")

	if err := current.Cleanup(context.Background()); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	select {
	case <-old.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("leftover proxy still running after Cleanup")
	}
	waitNoMembers(t, old.Pid(), 5*time.Second)
	if _, err := os.Stat(bogusFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale record not removed: %v", err)
	}
	// The current factory's container survived.
	status, body, err := post(t, mine.Addr(), "/run", map[string]any{"value": map[string]any{}})
	if err != nil || status != http.StatusOK || string(body) != `{"mine":true}` {
		t.Errorf("own container after Cleanup: %d %s %v", status, body, err)
	}
	if err := old.Destroy(context.Background()); err != nil {
		t.Errorf("Destroy after Cleanup: %v", err)
	}
}

func TestLogsDropWhenNobodyReads(t *testing.T) {
	requireBin(t, "node")
	f := newFactory(t, t.TempDir(), func(c *process.Config) {
		c.LogBuffer = 4
		c.LogDropAfter = 20 * time.Millisecond
	})
	c := create(t, f, "chatty", "nodejs:20", nil)
	initAction(t, c, "function main() { for (let i = 0; i < 20000; i++) console.log('line ' + i); return {}; }")
	start := time.Now()
	status, body, err := post(t, c.Addr(), "/run", map[string]any{"value": map[string]any{}})
	if err != nil || status != http.StatusOK {
		t.Fatalf("run: %d %s %v", status, body, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("run took %v; output was not drained", d)
	}
	if err := c.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := waitClosed(t, c.Logs(), 10*time.Second)
	var markers, normal int
	for _, l := range lines {
		if l.Dropped {
			markers++
			if !strings.Contains(l.Text, "dropped") {
				t.Errorf("marker text %q", l.Text)
			}
		} else {
			normal++
		}
	}
	if markers == 0 || normal >= 20000 {
		t.Errorf("got %d lines and %d drop markers; want drops", normal, markers)
	}
}

func TestProxyExitClosesLogs(t *testing.T) {
	f := newFactory(t, t.TempDir())
	c := create(t, f, "bad-kind", "cobol:85", nil)
	select {
	case <-c.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("proxy with an unknown kind did not exit")
	}
	lines := waitClosed(t, c.Logs(), 5*time.Second)
	if got := strings.Join(streamTexts(lines, "stderr"), "\n"); !strings.Contains(got, "unsupported action kind") {
		t.Errorf("stderr %q does not explain the failure", got)
	}
}

func TestCreateErrors(t *testing.T) {
	f := newFactory(t, t.TempDir(), func(c *process.Config) { c.ProxyCommand = []string{"/nonexistent/brisk", "proxy"} })
	_, err := f.Create(context.Background(), invoker.ContainerSpec{Name: "x", Kind: "nodejs:20"})
	if !errors.Is(err, invoker.ErrContainerStart) {
		t.Errorf("missing binary: %v, want ErrContainerStart", err)
	}
	ok := newFactory(t, t.TempDir())
	ok.Close()
	_, err = ok.Create(context.Background(), invoker.ContainerSpec{Name: "y", Kind: "nodejs:20"})
	if !errors.Is(err, invoker.ErrContainerStart) || !errors.Is(err, process.ErrClosed) {
		t.Errorf("closed factory: %v", err)
	}
	if _, err := process.New(process.Config{}); err == nil {
		t.Error("New without ProxyCommand succeeded")
	}
}

func slicesEqual(a, b []string) bool { return slices.Equal(a, b) }
