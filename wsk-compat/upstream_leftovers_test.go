package wskcompat

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// Upstream's messages checked by the tests in this file.
const (
	msgRouteNotFound = "The requested resource could not be found."
	msgAbnormalRun   = "The action did not produce a valid response and exited unexpectedly."
)

// wantClientError checks a client-go failure: the status and that the
// error's text is upstream's message (client-go appends " (code ...)").
func wantClientError(t *testing.T, what string, resp *http.Response, err error, wantStatus int, msg string) {
	t.Helper()
	if err == nil || resp == nil || resp.StatusCode != wantStatus {
		t.Errorf("%s: status %s, err %v; want %d %q", what, status(resp), err, wantStatus, msg)
		return
	}
	if got := err.Error(); got != msg && !strings.HasPrefix(got, msg+" (code ") {
		t.Errorf("%s: error %q, want %q", what, got, msg)
	}
}

// TestNotFoundMessages checks upstream's not-found messages: a GET of a
// missing package names it (upstream's package entitlement reads it); the
// other collections, and a DELETE of a package, answer the plain message.
func TestNotFoundMessages(t *testing.T) {
	srv := harness.Start(t)
	c := srv.Client
	name := uniqueName("nonexistentPackage")

	_, resp, err := c.Packages.Get(name)
	wantClientError(t, "get package", resp, err, http.StatusNotFound,
		"The requested resource '"+srv.Namespace+"/"+name+"' does not exist.")
	resp, err = c.Packages.Delete(name)
	wantClientError(t, "delete package", resp, err, http.StatusNotFound, msgNotFound)
	_, resp, err = c.Actions.Get(name, false)
	wantClientError(t, "get action", resp, err, http.StatusNotFound, msgNotFound)
	_, resp, err = c.Actions.Get(name+"/x", false)
	wantClientError(t, "get action in a missing package", resp, err, http.StatusNotFound, msgNotFound)
	_, resp, err = c.Triggers.Get(name)
	wantClientError(t, "get trigger", resp, err, http.StatusNotFound, msgNotFound)
	_, resp, err = c.Rules.Get(name)
	wantClientError(t, "get rule", resp, err, http.StatusNotFound, msgNotFound)
	_, resp, err = c.Activations.Get("0123456789abcdef0123456789abcdef")
	wantClientError(t, "get activation", resp, err, http.StatusNotFound, msgNotFound)
}

// TestEmptyEntityName checks that writing an entity with an empty name is
// upstream's 404 (no such route) in every collection, while GET of the
// collection with a trailing slash still lists.
func TestEmptyEntityName(t *testing.T) {
	srv := harness.Start(t)
	c := srv.Client
	_, resp, err := c.Actions.Insert(newAction("", kindNode, actionSource(t, "nodejs/hello.js")), false)
	wantClientError(t, "put action", resp, err, http.StatusNotFound, msgRouteNotFound)
	resp, err = c.Actions.Delete("")
	wantClientError(t, "delete action", resp, err, http.StatusNotFound, msgRouteNotFound)
	_, resp, err = c.Packages.Insert(&whisk.Package{Name: ""}, false)
	wantClientError(t, "put package", resp, err, http.StatusNotFound, msgRouteNotFound)
	resp, err = c.Packages.Delete("")
	wantClientError(t, "delete package", resp, err, http.StatusNotFound, msgRouteNotFound)
	_, resp, err = c.Triggers.Insert(&whisk.Trigger{Name: ""}, false)
	wantClientError(t, "put trigger", resp, err, http.StatusNotFound, msgRouteNotFound)
	_, resp, err = c.Triggers.Delete("")
	wantClientError(t, "delete trigger", resp, err, http.StatusNotFound, msgRouteNotFound)
	_, resp, err = c.Rules.Insert(&whisk.Rule{Name: "", Trigger: "t", Action: "a"}, false)
	wantClientError(t, "put rule", resp, err, http.StatusNotFound, msgRouteNotFound)
	resp, err = c.Rules.Delete("")
	wantClientError(t, "delete rule", resp, err, http.StatusNotFound, msgRouteNotFound)

	pkg := uniqueName("pkg")
	if _, _, err := c.Packages.Insert(&whisk.Package{Name: pkg}, false); err != nil {
		t.Fatalf("create package: %v", err)
	}
	_, resp, err = c.Actions.Insert(newAction(pkg+"/", kindNode, actionSource(t, "nodejs/hello.js")), false)
	wantClientError(t, "put action in package", resp, err, http.StatusNotFound, msgRouteNotFound)
	for _, coll := range []string{"actions/", "actions/" + pkg + "/", "packages/", "triggers/", "rules/", "activations/"} {
		if r := rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/"+coll, srv.Auth, nil); r.Status != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200: %s", coll, r.Status, r.Body)
		}
	}
}

