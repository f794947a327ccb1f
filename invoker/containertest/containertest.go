// Package containertest is the conformance suite every container backend
// (invoker.ContainerFactory) must pass: invoker/process and
// invoker/containerd run it from their tests.
//
// The suite drives a factory the way the invoker does: Create, the action
// proxy protocol (/init once, /run many times) over HTTP at Addr, the log
// lines with their sentinels on Logs, Pause and Resume when the container
// implements invoker.Pauser, Destroy, and Cleanup of what an earlier factory
// left behind. It asserts what a user of the platform would see: results,
// log lines, environment, a writable /tmp, one action's container not
// answering for another, nothing left running after Destroy or Cleanup.
package containertest

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/actions/proxy/logproto"
	"github.com/brisk-serverless/brisk/invoker"
)

// Backend describes the factory under test.
type Backend struct {
	// New returns a factory. The suite closes it. Factories returned by
	// successive calls within one test must share their bookkeeping (work
	// directory, owner label) so that Cleanup of a later one removes what an
	// earlier one left.
	New func(t *testing.T) invoker.ContainerFactory
	// Kinds lists the kinds the backend runs, among "nodejs:20",
	// "python:3.11" and "blackbox".
	Kinds []string
	// StartTimeout bounds the wait for a new container's proxy (default 30 s).
	StartTimeout time.Duration
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, b Backend) {
	if b.StartTimeout == 0 {
		b.StartTimeout = 30 * time.Second
	}
	s := &suite{b: b}
	for _, kind := range b.Kinds {
		t.Run("RunAndLogs/"+kind, func(t *testing.T) { s.runAndLogs(t, kind) })
	}
	t.Run("Environment", s.environment)
	t.Run("WritableTmp", s.writableTmp)
	t.Run("ContainersAreSeparate", s.separate)
	t.Run("DestroyStopsEverything", s.destroy)
	t.Run("PauseResume", s.pauseResume)
	t.Run("CleanupRemovesLeftovers", s.cleanup)
	t.Run("ManyLogLinesInOrder", s.manyLines)
}

type suite struct{ b Backend }

func (s *suite) has(kind string) bool { return slices.Contains(s.b.Kinds, kind) }

func (s *suite) factory(t *testing.T) invoker.ContainerFactory {
	t.Helper()
	f := s.b.New(t)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

var nameSeq struct {
	sync.Mutex
	n int
}

func (s *suite) create(t *testing.T, f invoker.ContainerFactory, kind string, env map[string]string) invoker.Container {
	t.Helper()
	nameSeq.Lock()
	nameSeq.n++
	name := fmt.Sprintf("conformance_%d", nameSeq.n)
	nameSeq.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.b.StartTimeout)
	defer cancel()
	c, err := f.Create(ctx, invoker.ContainerSpec{Name: name, Kind: kind, MemoryMB: 256, Env: env})
	if err != nil {
		t.Fatalf("Create %s: %v", kind, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Destroy(ctx); err != nil {
			t.Errorf("Destroy %s: %v", c.ID(), err)
		}
	})
	return c
}

// Code is the source of one small action per kind.
type Code struct {
	Kind   string
	Code   string
	Binary bool
}

// echoCode returns an action that logs a line on stdout and on stderr and
// returns {"kind": <kind>, "got": <args>, <extra>: ...}.
func echoCode(t *testing.T, kind, extra string) Code {
	t.Helper()
	switch kind {
	case "nodejs:20":
		return Code{Kind: kind, Code: `function main(args) {
  console.log("out " + JSON.stringify(args));
  console.error("err line");
  return {kind: "nodejs", got: args` + extra + `};
}`}
	case "python:3.11":
		return Code{Kind: kind, Code: `import sys, json
def main(args):
    print("out " + json.dumps(args, separators=(",", ":")))
    print("err line", file=sys.stderr)
    return {"kind": "python", "got": args` + extra + `}
`}
	case "blackbox":
		script := "#!/bin/sh\necho \"out $1\"\necho 'err line' >&2\necho '{\"kind\": \"blackbox\", \"got\": '\"$1\"'}'\n"
		return Code{Kind: kind, Code: ZipBase64(t, map[string]string{"exec": script}), Binary: true}
	}
	t.Fatalf("no echo action for kind %s", kind)
	return Code{}
}

