package wskcompat

import (
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/brisk-serverless/brisk/actions/proxy/logproto"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// TestClientGo drives one server through openwhisk-client-go, the library
// behind the wsk CLI. Subtests share the server and use unique names.
func TestClientGo(t *testing.T) {
	srv := harness.Start(t)
	c := srv.Client

	t.Run("CreateGetNodejsText", func(t *testing.T) { testCreateGetNodejsText(t, c) })
	t.Run("DefaultKinds", func(t *testing.T) { testDefaultKinds(t, c) })
	t.Run("NodejsZip", func(t *testing.T) { testNodejsZip(t, c) })
	t.Run("PythonText", func(t *testing.T) { testPythonText(t, c) })
	t.Run("PythonZip", func(t *testing.T) { testPythonZip(t, c) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, c) })
	t.Run("List", func(t *testing.T) { testList(t, c) })
	t.Run("InvokeBlockingResult", func(t *testing.T) { testInvokeBlockingResult(t, c) })
	t.Run("InvokeBlockingActivation", func(t *testing.T) { testInvokeBlockingActivation(t, c) })
	t.Run("PromiseAndAsync", func(t *testing.T) { testPromiseAndAsync(t, c) })
	t.Run("NonBlocking", func(t *testing.T) { testNonBlocking(t, c) })
	t.Run("Logs", func(t *testing.T) { testLogs(t, c) })
	t.Run("ApplicationError", func(t *testing.T) { testApplicationError(t, c) })
	t.Run("PythonApplicationError", func(t *testing.T) { testPythonApplicationError(t, c) })
	t.Run("ThrownException", func(t *testing.T) { testThrownException(t, c) })
	t.Run("ExitDuringInit", func(t *testing.T) { testExitDuringInit(t, c) })
	t.Run("Timeout", func(t *testing.T) { testTimeout(t, c) })
	t.Run("Parameters", func(t *testing.T) { testParameters(t, c) })
	t.Run("Environment", func(t *testing.T) { testEnvironment(t, srv, c) })
	t.Run("DeleteThenGet", func(t *testing.T) { testDeleteThenGet(t, c) })
}

// checkNewAction checks the fields every freshly created action carries:
// upstream's defaults, the exec and provide-api-key annotations.
func checkNewAction(t *testing.T, a *whisk.Action, name, kind string) {
	t.Helper()
	if a.Name != name || a.Namespace != harness.GuestNamespace {
		t.Errorf("namespace/name = %q/%q, want %q/%q", a.Namespace, a.Name, harness.GuestNamespace, name)
	}
	if a.Version != "0.0.1" {
		t.Errorf("version = %q, want 0.0.1", a.Version)
	}
	if a.Publish == nil || *a.Publish {
		t.Errorf("publish = %v, want false", a.Publish)
	}
	if a.Updated <= 0 {
		t.Errorf("updated = %d, want epoch milliseconds", a.Updated)
	}
	if a.Exec == nil || a.Exec.Kind != kind {
		t.Fatalf("exec = %+v, want kind %q", a.Exec, kind)
	}
	if a.Limits == nil || a.Limits.Timeout == nil || a.Limits.Memory == nil || a.Limits.Logsize == nil || a.Limits.Concurrency == nil {
		t.Errorf("limits = %+v, want all of timeout, memory, logs, concurrency", a.Limits)
	} else if *a.Limits.Timeout != 60000 || *a.Limits.Memory != 256 || *a.Limits.Logsize != 10 || *a.Limits.Concurrency != 1 {
		t.Errorf("limits = timeout %d memory %d logs %d concurrency %d, want 60000/256/10/1",
			*a.Limits.Timeout, *a.Limits.Memory, *a.Limits.Logsize, *a.Limits.Concurrency)
	}
	if v, ok := clientAnnotation(a.Annotations, "exec"); !ok || v != kind {
		t.Errorf("annotation exec = %v (present %v), want %q", v, ok, kind)
	}
	if v, ok := clientAnnotation(a.Annotations, "provide-api-key"); !ok || v != false {
		t.Errorf("annotation provide-api-key = %v (present %v), want false", v, ok)
	}
}