// TestExitDuringRun checks upstream's result for an action whose process
// exits inside main: a developer error with upstream's text, the exit status
// in the logs only; the next invoke runs in a fresh container.
func TestExitDuringRun(t *testing.T) {
	srv := harness.Start(t)
	c := srv.Client
	name := uniqueName("exitrun")
	mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/exitrun.js")), false)
	for i := 0; i < 2; i++ {
		rec, resp, err := invokeBlocking(t, c, name, nil)
		if msg := checkErrorResult(t, rec, resp, err, "action developer error"); msg != msgAbnormalRun {
			t.Errorf("invoke %d: error = %q, want %q", i+1, msg, msgAbnormalRun)
		}
		a := waitActivation(t, c, rec.ActivationID, true)
		logs := strings.Join(a.Logs, "\n")
		if !strings.Contains(logs, "exiting during the run") || !strings.Contains(logs, "exit status 1") {
			t.Errorf("invoke %d: logs %q, want the action's line and the exit status", i+1, a.Logs)
		}
	}
}

// TestRequestURILimit checks the 414 upstream's controllers answer for a
// request URI over their max-uri-length (8k by default, a setting here):
// through the npm client's and client-go's ordinary requests, and at the
// bound exactly.
func TestRequestURILimit(t *testing.T) {
	harness.RequireOwnServer(t, "it sets --max-uri-length")
	srv := harness.StartWith(t, "--max-uri-length", "1024")
	const msg = "URI length exceeds the configured limit of 1024 characters"
	c := srv.Client
	long := strings.Repeat("a", 1100)
	_, resp, err := c.Actions.List("", &whisk.ActionListOptions{Limit: 1})
	if err != nil {
		t.Fatalf("short list: status %s: %v", status(resp), err)
	}
	_, resp, err = c.Actions.Get(long, false)
	if resp == nil || resp.StatusCode != http.StatusRequestURITooLong || err == nil {
		t.Errorf("get with a long name: status %s, err %v; want 414", status(resp), err)
	}
	path := "/api/v1/namespaces/_/actions?name="
	at := path + strings.Repeat("b", 1024-len(path))
	if r := rawRequest(t, srv, http.MethodGet, at, srv.Auth, nil); r.Status != http.StatusOK {
		t.Errorf("URI of exactly 1024 bytes: status %d, want 200: %s", r.Status, r.Body)
	}
	r := rawRequest(t, srv, http.MethodGet, at+"b", srv.Auth, nil)
	if r.Status != http.StatusRequestURITooLong || string(r.Body) != msg {
		t.Errorf("URI of 1025 bytes: %d %q, want 414 %q", r.Status, r.Body, msg)
	}
	// Web actions and unauthenticated routes too.
	if r := rawRequest(t, srv, http.MethodGet, "/api/v1/web/guest/default/x?q="+long, "", nil); r.Status != http.StatusRequestURITooLong {
		t.Errorf("long web action URI: status %d, want 414", r.Status)
	}
}