// ZipBase64 returns the base64 text of a zip archive holding files; a file
// named "exec" is marked executable.
func ZipBase64(t testing.TB, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		mode := 0o644
		if name == "exec" {
			mode = 0o755
		}
		h.SetMode(os.FileMode(mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// Post sends one proxy request; it retries a refused connection (the proxy
// is still booting) until ctx ends.
func Post(ctx context.Context, addr, path string, body any) (int, []byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(data))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, b, rerr
		}
		if ctx.Err() != nil || !isRefused(err) {
			return 0, nil, err
		}
		select {
		case <-ctx.Done():
			return 0, nil, err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH)
}

// Init POSTs /init with code and fails t unless the proxy answers 200.
func Init(t testing.TB, c invoker.Container, code Code, env map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	status, body, err := Post(ctx, c.Addr(), "/init", map[string]any{"value": map[string]any{
		"name": "conformance", "main": "main", "code": code.Code, "binary": code.Binary, "env": env,
	}})
	if err != nil || status != http.StatusOK {
		t.Fatalf("/init %s: status %d, body %s, err %v", code.Kind, status, body, err)
	}
}

// RunAction POSTs /run with args and returns the status and decoded body.
func RunAction(t testing.TB, c invoker.Container, args any) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return RunActionCtx(ctx, t, c, args)
}

// RunActionCtx is RunAction bounded by ctx.
func RunActionCtx(ctx context.Context, t testing.TB, c invoker.Container, args any) (int, map[string]any) {
	t.Helper()
	status, body, err := Post(ctx, c.Addr(), "/run", map[string]any{
		"value": args, "namespace": "guest", "action_name": "/guest/conformance", "activation_id": "0123456789abcdef0123456789abcdef",
		"transaction_id": "tid", "deadline": fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()),
	})
	if err != nil {
		t.Fatalf("/run: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("/run: status %d, body %q is not a JSON object: %v", status, body, err)
	}
	return status, out
}

// ReadActivationLogs reads lines until both sentinels were seen and returns
// the lines before them, per stream, without their activation tags.
func ReadActivationLogs(t testing.TB, c invoker.Container) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	seen := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for !seen["stdout"] || !seen["stderr"] {
		select {
		case l, ok := <-c.Logs():
			if !ok {
				t.Fatalf("logs closed before both sentinels; got %v", out)
			}
			_, l.Text, _ = logproto.Split(l.Text)
			if logproto.IsSentinel(l.Text) {
				seen[l.Stream] = true
				continue
			}
			if !seen[l.Stream] {
				out[l.Stream] = append(out[l.Stream], l.Text)
			}
		case <-timeout:
			t.Fatalf("no sentinels on both streams within 30s; got %v", out)
		}
	}
	return out
}

func (s *suite) runAndLogs(t *testing.T, kind string) {
	t.Parallel()
	f := s.factory(t)
	c := s.create(t, f, kind, nil)
	if c.ID() == "" || c.Addr() == "" {
		t.Fatalf("container has ID %q and Addr %q", c.ID(), c.Addr())
	}
	Init(t, c, echoCode(t, kind, ""), nil)
	for i := range 2 {
		status, res := RunAction(t, c, map[string]any{"n": i})
		got, _ := res["got"].(map[string]any)
		if status != http.StatusOK || got == nil || got["n"] != float64(i) {
			t.Fatalf("run %d: status %d, result %v", i, status, res)
		}
		logs := ReadActivationLogs(t, c)
		wantOut := fmt.Sprintf(`out {"n":%d}`, i)
		if kind == "blackbox" {
			wantOut = fmt.Sprintf(`out {"n": %d}`, i)
		}
		if !slices.ContainsFunc(logs["stdout"], func(l string) bool { return strings.ReplaceAll(l, " ", "") == strings.ReplaceAll(wantOut, " ", "") }) {
			t.Errorf("run %d: stdout %q lacks %q", i, logs["stdout"], wantOut)
		}
		if !slices.Contains(logs["stderr"], "err line") {
			t.Errorf("run %d: stderr %q lacks %q", i, logs["stderr"], "err line")
		}
	}
}

