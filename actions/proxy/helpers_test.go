package proxy_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/actions/proxy"
	"github.com/brisk-serverless/brisk/actions/proxy/logproto"
)

// harness is one proxy behind an httptest server, with its stdout and stderr
// captured in files (the launcher writes to them directly).
type harness struct {
	t      *testing.T
	srv    *proxy.Server
	url    string
	stdout *os.File
	stderr *os.File
}

func requireInterpreter(t *testing.T, kind string) {
	t.Helper()
	bin := "node"
	if strings.HasPrefix(kind, "python") {
		bin = "python3"
	} else if kind == "blackbox" {
		bin = "sh"
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("%s not on PATH (make test-deps installs the runtimes: apt-get install nodejs python3): %v", bin, err)
	}
}

func newHarness(t *testing.T, kind string, mutate ...func(*proxy.Config)) *harness {
	t.Helper()
	requireInterpreter(t, kind)
	dir := t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := proxy.Config{Kind: kind, TempDir: dir, Stdout: stdout, Stderr: stderr}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := proxy.NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		stdout.Close()
		stderr.Close()
	})
	return &harness{t: t, srv: srv, url: ts.URL, stdout: stdout, stderr: stderr}
}

// post sends body (marshalled unless it is a string) and returns the status
// and the raw reply.
func (h *harness) post(path string, body any) (int, []byte) {
	h.t.Helper()
	status, out, err := postJSON(h.url+path, body)
	if err != nil {
		h.t.Fatalf("POST %s: %v", path, err)
	}
	return status, out
}

// postJSON posts body (marshalled unless it is a string) to url.
func postJSON(url string, body any) (int, []byte, error) {
	var data []byte
	switch b := body.(type) {
	case string:
		data = []byte(b)
	default:
		var err error
		if data, err = json.Marshal(body); err != nil {
			return 0, nil, err
		}
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return resp.StatusCode, out, fmt.Errorf("Content-Type %q", ct)
	}
	return resp.StatusCode, out, nil
}

func (h *harness) initValue(value map[string]any) (int, []byte) {
	h.t.Helper()
	return h.post("/init", map[string]any{"value": value})
}

// initFile initializes the proxy with a testdata source file.
func (h *harness) initFile(file, main string, env map[string]any) (int, []byte) {
	h.t.Helper()
	code, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		h.t.Fatal(err)
	}
	v := map[string]any{"name": filepath.Base(file), "main": main, "code": string(code), "binary": false}
	if env != nil {
		v["env"] = env
	}
	return h.initValue(v)
}

func (h *harness) mustInit(file, main string) {
	h.t.Helper()
	status, body := h.initFile(file, main, nil)
	if status != http.StatusOK || string(body) != `{"ok":true}` {
		h.t.Fatalf("init %s: %d %s", file, status, body)
	}
}

// run posts /run with value and the usual activation metadata.
func (h *harness) run(value any) (int, []byte) {
	h.t.Helper()
	return h.post("/run", map[string]any{
		"value": value, "namespace": "guest", "action_name": "/guest/test",
		"action_version": "0.0.1", "activation_id": "act0", "transaction_id": "tid0",
		"deadline": "4102444800000",
	})
}

// runAs posts /run with value for activation id (no id when it is empty).
func (h *harness) runAs(id string, value any) (int, []byte, error) {
	body := map[string]any{"value": value, "namespace": "guest", "action_name": "/guest/test",
		"transaction_id": "tid-" + id, "deadline": "4102444800000"}
	if id != "" {
		body["activation_id"] = id
	}
	return postJSON(h.url+"/run", body)
}

// tagged is a log line as the contract frames it for activation id.
func tagged(id, text string) string { return logproto.Line(id, text) }

// logs returns what was written to stdout and stderr so far.
func (h *harness) logs() (string, string) {
	h.t.Helper()
	out, err := os.ReadFile(h.stdout.Name())
	if err != nil {
		h.t.Fatal(err)
	}
	errOut, err := os.ReadFile(h.stderr.Name())
	if err != nil {
		h.t.Fatal(err)
	}
	return string(out), string(errOut)
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("reply %s is not a JSON object: %v", body, err)
	}
	return m
}

func expect(t *testing.T, status int, body []byte, wantStatus int, wantBody string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status %d, want %d (body %s)", status, wantStatus, body)
	}
	var got, want any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("reply %s: %v", body, err)
	}
	if err := json.Unmarshal([]byte(wantBody), &want); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("body %s, want %s", g, w)
	}
}

// zipEntry is one file for buildZip.
type zipEntry struct {
	name string
	body []byte
}

// buildZip returns the base64 of a zip holding entries.
func buildZip(t *testing.T, entries []zipEntry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// zipDir returns the base64 of a zip of a testdata directory.
func zipDir(t *testing.T, dir string) string {
	t.Helper()
	root := filepath.Join("testdata", dir)
	var entries []zipEntry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		entries = append(entries, zipEntry{name: filepath.ToSlash(rel), body: body})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return buildZip(t, entries)
}