// TestStoreActivationsFalse checks the namespace limit storeActivations
// false (wskadmin limits set NS --storeActivations false): blocking callers
// get their result, nothing is recorded (activation get is 404), for
// actions and sequences; set back to true, records are written again.
func TestStoreActivationsFalse(t *testing.T) {
	harness.RequireOwnServer(t, "it changes the guest namespace's limits")
	srv := harness.Start(t)
	c := srv.Client
	briskAdmin(t, srv, "limits", "set", srv.Namespace, "--storeActivations", "false")
	if got := briskAdmin(t, srv, "limits", "get", srv.Namespace); !strings.Contains(got, "storeActivations = false") {
		t.Errorf("limits get: %q, want storeActivations = false", got)
	}
	name := uniqueName("nostore")
	mustInsert(t, c, newAction(name, kindNode, actionSource(t, "nodejs/hello.js")), false)
	seq := uniqueName("nostore-seq")
	s := &whisk.Action{Name: seq, Exec: &whisk.Exec{Kind: "sequence", Components: []string{"/_/" + name}}}
	mustInsert(t, c, s, false)

	var unstored []string
	for _, n := range []string{name, seq} {
		rec, resp, err := invokeBlocking(t, c, n, map[string]any{"name": "Ada"})
		if err != nil || resp.StatusCode != http.StatusOK || rec.Response.Result["payload"] != "Hello, Ada!" {
			t.Fatalf("invoke %s: status %s, %+v: %v", n, status(resp), rec.Response, err)
		}
		unstored = append(unstored, rec.ActivationID)
		unstored = append(unstored, rec.Logs...) // the sequence's component
	}
	nonBlocking, resp, err := c.Actions.Invoke(name, nil, false, false)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("non-blocking invoke: status %s: %v", status(resp), err)
	}
	var accepted struct {
		ActivationID string `json:"activationId"`
	}
	reshape(t, nonBlocking, &accepted)
	unstored = append(unstored, accepted.ActivationID)

	// Records are written in order: once one made afterwards is stored, the
	// earlier ones would be too.
	briskAdmin(t, srv, "limits", "set", srv.Namespace, "--storeActivations", "true")
	rec, _, err := invokeBlocking(t, c, name, nil)
	if err != nil {
		t.Fatalf("invoke after storeActivations true: %v", err)
	}
	waitActivation(t, c, rec.ActivationID, false)
	for _, id := range unstored {
		_, resp, err := c.Activations.Get(id)
		wantClientError(t, "get unstored activation "+id, resp, err, http.StatusNotFound, msgNotFound)
	}
}

// TestImageAction checks a blackbox action with an image and no code (wsk
// action create x --docker img): accepted as upstream, read back without
// exec.code; invoking it is a clear error until image actions run.
func TestImageAction(t *testing.T) {
	srv := harness.Start(t)
	c := srv.Client
	name := uniqueName("image")
	created := mustInsert(t, c, &whisk.Action{Name: name, Exec: &whisk.Exec{Kind: "blackbox", Image: "openwhisk/example"}}, false)
	if created.Exec == nil || created.Exec.Image != "openwhisk/example" || created.Exec.Code != nil {
		t.Errorf("created exec = %+v, want image openwhisk/example and no code", created.Exec)
	}
	r := rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/actions/"+name, srv.Auth, nil)
	if r.Status != http.StatusOK || strings.Contains(string(r.Body), `"code"`) || !strings.Contains(string(r.Body), `"image":"openwhisk/example"`) {
		t.Errorf("GET: %d %s, want the image and no exec.code", r.Status, r.Body)
	}
	// client-go reports a 500 without its body: read the activation raw.
	r = rawRequest(t, srv, http.MethodPost, "/api/v1/namespaces/_/actions/"+name+"?blocking=true", srv.Auth, nil)
	var rec record
	if err := json.Unmarshal(r.Body, &rec); err != nil {
		t.Fatalf("invoke: %d %s: %v", r.Status, r.Body, err)
	}
	want := "The action's image 'openwhisk/example' cannot be run: blackbox actions with an image of their own and no code are not supported yet."
	if r.Status != http.StatusInternalServerError || rec.Response.Status != "whisk internal error" || rec.Response.Result["error"] != want {
		t.Errorf("invoke: %d %+v; want 500, whisk internal error %q", r.Status, rec.Response, want)
	}
	a := waitActivation(t, c, rec.ActivationID, false)
	if got := resultOf(t, a)["error"]; got != want {
		t.Errorf("stored result error %q, want %q", got, want)
	}
	// An image that is not a string is refused with upstream's message.
	r = rawRequest(t, srv, http.MethodPut, "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", srv.Auth,
		strings.NewReader(`{"exec":{"kind":"blackbox","image":7}}`))
	expectError(t, r, http.StatusBadRequest, exact, msgMalformed+"'image' must be a string defined in 'exec' for 'blackbox' actions")
}