func (s *suite) firstKind() string {
	for _, k := range []string{"nodejs:20", "python:3.11"} {
		if s.has(k) {
			return k
		}
	}
	return s.b.Kinds[0]
}

func (s *suite) environment(t *testing.T) {
	t.Parallel()
	if !s.has("nodejs:20") {
		t.Skip("needs nodejs:20")
	}
	f := s.factory(t)
	c := s.create(t, f, "nodejs:20", map[string]string{"__OW_API_HOST": "http://api.example:1234"})
	Init(t, c, Code{Kind: "nodejs:20", Code: `function main() {
  return {host: process.env.__OW_API_HOST, initVar: process.env.INIT_VAR, ns: process.env.__OW_NAMESPACE};
}`}, map[string]string{"INIT_VAR": "from-init"})
	status, res := RunAction(t, c, map[string]any{})
	if status != 200 || res["host"] != "http://api.example:1234" || res["initVar"] != "from-init" || res["ns"] != "guest" {
		t.Fatalf("status %d, result %v", status, res)
	}
	ReadActivationLogs(t, c)
}

func (s *suite) writableTmp(t *testing.T) {
	t.Parallel()
	if !s.has("python:3.11") {
		t.Skip("needs python:3.11")
	}
	f := s.factory(t)
	c := s.create(t, f, "python:3.11", nil)
	Init(t, c, Code{Kind: "python:3.11", Code: `import os, tempfile
def main(args):
    p = os.path.join(tempfile.gettempdir(), "conformance.txt")
    with open(p, "w") as f:
        f.write(args["text"])
    with open(p) as f:
        return {"read": f.read()}
`}, nil)
	status, res := RunAction(t, c, map[string]any{"text": "hello tmp"})
	if status != 200 || res["read"] != "hello tmp" {
		t.Fatalf("status %d, result %v", status, res)
	}
	ReadActivationLogs(t, c)
}

// separate starts three containers at once, each with its own code and
// state, and checks every one answers with its own.
func (s *suite) separate(t *testing.T) {
	t.Parallel()
	kind := s.firstKind()
	f := s.factory(t)
	const n = 3
	cs := make([]invoker.Container, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), s.b.StartTimeout)
			defer cancel()
			c, err := f.Create(ctx, invoker.ContainerSpec{Name: fmt.Sprintf("separate_%d", i), Kind: kind, MemoryMB: 256})
			if err != nil {
				errs <- err
				return
			}
			cs[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	t.Cleanup(func() {
		for _, c := range cs {
			if c != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_ = c.Destroy(ctx)
				cancel()
			}
		}
	})
	for err := range errs {
		t.Fatalf("Create: %v", err)
	}
	ids := map[string]bool{}
	for i, c := range cs {
		if ids[c.ID()] {
			t.Fatalf("two containers share ID %s", c.ID())
		}
		ids[c.ID()] = true
		Init(t, c, echoCode(t, kind, fmt.Sprintf(`, "which": %d`, i)), nil)
	}
	for round := range 2 {
		for i, c := range cs {
			status, res := RunAction(t, c, map[string]any{"round": round})
			if status != 200 || res["which"] != float64(i) {
				t.Fatalf("container %d round %d: status %d, result %v", i, round, status, res)
			}
			ReadActivationLogs(t, c)
		}
	}
}

func unreachable(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/run", strings.NewReader("{}"))
	resp, err := client.Do(req)
	if err != nil {
		return true
	}
	resp.Body.Close()
	return false
}