func testCreateGetNodejsText(t *testing.T, c *whisk.Client) {
	name := uniqueName("hello")
	code := actionSource(t, "nodejs/hello.js")
	created := mustInsert(t, c, newAction(name, kindNode, code), false)
	checkNewAction(t, created, name, kindNode)
	if created.Exec.Code == nil || *created.Exec.Code != code {
		t.Errorf("PUT response exec.code differs from what was sent")
	}
	if created.Exec.Binary == nil || *created.Exec.Binary {
		t.Errorf("exec.binary = %v, want false for source text", created.Exec.Binary)
	}

	got, resp, err := c.Actions.Get(name, true)
	if err != nil {
		t.Fatalf("GET with code: status %s: %v", status(resp), err)
	}
	checkNewAction(t, got, name, kindNode)
	if got.Exec.Code == nil || *got.Exec.Code != code {
		t.Errorf("GET ?code=true: exec.code differs from what was stored")
	}
	if got.Updated != created.Updated {
		t.Errorf("GET updated = %d, PUT said %d", got.Updated, created.Updated)
	}

	noCode, resp, err := c.Actions.Get(name, false)
	if err != nil {
		t.Fatalf("GET without code: status %s: %v", status(resp), err)
	}
	if noCode.Exec == nil || noCode.Exec.Kind != kindNode {
		t.Fatalf("GET ?code=false: exec = %+v, want kind %s", noCode.Exec, kindNode)
	}
	if noCode.Exec.Code != nil {
		t.Errorf("GET ?code=false: exec.code present (%d bytes), want absent", len(*noCode.Exec.Code))
	}
	if noCode.Exec.Binary == nil || *noCode.Exec.Binary {
		t.Errorf("GET ?code=false: exec.binary = %v, want false", noCode.Exec.Binary)
	}
}

func testDefaultKinds(t *testing.T, c *whisk.Client) {
	for _, tc := range []struct{ kind, want, src string }{
		{"nodejs:default", kindNode, "nodejs/hello.js"},
		{"python:default", kindPython, "python/hello.py"},
	} {
		name := uniqueName("default-kind")
		a := mustInsert(t, c, newAction(name, tc.kind, actionSource(t, tc.src)), false)
		checkNewAction(t, a, name, tc.want)
		res := invokeResult(t, c, name, map[string]any{"name": "Default"})
		if res["payload"] != "Hello, Default!" {
			t.Errorf("%s: result = %v, want payload \"Hello, Default!\"", tc.kind, res)
		}
	}
}

func testNodejsZip(t *testing.T, c *whisk.Client) {
	name := uniqueName("zip-node")
	code := zipAction(t, "nodejs/zipaction")
	a := newAction(name, kindNode, code)
	a.Exec.Main = "greet"
	created := mustInsert(t, c, a, false)
	checkNewAction(t, created, name, kindNode)
	if created.Exec.Binary == nil || !*created.Exec.Binary {
		t.Errorf("exec.binary = %v, want true for a base64 zip", created.Exec.Binary)
	}
	if created.Exec.Main != "greet" {
		t.Errorf("exec.main = %q, want greet", created.Exec.Main)
	}
	got, _, err := c.Actions.Get(name, true)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	if got.Exec.Code == nil || *got.Exec.Code != code {
		t.Errorf("GET ?code=true: code is not the base64 archive that was sent")
	}
	if got.Exec.Main != "greet" {
		t.Errorf("GET exec.main = %q, want greet", got.Exec.Main)
	}
	res := invokeResult(t, c, name, map[string]any{"name": "Zed"})
	if res["greeting"] != "Zipped hello, Zed!" {
		t.Errorf("result = %v, want greeting \"Zipped hello, Zed!\"", res)
	}
}

func testPythonText(t *testing.T, c *whisk.Client) {
	name := uniqueName("hello-py")
	created := mustInsert(t, c, newAction(name, kindPython, actionSource(t, "python/hello.py")), false)
	checkNewAction(t, created, name, kindPython)
	res := invokeResult(t, c, name, map[string]any{"name": "Py"})
	if res["payload"] != "Hello, Py!" {
		t.Errorf("result = %v, want payload \"Hello, Py!\"", res)
	}
	echo := uniqueName("echo-py")
	mustInsert(t, c, newAction(echo, kindPython, actionSource(t, "python/echo.py")), false)
	in := map[string]any{"a": "b", "n": float64(3), "list": []any{"x", true}, "nested": map[string]any{"k": nil}}
	if got := invokeResult(t, c, echo, in); !reflect.DeepEqual(got, in) {
		t.Errorf("python echo = %v, want %v", got, in)
	}
}

func testPythonZip(t *testing.T, c *whisk.Client) {
	name := uniqueName("zip-py")
	created := mustInsert(t, c, newAction(name, kindPython, zipAction(t, "python/zipaction")), false)
	checkNewAction(t, created, name, kindPython)
	if created.Exec.Binary == nil || !*created.Exec.Binary {
		t.Errorf("exec.binary = %v, want true", created.Exec.Binary)
	}
	res := invokeResult(t, c, name, map[string]any{"name": "py"})
	if res["greeting"] != "Zipped hello, PY!" {
		t.Errorf("result = %v, want greeting \"Zipped hello, PY!\"", res)
	}
}

