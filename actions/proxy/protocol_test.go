package proxy_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/actions/proxy"
)

// kinds runs f once per runtime family.
func kinds(t *testing.T, f func(t *testing.T, kind, hello string)) {
	t.Helper()
	for _, k := range []struct{ kind, hello string }{
		{nodeKind, "nodejs/hello.js"},
		{pythonKind, "python/hello.py"},
	} {
		t.Run(k.kind, func(t *testing.T) {
			t.Parallel()
			f(t, k.kind, k.hello)
		})
	}
}

func TestSecondInitIsRefused(t *testing.T) {
	t.Parallel()
	kinds(t, func(t *testing.T, kind, hello string) {
		h := newHarness(t, kind)
		h.mustInit(hello, "main")
		status, body := h.initFile(hello, "main", nil)
		expect(t, status, body, 403, `{"error":"Cannot initialize the action more than once."}`)
		// The first action is still there.
		status, body = h.run(map[string]any{"name": "again"})
		expect(t, status, body, 200, `{"payload":"Hello, again"}`)
	})
}

func TestRunBeforeInit(t *testing.T) {
	t.Parallel()
	kinds(t, func(t *testing.T, kind, _ string) {
		h := newHarness(t, kind)
		status, body := h.run(map[string]any{})
		expect(t, status, body, 403, `{"error":"System not initialized."}`)
	})
}

func TestMissingMainOrCode(t *testing.T) {
	t.Parallel()
	kinds(t, func(t *testing.T, kind, hello string) {
		h := newHarness(t, kind)
		for _, v := range []map[string]any{
			{"main": "main"},
			{"code": "x", "main": ""},
			{"code": 42, "main": "main"},
		} {
			status, body := h.initValue(v)
			expect(t, status, body, 403, `{"error":"Missing main/no code to execute."}`)
		}
		status, body := h.post("/init", `{}`)
		expect(t, status, body, 403, `{"error":"Missing main/no code to execute."}`)
		// A refused init leaves the proxy ready for a proper one.
		h.mustInit(hello, "main")
	})
}

func TestNonObjectValue(t *testing.T) {
	t.Parallel()
	kinds(t, func(t *testing.T, kind, hello string) {
		h := newHarness(t, kind)
		h.mustInit(hello, "main")
		for value, typ := range map[string]string{`"text"`: "string", `12`: "number", `true`: "boolean"} {
			status, body := h.post("/run", `{"value":`+value+`,"activation_id":"x"}`)
			expect(t, status, body, 403,
				fmt.Sprintf(`{"error":"Internal system error: the argument must be a dictionary but has type '%s'."}`, typ))
		}
	})
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	status, body := h.post("/nosuch", `{}`)
	if status != http.StatusNotFound || decode(t, body)["error"] == nil {
		t.Errorf("POST /nosuch: %d %s", status, body)
	}
	resp, err := http.Get(h.url + "/run")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /run: %d", resp.StatusCode)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind, func(c *proxy.Config) { c.MaxBodyBytes = 1024 })
	big := strings.Repeat("x", 2048)
	status, body := h.initValue(map[string]any{"main": "main", "code": big})
	if status != http.StatusRequestEntityTooLarge || decode(t, body)["error"] == nil {
		t.Errorf("oversized init: %d %s", status, body)
	}
}

func TestArchiveGuards(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		code func(t *testing.T) string
		want string
	}{
		{"zip slip", func(t *testing.T) string {
			return buildZip(t, []zipEntry{{"index.js", []byte("exports.main=()=>({})")}, {"../escaped.js", []byte("x")}})
		}, "points outside the action directory"},
		{"zip bomb", func(t *testing.T) string {
			return buildZip(t, []zipEntry{{"index.js", make([]byte, 64<<10)}})
		}, "expands to more than 4096 bytes"},
		{"not a zip", func(*testing.T) string {
			return base64.StdEncoding.EncodeToString([]byte("plain text, not an archive"))
		}, "not a zip archive"},
		{"bad base64", func(*testing.T) string { return "!!!!" }, "base64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nodeKind, func(c *proxy.Config) { c.MaxArchiveBytes = 4096 })
			status, body := h.initValue(map[string]any{"main": "main", "binary": true, "code": tc.code(t)})
			if status != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %s", status, body)
			}
			if msg, _ := decode(t, body)["error"].(string); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q lacks %q", msg, tc.want)
			}
			matches, _ := filepath.Glob(filepath.Join(filepath.Dir(h.stdout.Name()), "*", "escaped.js"))
			if len(matches) > 0 {
				t.Errorf("zip entry escaped to %v", matches)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	t.Parallel()
	for kind, want := range map[string]proxy.Family{
		"nodejs:20": proxy.FamilyNodejs, "nodejs:default": proxy.FamilyNodejs, "nodejs": proxy.FamilyNodejs,
		"python:3.11": proxy.FamilyPython, "python:default": proxy.FamilyPython, "python": proxy.FamilyPython,
	} {
		got, err := proxy.ParseKind(kind)
		if err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", kind, got, err, want)
		}
	}
	for _, kind := range []string{"", "java:8", "node", "pythonic:3"} {
		if _, err := proxy.ParseKind(kind); !errors.Is(err, proxy.ErrUnknownKind) {
			t.Errorf("ParseKind(%q) error %v, want ErrUnknownKind", kind, err)
		}
	}
}

func TestMainRequiresKind(t *testing.T) {
	t.Setenv("__OW_KIND", "")
	if err := proxy.Main([]string{"--listen", "127.0.0.1:0"}); !errors.Is(err, proxy.ErrUnknownKind) {
		t.Errorf("Main without kind: %v, want ErrUnknownKind", err)
	}
	if err := proxy.Main([]string{"--kind", "cobol:1"}); !errors.Is(err, proxy.ErrUnknownKind) {
		t.Errorf("Main with unknown kind: %v, want ErrUnknownKind", err)
	}
	if err := proxy.Main([]string{"--bogus"}); err == nil {
		t.Error("Main with an unknown flag succeeded")
	}
}

// TestServeShutdownKillsChild runs a real listener, starts a long run and
// cancels the serving context: Serve must return promptly, the run must end
// and the scratch directory must be gone.
func TestServeShutdownKillsChild(t *testing.T) {
	requireInterpreter(t, nodeKind)
	dir := t.TempDir()
	logDir := t.TempDir()
	stdoutPath := filepath.Join(logDir, "stdout")
	stdout, err := os.Create(stdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	srv, err := proxy.NewServer(proxy.Config{Kind: nodeKind, TempDir: dir, Stdout: stdout, Stderr: stdout})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- proxy.Serve(ctx, ln, srv) }()

	h := &harness{t: t, srv: srv, url: "http://" + ln.Addr().String()}
	h.mustInit("nodejs/release.js", "main")

	runDone := make(chan int, 1)
	go func() { // runs until cancelled: nothing creates the release file
		status, _, _ := postJSON(h.url+"/run", map[string]any{"value": map[string]any{
			"name": "long", "release": filepath.Join(logDir, "never")}})
		runDone <- status
	}()
	// The run is in flight once the action printed that it started.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := os.ReadFile(stdoutPath); bytes.Contains(b, []byte("started long")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not start within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	select {
	case status := <-runDone:
		if status != http.StatusBadGateway && status != 0 {
			t.Errorf("interrupted run: status %d", status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the in-flight run did not end")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("scratch directory left behind: %v", entries)
	}
}
