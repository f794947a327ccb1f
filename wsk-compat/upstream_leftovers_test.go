package wskcompat

import (
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