func testUpdate(t *testing.T, c *whisk.Client) {
	name := uniqueName("update")
	first := mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/hello.js")), false)
	if res := invokeResult(t, c, name, nil); res["payload"] != "Hello, stranger!" {
		t.Errorf("before update: result = %v", res)
	}
	nextMilli()

	echo := actionSource(t, "nodejs/echo.js")
	second := mustInsert(t, c, newAction(name, kindNode, echo), true)
	if second.Version != "0.0.2" {
		t.Errorf("version after update = %q, want 0.0.2", second.Version)
	}
	if second.Updated <= first.Updated {
		t.Errorf("updated after update = %d, want > %d", second.Updated, first.Updated)
	}
	got, _, err := c.Actions.Get(name, true)
	if err != nil {
		t.Fatalf("GET after update: %v", err)
	}
	if got.Version != "0.0.2" || got.Exec.Code == nil || *got.Exec.Code != echo {
		t.Errorf("GET after update: version %q, code updated %v", got.Version, got.Exec.Code != nil && *got.Exec.Code == echo)
	}
	in := map[string]any{"updated": true}
	if res := invokeResult(t, c, name, in); !reflect.DeepEqual(res, in) {
		t.Errorf("after update: result = %v, want the echo %v", res, in)
	}

	// An update that only changes limits keeps the code and bumps again.
	third := mustInsert(t, c, &whisk.Action{Name: name, Limits: &whisk.Limits{Timeout: intPtr(5000)}}, true)
	if third.Version != "0.0.3" {
		t.Errorf("version after second update = %q, want 0.0.3", third.Version)
	}
	if third.Limits == nil || third.Limits.Timeout == nil || *third.Limits.Timeout != 5000 ||
		third.Limits.Memory == nil || *third.Limits.Memory != 256 {
		t.Errorf("limits after limits-only update = %+v, want timeout 5000 and memory kept at 256", third.Limits)
	}
	if third.Exec == nil || third.Exec.Kind != kindNode {
		t.Errorf("exec after limits-only update = %+v, want kind kept", third.Exec)
	}
}

func testList(t *testing.T, c *whisk.Client) {
	names := []string{uniqueName("list-a"), uniqueName("list-b"), uniqueName("list-c")}
	for _, n := range names {
		mustInsert(t, c, newAction(n, kindNode, actionSource(t, "nodejs/echo.js")), false)
		nextMilli() // distinct "updated" milliseconds
	}

	all, resp, err := c.Actions.List("", &whisk.ActionListOptions{Limit: 200})
	if err != nil {
		t.Fatalf("list: status %s: %v", status(resp), err)
	}
	if !sort.SliceIsSorted(all, func(i, j int) bool { return all[i].Updated > all[j].Updated }) {
		t.Errorf("list is not ordered by updated, newest first: %v", listNames(all))
	}
	var ours []string
	for _, a := range all {
		for _, n := range names {
			if a.Name == n {
				ours = append(ours, n)
			}
		}
		if a.Exec == nil || a.Exec.Binary == nil {
			t.Errorf("list entry %q: exec = %+v, want {\"binary\":...}", a.Name, a.Exec)
		} else if a.Exec.Code != nil {
			t.Errorf("list entry %q carries code; summaries must not", a.Name)
		}
		if a.Namespace != harness.GuestNamespace || a.Version == "" || a.Updated == 0 {
			t.Errorf("list entry %+v lacks namespace/version/updated", a)
		}
	}
	want := []string{names[2], names[1], names[0]}
	if !reflect.DeepEqual(ours, want) {
		t.Errorf("our actions in list order = %v, want newest first %v", ours, want)
	}

	if len(all) < 3 {
		t.Fatalf("list returned %d actions, want at least 3", len(all))
	}
	page, _, err := c.Actions.List("", &whisk.ActionListOptions{Limit: 2})
	if err != nil {
		t.Fatalf("list limit=2: %v", err)
	}
	if got, want := listNames(page), listNames(all[:2]); !reflect.DeepEqual(got, want) {
		t.Errorf("limit=2 = %v, want %v", got, want)
	}
	page, _, err = c.Actions.List("", &whisk.ActionListOptions{Limit: 2, Skip: 1})
	if err != nil {
		t.Fatalf("list skip=1 limit=2: %v", err)
	}
	if got, want := listNames(page), listNames(all[1:3]); !reflect.DeepEqual(got, want) {
		t.Errorf("skip=1 limit=2 = %v, want %v", got, want)
	}

	// Updating the oldest makes it the newest.
	nextMilli()
	mustInsert(t, c, newAction(names[0], kindNode, actionSource(t, "nodejs/hello.js")), true)
	page, _, err = c.Actions.List("", &whisk.ActionListOptions{Limit: 1})
	if err != nil {
		t.Fatalf("list limit=1: %v", err)
	}
	if len(page) != 1 || page[0].Name != names[0] {
		t.Errorf("after updating %s, list limit=1 = %v, want it first", names[0], listNames(page))
	}
}

