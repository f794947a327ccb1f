package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/actions/proxy/logproto"
)

const nodeKind = "nodejs:20"

// TestNodeResults covers the result mapping of text actions, one action per
// case, each in a fresh proxy.
func TestNodeResults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file, main string
		value            any
		wantStatus       int
		wantBody         string
	}{
		{"hello", "nodejs/hello.js", "main", map[string]any{"name": "Ada"}, 200, `{"payload":"Hello, Ada"}`},
		{"promise", "nodejs/promise.js", "main", map[string]any{"n": 7}, 200, `{"done":true,"n":7}`},
		{"async timeout", "nodejs/async.js", "main", map[string]any{"ms": 50}, 200, `{"waited":50}`},
		{"echo exports.main", "nodejs/echo.js", "main", map[string]any{"a": []any{1, "two"}, "b": nil}, 200, `{"a":[1,"two"],"b":null}`},
		{"echo null value", "nodejs/echo.js", "main", nil, 200, `{}`},
		{"echo array value", "nodejs/echo.js", "main", []any{1, 2}, 200, `[1,2]`},
		{"application error", "nodejs/apperror.js", "main", map[string]any{}, 200, `{"error":"application failure"}`},
		{"rejected plain value", "nodejs/reject.js", "main", map[string]any{"plain": true}, 200, `{"error":{"code":42}}`},
		{"undefined result", "nodejs/undefined.js", "main", map[string]any{}, 200, `{}`},
		{"not a dictionary", "nodejs/notdict.js", "main", map[string]any{}, 502, `{"error":"The action did not return a dictionary."}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nodeKind)
			h.mustInit(tc.file, tc.main)
			status, body := h.run(tc.value)
			expect(t, status, body, tc.wantStatus, tc.wantBody)
		})
	}
}

func TestNodeRejectedError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	h.mustInit("nodejs/reject.js", "main")
	status, body := h.run(map[string]any{"why": "no luck"})
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	e, ok := decode(t, body)["error"].(map[string]any)
	if !ok {
		t.Fatalf("error is not an object: %s", body)
	}
	if e["message"] != "rejected: no luck" || e["name"] != "Error" {
		t.Errorf("serialized error %v lacks name/message", e)
	}
	if s, _ := e["stack"].(string); !strings.Contains(s, "rejected: no luck") {
		t.Errorf("serialized error stack %q", s)
	}
}

func TestNodeThrowIsFatal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	h.mustInit("nodejs/throw.js", "main")
	status, body := h.run(map[string]any{})
	expect(t, status, body, 502, `{"error":"An error has occurred: Error: boom"}`)
	_, stderr := h.logs()
	if !strings.Contains(stderr, "Error: boom") {
		t.Errorf("stderr lacks the exception: %q", stderr)
	}
	// The container refuses further runs.
	status, body = h.run(map[string]any{})
	if status != http.StatusBadGateway {
		t.Errorf("run after throw: %d %s, want 502", status, body)
	}
}

func TestNodeExitDuringRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	h.mustInit("nodejs/exit-run.js", "main")
	status, body := h.run(map[string]any{})
	if status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %s", status, body)
	}
	msg, _ := decode(t, body)["error"].(string)
	const msgRunExited = "The action did not produce a valid response and exited unexpectedly."
	if msg != msgRunExited {
		t.Errorf("error %q, want upstream's %q", msg, msgRunExited)
	}
	stdout, stderr := h.logs()
	exited := tagged("act0", "The action process exited during the run: the action process exited unexpectedly (exit status 3)")
	if stdout != tagged("act0", "exiting mid-run")+tagged("act0", logproto.Sentinel) || stderr != exited+tagged("act0", logproto.Sentinel) {
		t.Errorf("logs: stdout %q stderr %q", stdout, stderr)
	}
}

func TestNodeInitFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file, main string
		want             []string // substrings of the error
		exact            string
	}{
		{name: "exit at top level", file: "nodejs/exit-init.js", main: "main",
			exact: "The action did not initialize and exited unexpectedly."},
		{name: "main not a function", file: "nodejs/notfunc.js", main: "main",
			exact: "Initialization has failed due to: Action entrypoint 'main' is not a function."},
		{name: "missing entry point", file: "nodejs/hello.js", main: "nosuch",
			exact: "Initialization has failed due to: Action entrypoint 'nosuch' is not a function."},
		{name: "reserved word entry point", file: "nodejs/hello.js", main: "class",
			exact: "Initialization has failed due to: Action entrypoint 'class' is not a function."},
		{name: "syntax error", file: "nodejs/syntax.js", main: "main",
			want: []string{"Initialization has failed due to: ", "SyntaxError"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nodeKind)
			status, body := h.initFile(tc.file, tc.main, nil)
			if status != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %s", status, body)
			}
			msg, _ := decode(t, body)["error"].(string)
			if tc.exact != "" && msg != tc.exact {
				t.Errorf("error %q, want %q", msg, tc.exact)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			stdout, stderr := h.logs()
			if !strings.HasSuffix(stdout, logproto.Sentinel+"\n") || !strings.HasSuffix(stderr, logproto.Sentinel+"\n") {
				t.Errorf("no sentinels after failed init: stdout %q stderr %q", stdout, stderr)
			}
			status, body = h.run(map[string]any{})
			expect(t, status, body, 403, `{"error":"System not initialized."}`)
		})
	}
}

func TestNodeExitDuringInitKeepsOutput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	status, _ := h.initFile("nodejs/exit-init.js", "main", nil)
	if status != http.StatusBadGateway {
		t.Fatalf("status %d", status)
	}
	stdout, _ := h.logs()
	if want := "about to exit\n" + logproto.Sentinel + "\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
}

func TestNodeZipPackageJSONCustomMain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	status, body := h.initValue(map[string]any{
		"name": "zipped", "main": "handler", "binary": true, "code": zipDir(t, "nodejs-zip"),
	})
	expect(t, status, body, 200, `{"ok":true}`)
	status, body = h.run(map[string]any{"name": "Grace"})
	expect(t, status, body, 200, `{"greeting":"Hi, Grace!"}`)
}

func TestNodeZipIndexJS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	code := buildZip(t, []zipEntry{{"index.js", []byte("exports.main = (p) => ({ fromIndex: p.x });\n")}})
	status, body := h.initValue(map[string]any{"main": "main", "binary": true, "code": code})
	expect(t, status, body, 200, `{"ok":true}`)
	status, body = h.run(map[string]any{"x": 1})
	expect(t, status, body, 200, `{"fromIndex":1}`)
}

func TestNodeZipWithoutEntry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	code := buildZip(t, []zipEntry{{"lib/other.js", []byte("exports.main = () => ({});\n")}})
	status, body := h.initValue(map[string]any{"main": "main", "binary": true, "code": code})
	expect(t, status, body, 502,
		`{"error":"Zipped actions must contain either package.json or index.js at the root."}`)
}

func TestNodeEnv(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	testEnv(t, h, "nodejs/env.js")
}

// testEnv checks init env and per-run __OW_* variables for one runtime.
func testEnv(t *testing.T, h *harness, file string) {
	t.Helper()
	// Non-string init env values arrive as JSON text.
	status, body := h.initFile(file, "main", map[string]any{
		"MY_INIT_VAR": "from-init", "__OW_NAMESPACE": "init-ns", "INIT_JSON": map[string]any{"a": 1},
	})
	expect(t, status, body, 200, `{"ok":true}`)
	status, body = h.post("/run", map[string]any{
		"value": map[string]any{}, "namespace": "guest", "action_name": "/guest/env",
		"activation_id": "first", "transaction_id": "tx1", "deadline": 1700000000000, "api_key": "uuid:key",
	})
	if status != http.StatusOK {
		t.Fatalf("run 1: %d %s", status, body)
	}
	env := decode(t, body)["env"].(map[string]any)
	want := map[string]any{
		"__OW_ACTIVATION_ID": "first", "__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/env",
		"__OW_DEADLINE": "1700000000000", "__OW_API_KEY": "uuid:key", "__OW_TRANSACTION_ID": "tx1",
		"MY_INIT_VAR": "from-init", "INIT_JSON": `{"a":1}`,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("run 1: %s = %v, want %v", k, env[k], v)
		}
	}
	// The second run has a new activation id and no api_key or namespace:
	// the run-only key disappears and the init value comes back.
	status, body = h.post("/run", map[string]any{"value": map[string]any{}, "activation_id": "second"})
	if status != http.StatusOK {
		t.Fatalf("run 2: %d %s", status, body)
	}
	env = decode(t, body)["env"].(map[string]any)
	if env["__OW_ACTIVATION_ID"] != "second" || env["__OW_API_KEY"] != nil || env["__OW_NAMESPACE"] != "init-ns" {
		t.Errorf("run 2 env %v", env)
	}
	if hr, ok := decode(t, body)["hasRequire"]; ok && hr != true {
		t.Errorf("require did not work: %v", hr)
	}
}

func TestNodeSentinelsFollowUserLogs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nodeKind)
	h.mustInit("nodejs/logs.js", "main")
	for i := 0; i < 3; i++ {
		status, body := h.run(map[string]any{"lines": 2})
		expect(t, status, body, 200, `{"lines":2}`)
	}
	stdout, stderr := h.logs()
	oneOut := tagged("act0", "out 0") + tagged("act0", "out 1") + tagged("act0", logproto.Sentinel)
	oneErr := tagged("act0", "err 0") + tagged("act0", "err 1") + tagged("act0", logproto.Sentinel)
	if want := strings.Repeat(oneOut, 3); stdout != want {
		t.Errorf("stdout\n%q\nwant\n%q", stdout, want)
	}
	if want := strings.Repeat(oneErr, 3); stderr != want {
		t.Errorf("stderr\n%q\nwant\n%q", stderr, want)
	}
}