// TestSystemLimitSettings starts a server with system limits of its own
// (upstream's limit_action_time_max and the like) and checks that GET
// namespaces/_/limits reports them and that they are enforced with
// upstream's messages: a 15-minute action timeout, memory, logs, payload
// and sequence length.
func TestSystemLimitSettings(t *testing.T) {
	harness.RequireOwnServer(t, "it sets the system limits")
	srv := harness.StartWith(t, "--action-timeout-max", "15m", "--action-memory-max", "1024",
		"--action-logs-max", "20", "--payload-max", "4096", "--sequence-length-max", "2")
	c := srv.Client

	r := rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/limits", srv.Auth, nil)
	var lim map[string]any
	if err := json.Unmarshal(r.Body, &lim); err != nil || r.Status != http.StatusOK {
		t.Fatalf("GET limits: %d %s: %v", r.Status, r.Body, err)
	}
	for k, want := range map[string]float64{"maxActionTimeout": 900000, "maxActionMemory": 1024, "maxActionLogs": 20} {
		if lim[k] != want {
			t.Errorf("limits %s = %v, want %v", k, lim[k], want)
		}
	}

	name := uniqueName("limits")
	a := newAction(name, kindNode, actionSource(t, "nodejs/hello.js"))
	a.Limits = &whisk.Limits{Timeout: intPtr(900000), Memory: intPtr(1024), Logsize: intPtr(20)}
	got := mustInsert(t, c, a, false)
	if got.Limits == nil || *got.Limits.Timeout != 900000 || *got.Limits.Memory != 1024 {
		t.Errorf("created limits = %+v", got.Limits)
	}
	for _, bad := range []struct {
		limits whisk.Limits
		msg    string
	}{
		{whisk.Limits{Timeout: intPtr(900001)}, "duration 900001 milliseconds exceeds allowed threshold of 900000 milliseconds"},
		{whisk.Limits{Memory: intPtr(1025)}, "memory size 1025 MB exceeds allowed threshold of 1024 MB"},
		{whisk.Limits{Logsize: intPtr(21)}, "log size 21 MB exceeds allowed threshold of 20 MB"},
	} {
		b := newAction(uniqueName("toobig"), kindNode, actionSource(t, "nodejs/hello.js"))
		b.Limits = &bad.limits
		_, resp, err := c.Actions.Insert(b, false)
		if resp == nil || resp.StatusCode != http.StatusBadRequest || err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("create with %+v: status %s, err %v; want 400 %q", bad.limits, status(resp), err, bad.msg)
		}
	}
	if res := invokeResult(t, c, name, map[string]any{"name": "Ada"}); res["payload"] != "Hello, Ada!" {
		t.Errorf("invoke: %v", res)
	}
	_, resp, err := c.Actions.Invoke(name, map[string]any{"name": strings.Repeat("x", 5000)}, true, true)
	if resp == nil || resp.StatusCode != http.StatusRequestEntityTooLarge || err == nil {
		t.Errorf("invoke with a 5 KB payload: status %s, err %v; want 413", status(resp), err)
	}
	seq := &whisk.Action{Name: uniqueName("seq"), Exec: &whisk.Exec{Kind: "sequence",
		Components: []string{"/_/" + name, "/_/" + name, "/_/" + name}}}
	_, resp, err = c.Actions.Insert(seq, false)
	wantClientError(t, "3-action sequence", resp, err, http.StatusBadRequest, "Too many actions in the sequence.")
}

// TestSwaggerPaths checks that GET /api/v1 advertises only swagger paths
// that are served.
func TestSwaggerPaths(t *testing.T) {
	srv := harness.Start(t)
	r := rawRequest(t, srv, http.MethodGet, "/api/v1", "", nil)
	var info struct {
		SwaggerPaths map[string]string `json:"swagger_paths"`
	}
	if err := json.Unmarshal(r.Body, &info); err != nil || r.Status != http.StatusOK {
		t.Fatalf("GET /api/v1: %d %s: %v", r.Status, r.Body, err)
	}
	for name, p := range info.SwaggerPaths {
		if got := rawRequest(t, srv, http.MethodGet, "/api/v1"+p, "", nil); got.Status != http.StatusOK {
			t.Errorf("swagger path %s (%s): status %d, want 200", name, p, got.Status)
		}
	}
	if info.SwaggerPaths["api-docs"] != "/api-docs" {
		t.Errorf("swagger_paths = %v, want api-docs", info.SwaggerPaths)
	}
}