func listNames(as []whisk.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}

func testInvokeBlockingResult(t *testing.T, c *whisk.Client) {
	name := uniqueName("hello")
	mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/hello.js")), false)
	res, resp, err := c.Actions.Invoke(name, map[string]any{"name": "Brisk"}, true, true)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: status %s: %v", status(resp), err)
	}
	var got map[string]any
	reshape(t, res, &got)
	if want := map[string]any{"payload": "Hello, Brisk!"}; !reflect.DeepEqual(got, want) {
		t.Errorf("result = %v, want %v", got, want)
	}
	if id := resp.Header.Get("X-Openwhisk-Activation-Id"); !activationIDRe.MatchString(id) {
		t.Errorf("x-openwhisk-activation-id = %q, want 32 lowercase hex", id)
	}
}

func testInvokeBlockingActivation(t *testing.T, c *whisk.Client) {
	name := uniqueName("hello")
	mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/hello.js")), false)
	before := time.Now().Add(-time.Minute).UnixMilli()
	rec, resp, err := invokeBlocking(t, c, name, map[string]any{"name": "Full"})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: status %s: %v", status(resp), err)
	}
	if !activationIDRe.MatchString(rec.ActivationID) {
		t.Errorf("activationId = %q, want 32 lowercase hex", rec.ActivationID)
	}
	if h := resp.Header.Get("X-Openwhisk-Activation-Id"); h != rec.ActivationID {
		t.Errorf("x-openwhisk-activation-id = %q, body activationId = %q", h, rec.ActivationID)
	}
	if rec.Namespace != harness.GuestNamespace || rec.Name != name || rec.Subject != harness.GuestNamespace || rec.Version != "0.0.1" {
		t.Errorf("namespace/name/subject/version = %q/%q/%q/%q", rec.Namespace, rec.Name, rec.Subject, rec.Version)
	}
	if rec.Start < before || rec.End < rec.Start || rec.Duration < 0 {
		t.Errorf("start/end/duration = %d/%d/%d", rec.Start, rec.End, rec.Duration)
	}
	if rec.Response.Status != "success" || !rec.Response.Success || rec.Response.Result["payload"] != "Hello, Full!" {
		t.Errorf("response = %+v", rec.Response)
	}
	if v, _ := annotation(rec.Annotations, "path"); v != harness.GuestNamespace+"/"+name {
		t.Errorf("annotation path = %v, want %s/%s", v, harness.GuestNamespace, name)
	}
	if v, _ := annotation(rec.Annotations, "kind"); v != kindNode {
		t.Errorf("annotation kind = %v, want %s", v, kindNode)
	}
	if v, ok := annotation(rec.Annotations, "timeout"); !ok || v != false {
		t.Errorf("annotation timeout = %v (present %v), want false", v, ok)
	}
	if v, ok := annotation(rec.Annotations, "limits"); !ok {
		t.Errorf("annotation limits missing")
	} else if m, _ := v.(map[string]any); m["timeout"] != float64(60000) || m["memory"] != float64(256) {
		t.Errorf("annotation limits = %v, want timeout 60000 memory 256", v)
	}
	if _, ok := annotation(rec.Annotations, "waitTime"); !ok {
		t.Errorf("annotation waitTime missing")
	}

	// The stored record says the same.
	a := waitActivation(t, c, rec.ActivationID, false)
	if a.Name != name || a.Response.Status != "success" || !a.Response.Success {
		t.Errorf("stored activation = %+v", a)
	}
	if got := resultOf(t, a); got["payload"] != "Hello, Full!" {
		t.Errorf("stored result = %v", got)
	}
}

