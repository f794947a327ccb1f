package containerd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/brisk-serverless/brisk/invoker/containerd/ctrdtest"
	"github.com/brisk-serverless/brisk/invoker/containertest"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

var httpClient = &http.Client{Timeout: 2 * time.Minute}

// api calls the REST API of one server as the guest.
type api struct {
	t   *testing.T
	srv *harness.Server
}

func (a api) call(method, path string, body any) (int, []byte) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.srv.APIHost+"/api/v1/namespaces/_/"+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	user, key, _ := strings.Cut(a.srv.Auth, ":")
	req.SetBasicAuth(user, key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// put creates (or replaces) an action.
func (a api) put(name string, exec map[string]any, limits map[string]any) {
	a.t.Helper()
	body := map[string]any{"exec": exec}
	if limits != nil {
		body["limits"] = limits
	}
	if st, b := a.call(http.MethodPut, "actions/"+name+"?overwrite=true", body); st != http.StatusOK {
		a.t.Fatalf("create %s: %d %s", name, st, b)
	}
}

// activation is the part of an activation record the tests read.
type activation struct {
	ActivationID string `json:"activationId"`
	Response     struct {
		Status string         `json:"status"`
		Result map[string]any `json:"result"`
	} `json:"response"`
	Logs        []string `json:"logs"`
	Annotations []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"annotations"`
}

func (act activation) annotation(key string) (any, bool) {
	for _, a := range act.Annotations {
		if a.Key == key {
			return a.Value, true
		}
	}
	return nil, false
}

// invoke runs an action blocking and returns the HTTP status and record.
func (a api) invoke(name string, params any) (int, activation) {
	a.t.Helper()
	st, b := a.call(http.MethodPost, "actions/"+name+"?blocking=true", params)
	var act activation
	if err := json.Unmarshal(b, &act); err != nil {
		a.t.Fatalf("invoke %s: %d %s: %v", name, st, b, err)
	}
	return st, act
}

// logs waits for the activation's stored logs.
func (a api) logs(id string) []string {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, b := a.call(http.MethodGet, "activations/"+id+"/logs", nil)
		var r struct{ Logs []string }
		if st == http.StatusOK && json.Unmarshal(b, &r) == nil && len(r.Logs) > 0 {
			return r.Logs
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("no logs for %s within 30s: %d %s", id, st, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLimitsThroughTheAPI: what a user sees when an action goes over its
// memory, time, log and process limits, or tries to leave its sandbox.
func TestLimitsThroughTheAPI(t *testing.T) {
	e := startEnv(t)
	srv := e.start(t)
	a := api{t: t, srv: srv}

	t.Run("memory", func(t *testing.T) {
		a.put("hog", map[string]any{"kind": "nodejs:20", "code": `function main(args) {
  const keep = [];
  for (let i = 0; i < args.mb; i++) keep.push(Buffer.alloc(1 << 20, 1));
  return {allocated: keep.length};
}`}, map[string]any{"memory": 128})
		st, act := a.invoke("hog", map[string]any{"mb": 32})
		if st != http.StatusOK || act.Response.Result["allocated"] != float64(32) {
			t.Fatalf("32 MB in 128 MB: %d %+v", st, act.Response)
		}
		st, act = a.invoke("hog", map[string]any{"mb": 400})
		if st != http.StatusBadGateway || act.Response.Status != "action developer error" ||
			act.Response.Result["error"] != "The action exhausted its memory and was aborted." {
			t.Fatalf("400 MB in 128 MB: %d %+v", st, act.Response)
		}
		// The next activation gets a fresh container.
		if st, act := a.invoke("hog", map[string]any{"mb": 16}); st != http.StatusOK {
			t.Fatalf("after the memory failure: %d %+v", st, act.Response)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		a.put("sleepy", map[string]any{"kind": "nodejs:20", "code": `function main(args) {
  return new Promise(r => setTimeout(() => r({slept: args.ms}), args.ms));
}`}, map[string]any{"timeout": 500})
		st, act := a.invoke("sleepy", map[string]any{"ms": 3000})
		if st != http.StatusBadGateway || act.Response.Result["error"] != "The action exceeded its time limits of 500 milliseconds." {
			t.Fatalf("sleeping 3 s with a 500 ms limit: %d %+v", st, act.Response)
		}
		if v, _ := act.annotation("timeout"); v != true {
			t.Errorf("timeout annotation = %v", v)
		}
		if st, act := a.invoke("sleepy", map[string]any{"ms": 10}); st != http.StatusOK || act.Response.Result["slept"] != float64(10) {
			t.Fatalf("after the timeout: %d %+v", st, act.Response)
		}
	})

	t.Run("logs", func(t *testing.T) {
		a.put("chatty", map[string]any{"kind": "python:3.11", "code": `def main(args):
    for i in range(args["lines"]):
        print("x" * 1000)
    return {"printed": args["lines"]}
`}, map[string]any{"logs": 1})
		st, act := a.invoke("chatty", map[string]any{"lines": 2000})
		if st != http.StatusOK {
			t.Fatalf("%d %+v", st, act.Response)
		}
		logs := a.logs(act.ActivationID)
		last := logs[len(logs)-1]
		if !strings.HasSuffix(last, "Logs were truncated because the total bytes size exceeds the limit of 1048576 bytes.") {
			t.Fatalf("%d log lines, the last is %q", len(logs), last)
		}
		if len(logs) > 1100 {
			t.Fatalf("%d log lines kept under a 1 MB limit", len(logs))
		}
	})

	t.Run("sandbox", func(t *testing.T) {
		a.put("probe", map[string]any{"kind": "python:3.11", "code": `import os, socket
def main(args):
    out = {"uid": os.getuid()}
    try:
        open("/etc/probe", "w").write("x")
        out["root"] = "writable"
    except OSError as e:
        out["root"] = e.strerror
    pids, err = [], ""
    try:
        for _ in range(400):
            pid = os.fork()
            if pid == 0:
                import time
                time.sleep(20)
                os._exit(0)
            pids.append(pid)
    except OSError as e:
        err = e.strerror
    for p in pids:
        os.kill(p, 9)
        os.waitpid(p, 0)
    out["forked"], out["forkError"] = len(pids), err
    for name, target in args["targets"].items():
        host, port = target.rsplit(":", 1)
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((host, int(port)))
            out[name] = "connected"
        except OSError as e:
            out[name] = "failed: " + str(e)
        s.close()
    return out
`}, nil)
		outside := ctrdtest.OutsideServer(t)
		u, _ := url.Parse(srv.APIHost)
		_, apiPort, _ := net.SplitHostPort(u.Host)
		gw := strings.Split(strings.TrimSuffix(e.net.Subnet, "/24"), ".")
		gateway := strings.Join(append(gw[:3], "1"), ".")
		st, act := a.invoke("probe", map[string]any{"targets": map[string]string{
			"outside": outside, "platform": gateway + ":" + apiPort, "platformLoopback": "127.0.0.1:" + apiPort,
		}})
		if st != http.StatusOK {
			t.Fatalf("%d %+v", st, act.Response)
		}
		r := act.Response.Result
		t.Logf("probe: %v", r)
		if r["uid"] == float64(0) {
			t.Error("the action runs as root")
		}
		if r["root"] != "Read-only file system" {
			t.Errorf("writing /etc: %v", r["root"])
		}
		if f, _ := r["forked"].(float64); f >= 256 || r["forkError"] != "Resource temporarily unavailable" {
			t.Errorf("forking 400 processes: forked %v, error %v", r["forked"], r["forkError"])
		}
		if r["outside"] != "connected" {
			t.Errorf("the outside network: %v", r["outside"])
		}
		for _, k := range []string{"platform", "platformLoopback"} {
			if !strings.HasPrefix(fmt.Sprint(r[k]), "failed") {
				t.Errorf("the platform's port (%s) is reachable from an action: %v", k, r[k])
			}
		}
	})
}

// TestBlackboxAction: a native executable in a zip, upstream's exec
// convention, run with kind blackbox.
func TestBlackboxAction(t *testing.T) {
	e := startEnv(t)
	srv := e.start(t, "--prewarm=false")
	a := api{t: t, srv: srv}
	script := "#!/bin/sh\necho \"log: got $1\"\necho \"to stderr\" >&2\necho \"{\\\"echo\\\": $1, \\\"ns\\\": \\\"$__OW_NAMESPACE\\\"}\"\n"
	a.put("native", map[string]any{"kind": "blackbox", "image": "brisk/dockerskeleton", "binary": true,
		"code": containertest.ZipBase64(t, map[string]string{"exec": script})}, nil)
	st, act := a.invoke("native", map[string]any{"word": "hi"})
	echo, _ := act.Response.Result["echo"].(map[string]any)
	if st != http.StatusOK || echo["word"] != "hi" || act.Response.Result["ns"] != "guest" {
		t.Fatalf("%d %+v", st, act.Response)
	}
	logs := strings.Join(a.logs(act.ActivationID), "\n")
	if !strings.Contains(logs, `stdout: log: got {"word":"hi"}`) || !strings.Contains(logs, "stderr: to stderr") {
		t.Fatalf("logs: %s", logs)
	}
	// No JSON on the last line: upstream's developer error.
	a.put("nojson", map[string]any{"kind": "blackbox", "binary": true,
		"code": containertest.ZipBase64(t, map[string]string{"exec": "#!/bin/sh\necho not json\n"})}, nil)
	st, act = a.invoke("nojson", map[string]any{})
	if st != http.StatusBadGateway || act.Response.Result["error"] != "The action did not return a dictionary or array." {
		t.Fatalf("%d %+v", st, act.Response)
	}
}

// tasks lists the server's action containers and their task states.
func tasks(t *testing.T, address string) map[string]string {
	t.Helper()
	c, err := ctrd.New(address, ctrd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), "brisk"), 30*time.Second)
	defer cancel()
	list, err := c.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, ct := range list {
		task, err := ct.Task(ctx, nil)
		if err != nil {
			out[ct.ID()] = "no task"
			continue
		}
		st, err := task.Status(ctx)
		if err != nil {
			out[ct.ID()] = "unknown"
			continue
		}
		out[ct.ID()] = string(st.Status)
	}
	return out
}

// TestIdleContainerIsPausedAndResumed: after the pause grace a warm
// container is frozen; the next activation thaws and reuses it.
func TestIdleContainerIsPausedAndResumed(t *testing.T) {
	e := startEnv(t)
	srv := e.start(t, "--prewarm=false", "--pause-grace", "300ms")
	a := api{t: t, srv: srv}
	a.put("counter", map[string]any{"kind": "nodejs:20", "code": `let n = 0;
function main() { n++; return {n}; }`}, nil)
	if st, act := a.invoke("counter", nil); st != http.StatusOK || act.Response.Result["n"] != float64(1) {
		t.Fatalf("first: %d %+v", st, act.Response)
	}
	deadline := time.Now().Add(20 * time.Second)
	var ts map[string]string
	for {
		ts = tasks(t, e.daemon.Address)
		if len(ts) == 1 && containsValue(ts, "paused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the idle container was not paused: %v", ts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, act := a.invoke("counter", nil)
	if st != http.StatusOK || act.Response.Result["n"] != float64(2) {
		t.Fatalf("second (same container, resumed): %d %+v", st, act.Response)
	}
	if _, cold := act.annotation("initTime"); cold {
		t.Error("the second activation was a cold start")
	}
	if after := tasks(t, e.daemon.Address); len(after) != 1 {
		t.Fatalf("containers after the second activation: %v (before: %v)", after, ts)
	}
}

func containsValue(m map[string]string, v string) bool {
	for _, x := range m {
		if x == v {
			return true
		}
	}
	return false
}

// TestEvictionUnderMemoryBudget: with room for two 256 MB containers, four
// different actions still run one after the other; idle containers are
// evicted, least recently used first, and never more than the budget exist.
func TestEvictionUnderMemoryBudget(t *testing.T) {
	e := startEnv(t)
	srv := e.start(t, "--prewarm=false", "--user-memory", "512")
	a := api{t: t, srv: srv}
	for i := range 4 {
		a.put(fmt.Sprintf("a%d", i), map[string]any{"kind": "python:3.11", "code": fmt.Sprintf("def main(args):\n    return {\"which\": %d}\n", i)}, nil)
	}
	for round := range 2 {
		for i := range 4 {
			st, act := a.invoke(fmt.Sprintf("a%d", i), nil)
			if st != http.StatusOK || act.Response.Result["which"] != float64(i) {
				t.Fatalf("round %d action %d: %d %+v", round, i, st, act.Response)
			}
			// Evicted containers are removed in the background.
			deadline := time.Now().Add(20 * time.Second)
			for {
				ts := tasks(t, e.daemon.Address)
				if len(ts) <= 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d containers under a budget of two: %v", len(ts), ts)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}
