package wskcompat

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

var adminKeyRe = regexp.MustCompile(`^[0-9a-f-]{36}:[A-Za-z0-9]{64}$`)

// briskAdmin runs `brisk admin --data-dir DIR args...` against the running
// server (it reaches it through DIR/admin.sock) and returns stdout; it fails
// the test unless the exit status is 0.
func briskAdmin(t *testing.T, srv *harness.Server, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), append([]string{"admin", "--data-dir", srv.DataDir}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("brisk admin %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// createUser makes a user with brisk admin and returns its "uuid:key".
func createUser(t *testing.T, srv *harness.Server, subject string) string {
	t.Helper()
	auth := strings.TrimSpace(briskAdmin(t, srv, "user", "create", subject))
	if !adminKeyRe.MatchString(auth) {
		t.Fatalf("user create %s printed %q, want uuid:key", subject, auth)
	}
	return auth
}

// TestIsolation: two users created with brisk admin while standalone runs
// each see only their own namespace; the admin's block and delete take
// effect at once.
func TestIsolation(t *testing.T) {
	harness.RequireOwnServer(t, "it runs brisk admin on the data directory and restarts the server")
	srv := harness.Start(t)
	aliceNS, bobNS := uniqueName("alice"), uniqueName("bobby")
	alice, bob := createUser(t, srv, aliceNS), createUser(t, srv, bobNS)
	if got := strings.TrimSpace(briskAdmin(t, srv, "user", "get", aliceNS)); got != alice {
		t.Fatalf("user get %s = %q, want %q", aliceNS, got, alice)
	}

	// alice owns an action, an activation, a trigger and a private package.
	ac := srv.NewClient(alice)
	mustInsert(t, ac, newAction("secret", kindNode, `function main() { return { owner: "alice" } }`), false)
	if got := invokeResult(t, ac, "secret", nil); got["owner"] != "alice" {
		t.Fatalf("alice's invoke = %v", got)
	}
	res, _, err := ac.Actions.Invoke("secret", nil, false, false)
	if err != nil {
		t.Fatalf("non-blocking invoke: %v", err)
	}
	var accepted struct {
		ActivationID string `json:"activationId"`
	}
	reshape(t, res, &accepted)
	actID := accepted.ActivationID
	waitActivation(t, ac, actID, false)
	for _, put := range []struct{ path, body string }{
		{"/triggers/tick", `{}`},
		{"/packages/private", `{"publish":false}`},
	} {
		r := rawRequest(t, srv, http.MethodPut, "/api/v1/namespaces/_"+put.path, alice, strings.NewReader(put.body))
		if r.Status != http.StatusOK {
			t.Fatalf("alice PUT %s: %d %s", put.path, r.Status, r.Body)
		}
	}

	forbidden := func(resource string) string {
		return "The supplied authentication is not authorized to access '" + resource + "'."
	}
	ns := "/api/v1/namespaces/" + aliceNS
	for _, who := range []struct{ name, auth string }{{"bob", bob}, {"guest", harness.GuestAuth}} {
		t.Run(who.name+" is refused alice's namespace", func(t *testing.T) {
			for _, c := range []struct{ method, path, resource, body string }{
				{http.MethodGet, ns + "/actions", aliceNS, ""},
				{http.MethodGet, ns + "/actions/secret", aliceNS + "/secret", ""},
				{http.MethodPost, ns + "/actions/secret?blocking=true", aliceNS + "/secret", "{}"},
				{http.MethodPut, ns + "/actions/secret?overwrite=true", aliceNS + "/secret", `{"exec":{"kind":"nodejs:20","code":"function main(){}"}}`},
				{http.MethodDelete, ns + "/actions/secret", aliceNS + "/secret", ""},
				{http.MethodGet, ns + "/activations", aliceNS, ""},
				{http.MethodGet, ns + "/activations/" + actID, aliceNS + "/" + actID, ""},
				{http.MethodGet, ns + "/activations/" + actID + "/logs", aliceNS + "/" + actID, ""},
				{http.MethodGet, ns + "/activations/" + actID + "/result", aliceNS + "/" + actID, ""},
				{http.MethodGet, ns + "/triggers", aliceNS, ""},
				{http.MethodGet, ns + "/triggers/tick", aliceNS + "/tick", ""},
				{http.MethodPost, ns + "/triggers/tick", aliceNS + "/tick", "{}"},
				{http.MethodGet, ns + "/rules", aliceNS, ""},
				{http.MethodGet, ns + "/limits", aliceNS, ""},
			} {
				var r rawResponse
				if c.body != "" {
					r = rawRequest(t, srv, c.method, c.path, who.auth, strings.NewReader(c.body))
				} else {
					r = rawRequest(t, srv, c.method, c.path, who.auth, nil)
				}
				t.Run(c.method+" "+strings.TrimPrefix(c.path, ns), func(t *testing.T) {
					expectError(t, r, http.StatusForbidden, prefix, strings.TrimSuffix(forbidden(c.resource), "'."))
				})
			}
			// A private package is neither listed nor readable.
			r := rawRequest(t, srv, http.MethodGet, ns+"/packages", who.auth, nil)
			if r.Status == http.StatusOK && bytes.Contains(r.Body, []byte(`"private"`)) {
				t.Errorf("alice's private package listed to %s: %s", who.name, r.Body)
			}
			if r := rawRequest(t, srv, http.MethodGet, ns+"/packages/private", who.auth, nil); r.Status != http.StatusForbidden {
				t.Errorf("GET alice's private package as %s: %d %s, want 403", who.name, r.Status, r.Body)
			}
			// Through "_" the caller only ever reaches its own namespace.
			own := rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/activations/"+actID, who.auth, nil)
			expectError(t, own, http.StatusNotFound, exact, msgNotFound)
			for _, list := range []string{"actions", "activations", "triggers"} {
				r := rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/"+list+"?limit=200", who.auth, nil)
				if r.Status != http.StatusOK {
					t.Fatalf("own %s: %d %s", list, r.Status, r.Body)
				}
				var items []map[string]any
				if err := json.Unmarshal(r.Body, &items); err != nil {
					t.Fatalf("own %s: %v: %s", list, err, r.Body)
				}
				for _, it := range items {
					if it["namespace"] == aliceNS || it["activationId"] == actID {
						t.Errorf("%s's %s list shows alice's entity %v", who.name, list, it)
					}
				}
			}
		})
	}

	// bob's namespace is his alone, with his own "secret".
	r := rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces", bob, nil)
	var names []string
	if err := json.Unmarshal(r.Body, &names); err != nil || !slices.Equal(names, []string{bobNS}) {
		t.Fatalf("bob's namespaces = %s (%v), want [%s]", r.Body, err, bobNS)
	}
	bc := srv.NewClient(bob)
	mustInsert(t, bc, newAction("secret", kindNode, `function main() { return { owner: "bob" } }`), false)
	if got := invokeResult(t, bc, "secret", nil); got["owner"] != "bob" {
		t.Errorf("bob's secret = %v, want bob's own action", got)
	}
	if got := invokeResult(t, ac, "secret", nil); got["owner"] != "alice" {
		t.Errorf("alice's secret after bob's create = %v", got)
	}

	// Admin changes reach the running server's caches at once.
	if out := briskAdmin(t, srv, "user", "block", bobNS); out != `"`+bobNS+`" blocked successfully`+"\n" {
		t.Errorf("block printed %q", out)
	}
	expectError(t, rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/actions", bob, nil), http.StatusUnauthorized, exact, msgBadAuth)
	briskAdmin(t, srv, "user", "unblock", bobNS)
	if r := rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/actions", bob, nil); r.Status != http.StatusOK {
		t.Errorf("unblocked bob: %d %s", r.Status, r.Body)
	}
	if got := strings.TrimSpace(briskAdmin(t, srv, "user", "list", aliceNS, "-a")); got != alice+"\t"+aliceNS {
		t.Errorf("user list %s = %q", aliceNS, got)
	}
	briskAdmin(t, srv, "user", "delete", aliceNS)
	expectError(t, rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/actions", alice, nil), http.StatusUnauthorized, exact, msgBadAuth)

	// Namespace limits apply at once, to that namespace only.
	bobInvoke := "/api/v1/namespaces/_/actions/secret?blocking=true&result=true"
	if r := rawRequest(t, srv, http.MethodPost, bobInvoke, bob, strings.NewReader("{}")); r.Status != http.StatusOK {
		t.Fatalf("bob's invoke: %d %s", r.Status, r.Body)
	}
	briskAdmin(t, srv, "limits", "set", bobNS, "--concurrentInvocations", "0")
	if r := rawRequest(t, srv, http.MethodPost, bobInvoke, bob, strings.NewReader("{}")); r.Status != http.StatusTooManyRequests {
		t.Errorf("bob's invoke with concurrentInvocations 0: %d %s, want 429", r.Status, r.Body)
	}
	guestAction := uniqueName("open")
	mustInsert(t, srv.Client, newAction(guestAction, kindNode, `function main() { return { owner: "guest" } }`), false)
	if got := invokeResult(t, srv.Client, guestAction, nil); got["owner"] != "guest" {
		t.Errorf("guest's invoke while bob is limited = %v", got)
	}

	// Users and limits survive a restart (they are in the store, not the caches).
	briskAdmin(t, srv, "limits", "set", bobNS, "--concurrentInvocations", "30", "--invocationsPerMinute", "1000")
	srv.Restart()
	if r := rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/actions", bob, nil); r.Status != http.StatusOK {
		t.Errorf("bob after restart: %d %s", r.Status, r.Body)
	}
	if got := briskAdmin(t, srv, "limits", "get", bobNS); got != "invocationsPerMinute = 1000\nconcurrentInvocations = 30\n" {
		t.Errorf("limits get after restart = %q", got)
	}
}