func testPromiseAndAsync(t *testing.T, c *whisk.Client) {
	for _, tc := range []struct {
		src  string
		in   map[string]any
		want string
	}{
		{"nodejs/promise.js", map[string]any{"word": "kept"}, "promised kept"},
		{"nodejs/async.js", map[string]any{"delay": 200}, "resolved after 200 ms"},
	} {
		name := uniqueName("promise")
		mustInsert(t, c, newAction(name, kindNode, actionSource(t, tc.src)), false)
		if res := invokeResult(t, c, name, tc.in); res["payload"] != tc.want {
			t.Errorf("%s: result = %v, want payload %q", tc.src, res, tc.want)
		}
	}
}

func testNonBlocking(t *testing.T, c *whisk.Client) {
	name := uniqueName("sleep")
	mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/sleep.js")), false)
	res, resp, err := c.Actions.Invoke(name, map[string]any{"ms": 500}, false, false)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("non-blocking invoke: status %s (want 202): %v", status(resp), err)
	}
	var body map[string]any
	reshape(t, res, &body)
	id, _ := body["activationId"].(string)
	if len(body) != 1 || !activationIDRe.MatchString(id) {
		t.Fatalf("202 body = %v, want exactly {\"activationId\": <32 hex>}", body)
	}
	if h := resp.Header.Get("X-Openwhisk-Activation-Id"); h != id {
		t.Errorf("x-openwhisk-activation-id = %q, want %q", h, id)
	}

	a := waitActivation(t, c, id, false)
	if a.ActivationID != id || a.Name != name || a.Response.Status != "success" || !a.Response.Success {
		t.Errorf("activation = %+v", a)
	}
	if got := resultOf(t, a); got["slept"] != float64(500) {
		t.Errorf("result = %v, want slept 500", got)
	}

	r, _, err := c.Activations.Result(id)
	if err != nil {
		t.Fatalf("GET activation result: %v", err)
	}
	if r.Status != "success" || !r.Success {
		t.Errorf("activation result = %+v, want status success", r)
	}

	list, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: name, Limit: 10})
	if err != nil {
		t.Fatalf("list activations name=%s: %v", name, err)
	}
	if len(list) != 1 || list[0].ActivationID != id {
		t.Errorf("activations named %s = %+v, want just %s", name, list, id)
	}

	// A second activation of the same action comes first in the list.
	rec, _, err := invokeBlocking(t, c, name, map[string]any{"ms": 1})
	if err != nil {
		t.Fatalf("second invoke: %v", err)
	}
	waitActivation(t, c, rec.ActivationID, false)
	list, _, err = c.Activations.List(&whisk.ActivationListOptions{Name: name, Limit: 10})
	if err != nil {
		t.Fatalf("list activations: %v", err)
	}
	if len(list) != 2 || list[0].ActivationID != rec.ActivationID || list[1].ActivationID != id {
		t.Errorf("activation list = %v, want [%s %s] (newest first)", activationIDs(list), rec.ActivationID, id)
	}
	all, _, err := c.Activations.List(&whisk.ActivationListOptions{Limit: 200})
	if err != nil {
		t.Fatalf("list all activations: %v", err)
	}
	if !sort.SliceIsSorted(all, func(i, j int) bool { return all[i].Start > all[j].Start }) {
		t.Errorf("activations are not ordered by start, newest first")
	}
}

func activationIDs(as []whisk.Activation) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ActivationID
	}
	return out
}

// logLineRe splits "<timestamp padded to 30> <stream>: <text>".
var logLineRe = regexp.MustCompile(`^(\S+) +(stdout|stderr): (.*)$`)

func testLogs(t *testing.T, c *whisk.Client) {
	name := uniqueName("logs")
	mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/logs.js")), false)
	rec, resp, err := invokeBlocking(t, c, name, map[string]any{"count": 3})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: status %s: %v", status(resp), err)
	}
	stored := waitActivation(t, c, rec.ActivationID, true)

	got, _, err := c.Activations.Logs(rec.ActivationID)
	if err != nil {
		t.Fatalf("GET activation logs: %v", err)
	}
	if !reflect.DeepEqual(got.Logs, stored.Logs) {
		t.Errorf("/logs = %q, activation record logs = %q", got.Logs, stored.Logs)
	}
	var stdout, stderr []string
	for _, line := range got.Logs {
		m := logLineRe.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("log line %q is not \"<timestamp> <stream>: <text>\"", line)
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Errorf("log line %q: timestamp: %v", line, err)
		}
		if len(line) < 31 || line[30] != ' ' {
			t.Errorf("log line %q: timestamp not padded to 30 characters", line)
		}
		if strings.Contains(line, logproto.Sentinel) {
			t.Errorf("log line %q: sentinel leaked into the logs", line)
		}
		if m[2] == "stdout" {
			stdout = append(stdout, m[3])
		} else {
			stderr = append(stderr, m[3])
		}
	}
	if want := []string{"compat log line 1", "compat log line 2", "compat log line 3"}; !reflect.DeepEqual(stdout, want) {
		t.Errorf("stdout lines = %q, want %q", stdout, want)
	}
	if want := []string{"compat error line"}; !reflect.DeepEqual(stderr, want) {
		t.Errorf("stderr lines = %q, want %q", stderr, want)
	}
}

