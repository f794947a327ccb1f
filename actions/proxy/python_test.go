package proxy_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/actions/proxy/logproto"
)

const pythonKind = "python:3.11"

func TestPythonResults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file, main string
		value            any
		wantStatus       int
		wantBody         string
	}{
		{"hello", "python/hello.py", "main", map[string]any{"name": "Ada"}, 200, `{"payload":"Hello, Ada"}`},
		{"null value", "python/hello.py", "main", nil, 200, `{"payload":"Hello, stranger"}`},
		{"custom main", "python/custom.py", "handler", map[string]any{"k": "v"}, 200, `{"handled":{"k":"v"}}`},
		{"exception is an application error", "python/exception.py", "main", map[string]any{"x": 1}, 200, `{"error":"bad input: 1"}`},
		{"none result", "python/none.py", "main", map[string]any{}, 200, `{}`},
		{"not a dictionary", "python/notdict.py", "main", map[string]any{}, 502, `{"error":"The action did not return a dictionary."}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, pythonKind)
			h.mustInit(tc.file, tc.main)
			status, body := h.run(tc.value)
			expect(t, status, body, tc.wantStatus, tc.wantBody)
			// Every outcome keeps the container usable.
			status, body = h.run(tc.value)
			expect(t, status, body, tc.wantStatus, tc.wantBody)
		})
	}
}

func TestPythonExceptionTracebackBeforeSentinel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pythonKind)
	h.mustInit("python/exception.py", "main")
	status, body := h.run(map[string]any{"x": "y"})
	expect(t, status, body, 200, `{"error":"bad input: y"}`)
	stdout, stderr := h.logs()
	if stdout != tagged("act0", logproto.Sentinel) {
		t.Errorf("stdout %q", stdout)
	}
	if !strings.HasPrefix(stderr, "Traceback (most recent call last):") ||
		!strings.HasSuffix(stderr, "ValueError: bad input: y\n"+tagged("act0", logproto.Sentinel)) {
		t.Errorf("stderr %q lacks the traceback before the sentinel", stderr)
	}
}

func TestPythonSentinelsFollowUserLogs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pythonKind)
	h.mustInit("python/hello.py", "main")
	for _, name := range []string{"a", "b"} {
		status, body := h.run(map[string]any{"name": name})
		expect(t, status, body, 200, `{"payload":"Hello, `+name+`"}`)
	}
	stdout, stderr := h.logs()
	s := tagged("act0", logproto.Sentinel)
	if want := "hello from stdout: a\n" + s + "hello from stdout: b\n" + s; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	if want := "hello from stderr\n" + s + "hello from stderr\n" + s; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}

// TestPythonLogProtocol runs the python launcher for ids that can tag and
// ids that cannot (as logproto.ValidTag decides) and parses what it wrote
// with logproto, the invoker's parser: the user's lines are untagged, each
// run ends with its sentinel on both streams, tagged exactly when its id is
// a valid tag.
func TestPythonLogProtocol(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pythonKind)
	h.mustInit("python/hello.py", "main")
	outWant := streamWant{tagged: map[string][]string{}}
	errWant := streamWant{tagged: map[string][]string{}}
	for i, id := range []string{"act-0", "", "act ü/2", "bad\nid", "tab\tid", "act:5~"} {
		name := fmt.Sprintf("run%d", i)
		st, body, err := h.runAs(id, map[string]any{"name": name})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, st, body, 200, `{"payload":"Hello, `+name+`"}`)
		// Python's own lines go out untagged; checkStream wants the
		// untagged lines in order and each tagged sentinel after them.
		outWant.untagged = append(outWant.untagged, "hello from stdout: "+name)
		errWant.untagged = append(errWant.untagged, "hello from stderr")
		if logproto.ValidTag(id) {
			outWant.tagged[id] = []string{}
			errWant.tagged[id] = []string{}
		} else {
			outWant.untagged = append(outWant.untagged, logproto.Sentinel)
			errWant.untagged = append(errWant.untagged, logproto.Sentinel)
		}
	}
	stdout, stderr := h.logs()
	checkStream(t, "stdout", stdout, outWant)
	checkStream(t, "stderr", stderr, errWant)
}

func TestPythonInitFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file, main string
		want             string
	}{
		{"syntax error", "python/syntax.py", "main", "SyntaxError"},
		{"exception at import", "python/raise-init.py", "main", "RuntimeError: cannot start"},
		{"not a function", "python/notfunc.py", "main", "Action entrypoint 'main' is not a function."},
		{"missing entry point", "python/hello.py", "nosuch", "Action entrypoint 'nosuch' is not a function."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, pythonKind)
			status, body := h.initFile(tc.file, tc.main, nil)
			if status != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %s", status, body)
			}
			msg, _ := decode(t, body)["error"].(string)
			if !strings.HasPrefix(msg, "Initialization has failed due to: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q lacks %q", msg, tc.want)
			}
			stdout, stderr := h.logs()
			if !strings.HasSuffix(stdout, logproto.Sentinel+"\n") || !strings.HasSuffix(stderr, logproto.Sentinel+"\n") {
				t.Errorf("no sentinels after failed init: stdout %q stderr %q", stdout, stderr)
			}
		})
	}
}

func TestPythonZip(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pythonKind)
	status, body := h.initValue(map[string]any{
		"name": "pyzip", "main": "entry", "binary": true, "code": zipDir(t, "python-zip"),
	})
	expect(t, status, body, 200, `{"ok":true}`)
	status, body = h.run(map[string]any{"name": "Linus"})
	expect(t, status, body, 200, `{"greeting":"Hi, Linus!"}`)
}

func TestPythonZipWithoutMain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pythonKind)
	code := buildZip(t, []zipEntry{{"main.py", []byte("def main(a):\n    return a\n")}})
	status, body := h.initValue(map[string]any{"main": "main", "binary": true, "code": code})
	expect(t, status, body, 502, `{"error":"Zipped actions must contain __main__.py at the root."}`)
}

func TestPythonEnv(t *testing.T) {
	t.Parallel()
	h := newHarness(t, pythonKind)
	testEnv(t, h, "python/env.py")
}