func (s *suite) destroy(t *testing.T) {
	t.Parallel()
	kind := s.firstKind()
	f := s.factory(t)
	ctx, cancel := context.WithTimeout(context.Background(), s.b.StartTimeout)
	defer cancel()
	c, err := f.Create(ctx, invoker.ContainerSpec{Name: "destroy", Kind: kind, MemoryMB: 256})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	Init(t, c, echoCode(t, kind, ""), nil)
	if status, _ := RunAction(t, c, map[string]any{}); status != 200 {
		t.Fatalf("run before destroy: status %d", status)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer dcancel()
	if err := c.Destroy(dctx); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if err := c.Destroy(dctx); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
	deadline := time.After(15 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-c.Logs():
		case <-deadline:
			t.Fatal("Logs not closed within 15s of Destroy")
		}
	}
	if !unreachable(c.Addr()) {
		t.Fatalf("the proxy at %s still answers after Destroy", c.Addr())
	}
}

func (s *suite) pauseResume(t *testing.T) {
	t.Parallel()
	kind := s.firstKind()
	f := s.factory(t)
	c := s.create(t, f, kind, nil)
	p, ok := c.(invoker.Pauser)
	if !ok {
		t.Skip("the backend's containers do not implement invoker.Pauser")
	}
	Init(t, c, echoCode(t, kind, ""), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Pause(ctx); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if err := p.Pause(ctx); err != nil {
		t.Fatalf("second Pause: %v", err)
	}
	// A frozen container does not answer; the request completes once the
	// container is thawed.
	type answer struct {
		status int
		res    map[string]any
	}
	done := make(chan answer, 1)
	go func() {
		status, res := RunActionCtx(ctx, t, c, map[string]any{"sent": "while paused"})
		done <- answer{status, res}
	}()
	select {
	case a := <-done:
		t.Fatalf("a paused container answered /run: status %d, result %v", a.status, a.res)
	case <-time.After(700 * time.Millisecond):
	}
	if err := p.Resume(ctx); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if err := p.Resume(ctx); err != nil {
		t.Fatalf("second Resume: %v", err)
	}
	select {
	case a := <-done:
		got, _ := a.res["got"].(map[string]any)
		if a.status != 200 || got["sent"] != "while paused" {
			t.Fatalf("run after resume: status %d, result %v", a.status, a.res)
		}
	case <-ctx.Done():
		t.Fatal("no answer within 30s of Resume")
	}
	ReadActivationLogs(t, c)
}

func (s *suite) cleanup(t *testing.T) {
	kind := s.firstKind()
	first := s.b.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), s.b.StartTimeout)
	defer cancel()
	c, err := first.Create(ctx, invoker.ContainerSpec{Name: "leftover", Kind: kind, MemoryMB: 256})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	Init(t, c, echoCode(t, kind, ""), nil)
	if status, _ := RunAction(t, c, map[string]any{}); status != 200 {
		t.Fatalf("run: status %d", status)
	}
	// The first invoker goes away without destroying its container.
	_ = first.Close()
	second := s.factory(t)
	cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer ccancel()
	if err := second.Cleanup(cctx); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if !unreachable(c.Addr()) {
		t.Fatalf("the leftover proxy at %s still answers after Cleanup", c.Addr())
	}
	// The new factory works.
	c2 := s.create(t, second, kind, nil)
	Init(t, c2, echoCode(t, kind, ""), nil)
	if status, _ := RunAction(t, c2, map[string]any{}); status != 200 {
		t.Fatalf("run after cleanup: status %d", status)
	}
	ReadActivationLogs(t, c2)
}

func (s *suite) manyLines(t *testing.T) {
	t.Parallel()
	if !s.has("nodejs:20") {
		t.Skip("needs nodejs:20")
	}
	f := s.factory(t)
	c := s.create(t, f, "nodejs:20", nil)
	Init(t, c, Code{Kind: "nodejs:20", Code: `function main(args) {
  for (let i = 0; i < args.n; i++) console.log("line " + i);
  return {n: args.n};
}`}, nil)
	const n = 2000
	if status, res := RunAction(t, c, map[string]any{"n": n}); status != 200 || res["n"] != float64(n) {
		t.Fatalf("status %d, result %v", status, res)
	}
	logs := ReadActivationLogs(t, c)
	if len(logs["stdout"]) != n {
		t.Fatalf("got %d stdout lines, want %d", len(logs["stdout"]), n)
	}
	for i, l := range logs["stdout"] {
		if l != fmt.Sprintf("line %d", i) {
			t.Fatalf("line %d is %q", i, l)
		}
	}
}