func testApplicationError(t *testing.T, c *whisk.Client) {
	name := uniqueName("apperror")
	mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/apperror.js")), false)

	res, resp, err := c.Actions.Invoke(name, map[string]any{"why": "testing"}, true, true)
	if resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Errorf("blocking result=true: status %s, want 502", status(resp))
	}
	if err == nil {
		t.Errorf("blocking result=true: client returned no error")
	} else if we, ok := err.(*whisk.WskError); !ok || !we.ApplicationError {
		t.Errorf("client error %T %v, want a WskError flagged ApplicationError", err, err)
	}
	var result map[string]any
	reshape(t, res, &result)
	if want := map[string]any{"error": "bad input: testing"}; !reflect.DeepEqual(result, want) {
		t.Errorf("blocking result=true body = %v, want %v", result, want)
	}

	rec, resp, err := invokeBlocking(t, c, name, map[string]any{"why": "full"})
	msg := checkErrorResult(t, rec, resp, err, "application error")
	if msg != "bad input: full" {
		t.Errorf("error = %q, want %q", msg, "bad input: full")
	}
	a := waitActivation(t, c, rec.ActivationID, false)
	if a.Response.Status != "application error" || a.Response.Success {
		t.Errorf("stored activation response = %+v", a.Response)
	}
	r, _, err := c.Activations.Result(rec.ActivationID)
	if err != nil {
		t.Fatalf("GET result: %v", err)
	}
	if r.Status != "application error" || r.Success {
		t.Errorf("GET result = %+v, want status application error", r)
	}
}

func testPythonApplicationError(t *testing.T, c *whisk.Client) {
	name := uniqueName("apperror-py")
	mustInsert(t, c, newAction(name, kindPython, actionSource(t, "python/apperror.py")), false)
	rec, resp, err := invokeBlocking(t, c, name, nil)
	if msg := checkErrorResult(t, rec, resp, err, "application error"); msg != "python raised on purpose" {
		t.Errorf("error = %q, want %q", msg, "python raised on purpose")
	}
}

func testThrownException(t *testing.T, c *whisk.Client) {
	name := uniqueName("throw")
	mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/throw.js")), false)
	rec, resp, err := invokeBlocking(t, c, name, nil)
	msg := checkErrorResult(t, rec, resp, err, "action developer error")
	if !strings.HasPrefix(msg, "An error has occurred") || !strings.Contains(msg, "compat suite thrown on purpose") {
		t.Errorf("error = %q, want \"An error has occurred: ...compat suite thrown on purpose\"", msg)
	}
	a := waitActivation(t, c, rec.ActivationID, false)
	if a.Response.Status != "action developer error" || whisk.GetStatusCodeForMessage(a.Response.Status) != 2 {
		t.Errorf("stored status = %q", a.Response.Status)
	}
}

func testExitDuringInit(t *testing.T, c *whisk.Client) {
	name := uniqueName("exitinit")
	mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/exitinit.js")), false)
	for i := 0; i < 2; i++ { // a broken container must not wedge later invocations
		rec, resp, err := invokeBlocking(t, c, name, nil)
		msg := checkErrorResult(t, rec, resp, err, "action developer error")
		if msg != "The action did not initialize and exited unexpectedly." {
			t.Errorf("invoke %d: error = %q, want %q", i+1, msg, "The action did not initialize and exited unexpectedly.")
		}
	}
	// Other actions still run.
	hello := uniqueName("hello")
	mustInsert(t, c, newAction(hello, kindNode, actionSource(t, "nodejs/hello.js")), false)
	if res := invokeResult(t, c, hello, nil); res["payload"] != "Hello, stranger!" {
		t.Errorf("hello after a dead init: %v", res)
	}
}

func testTimeout(t *testing.T, c *whisk.Client) {
	name := uniqueName("timeout")
	a := newAction(name, kindNode, actionSource(t, "nodejs/sleep.js"))
	a.Limits = &whisk.Limits{Timeout: intPtr(1000)}
	created := mustInsert(t, c, a, false)
	if created.Limits == nil || created.Limits.Timeout == nil || *created.Limits.Timeout != 1000 {
		t.Errorf("limits = %+v, want timeout 1000", created.Limits)
	}
	// Warm the container first, so that the timed call below measures the
	// run alone and not a cold start.
	if res := invokeResult(t, c, name, map[string]any{"ms": 10}); res["slept"] != float64(10) {
		t.Errorf("warm-up: result = %v", res)
	}
	rec, resp, err := invokeBlocking(t, c, name, map[string]any{"ms": 30000})
	msg := checkErrorResult(t, rec, resp, err, "action developer error")
	if want := "The action exceeded its time limits of 1000 milliseconds."; msg != want {
		t.Errorf("error = %q, want %q", msg, want)
	}
	if v, ok := annotation(rec.Annotations, "timeout"); !ok || v != true {
		t.Errorf("annotation timeout = %v (present %v), want true", v, ok)
	}
	// The record shows the run was cut at the limit, not at the end of its sleep.
	if rec.Duration >= 30000 {
		t.Errorf("duration = %d ms; the run should be cut at 1000 ms, not finish its 30000 ms sleep", rec.Duration)
	}
	// The action is usable again afterwards.
	if res := invokeResult(t, c, name, map[string]any{"ms": 10}); res["slept"] != float64(10) {
		t.Errorf("after timeout: result = %v", res)
	}
}

func testParameters(t *testing.T, c *whisk.Client) {
	name := uniqueName("params")
	a := newAction(name, kindNode, actionSource(t, "nodejs/echo.js"))
	a.Parameters = whisk.KeyValueArr{{Key: "name", Value: "default"}, {Key: "place", Value: "param"}}
	created := mustInsert(t, c, a, false)
	var params []keyValue
	reshape(t, created.Parameters, &params)
	if want := []keyValue{{"name", "default"}, {"place", "param"}}; !reflect.DeepEqual(params, want) {
		t.Errorf("parameters = %v, want %v", params, want)
	}

	if got, want := invokeResult(t, c, name, nil), map[string]any{"name": "default", "place": "param"}; !reflect.DeepEqual(got, want) {
		t.Errorf("no payload: result = %v, want %v", got, want)
	}
	got := invokeResult(t, c, name, map[string]any{"name": "payload", "extra": float64(1)})
	if want := map[string]any{"name": "payload", "place": "param", "extra": float64(1)}; !reflect.DeepEqual(got, want) {
		t.Errorf("payload overrides: result = %v, want %v", got, want)
	}
}

func testEnvironment(t *testing.T, srv *harness.Server, c *whisk.Client) {
	name := uniqueName("env")
	mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/env.js")), false)
	rec, resp, err := invokeBlocking(t, c, name, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: status %s: %v", status(resp), err)
	}
	env := rec.Response.Result
	if want := "/" + harness.GuestNamespace + "/" + name; env["action_name"] != want {
		t.Errorf("__OW_ACTION_NAME = %v, want %q", env["action_name"], want)
	}
	if env["namespace"] != harness.GuestNamespace {
		t.Errorf("__OW_NAMESPACE = %v, want %q", env["namespace"], harness.GuestNamespace)
	}
	if env["activation_id"] != rec.ActivationID {
		t.Errorf("__OW_ACTIVATION_ID = %v, want this activation %q", env["activation_id"], rec.ActivationID)
	}
	if env["action_version"] != "0.0.1" {
		t.Errorf("__OW_ACTION_VERSION = %v, want 0.0.1", env["action_version"])
	}
	if d, _ := env["deadline"].(string); d == "" {
		t.Errorf("__OW_DEADLINE missing")
	} else if ms, err := strconv.ParseInt(d, 10, 64); err != nil || ms < time.Now().UnixMilli() {
		t.Errorf("__OW_DEADLINE = %q, want epoch ms in the future of the run", d)
	}
	if env["has_api_key"] != false {
		t.Errorf("__OW_API_KEY present without provide-api-key: %v", env["api_key"])
	}
	t.Logf("__OW_API_HOST = %v", env["api_host"])

	// A second run in the (likely reused) container sees its own id.
	rec2, _, err := invokeBlocking(t, c, name, nil)
	if err != nil {
		t.Fatalf("second invoke: %v", err)
	}
	if rec2.Response.Result["activation_id"] != rec2.ActivationID || rec2.ActivationID == rec.ActivationID {
		t.Errorf("second run __OW_ACTIVATION_ID = %v, activation %q", rec2.Response.Result["activation_id"], rec2.ActivationID)
	}

	keyed := uniqueName("env-key")
	a := newAction(keyed, kindNode, actionSource(t, "nodejs/env.js"))
	a.Annotations = whisk.KeyValueArr{{Key: "provide-api-key", Value: true}}
	created := mustInsert(t, c, a, false)
	if v, _ := clientAnnotation(created.Annotations, "provide-api-key"); v != true {
		t.Errorf("annotation provide-api-key = %v, want true as given", v)
	}
	res := invokeResult(t, c, keyed, nil)
	if res["has_api_key"] != true || res["api_key"] != srv.Auth {
		t.Errorf("with provide-api-key: __OW_API_KEY present %v, value %v; want the guest key", res["has_api_key"], res["api_key"])
	}
}

func testDeleteThenGet(t *testing.T, c *whisk.Client) {
	name := uniqueName("delete")
	mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/hello.js")), false)
	resp, err := c.Actions.Delete(name)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: status %s: %v", status(resp), err)
	}
	const notFound = "The requested resource does not exist."
	_, resp, err = c.Actions.Get(name, false)
	if resp == nil || resp.StatusCode != http.StatusNotFound || err == nil || !strings.Contains(err.Error(), notFound) {
		t.Errorf("GET after DELETE: status %s, err %v; want 404 %q", status(resp), err, notFound)
	}
	resp, err = c.Actions.Delete(name)
	if resp == nil || resp.StatusCode != http.StatusNotFound || err == nil {
		t.Errorf("second DELETE: status %s, err %v; want 404", status(resp), err)
	}
	_, resp, err = c.Actions.Invoke(name, nil, true, true)
	if resp == nil || resp.StatusCode != http.StatusNotFound || err == nil {
		t.Errorf("invoke after DELETE: status %s, err %v; want 404", status(resp), err)
	}
	all, _, err := c.Actions.List("", &whisk.ActionListOptions{Limit: 200})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for _, a := range all {
		if a.Name == name {
			t.Errorf("deleted action %s still listed", name)
		}
	}
}

// TestRestartPersistence checks that actions and activations survive a
// SIGTERM and a restart on the same data directory.
func TestRestartPersistence(t *testing.T) {
	harness.RequireOwnServer(t, "it restarts the server")
	srv := harness.Start(t)
	c := srv.Client

	name := uniqueName("persist")
	code := actionSource(t, "nodejs/hello.js")
	created := mustInsert(t, c, newAction(name, kindNode, code), false)
	rec, resp, err := invokeBlocking(t, c, name, map[string]any{"name": "Before"})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: status %s: %v", status(resp), err)
	}
	logsName := uniqueName("persist-logs")
	mustInsert(t, c, newAction(logsName, kindNode, actionSource(t, "nodejs/logs.js")), false)
	logRec, _, err := invokeBlocking(t, c, logsName, map[string]any{"count": 1})
	if err != nil {
		t.Fatalf("invoke logs action: %v", err)
	}
	before := waitActivation(t, c, logRec.ActivationID, true)
	waitActivation(t, c, rec.ActivationID, false)

	srv.Restart()
	c = srv.NewClient(srv.Auth)

	got, resp, err := c.Actions.Get(name, true)
	if err != nil {
		t.Fatalf("GET action after restart: status %s: %v", status(resp), err)
	}
	if got.Version != created.Version || got.Updated != created.Updated || got.Exec == nil || got.Exec.Code == nil || *got.Exec.Code != code {
		t.Errorf("action after restart = %+v, want the one created before", got)
	}
	a, resp, err := c.Activations.Get(rec.ActivationID)
	if err != nil {
		t.Fatalf("GET activation after restart: status %s: %v", status(resp), err)
	}
	if a.Name != name || a.Response.Status != "success" || resultOf(t, a)["payload"] != "Hello, Before!" {
		t.Errorf("activation after restart = %+v", a)
	}
	logs, _, err := c.Activations.Logs(logRec.ActivationID)
	if err != nil {
		t.Fatalf("GET logs after restart: %v", err)
	}
	if !reflect.DeepEqual(logs.Logs, before.Logs) {
		t.Errorf("logs after restart = %q, before = %q", logs.Logs, before.Logs)
	}
	list, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: name, Limit: 10})
	if err != nil || len(list) != 1 || list[0].ActivationID != rec.ActivationID {
		t.Errorf("activation list after restart = %v (err %v), want [%s]", activationIDs(list), err, rec.ActivationID)
	}
	if res := invokeResult(t, c, name, map[string]any{"name": "After"}); res["payload"] != "Hello, After!" {
		t.Errorf("invoke after restart: %v", res)
	}
}
