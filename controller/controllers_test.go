package controller_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/controller/cluster"
	"github.com/brisk-serverless/brisk/loadbalancer"
)

func TestControllersEndpoint(t *testing.T) {
	// Without a Raft group: an empty list.
	e := newEnv(t)
	r := e.do(http.MethodGet, "/controllers", "", nil)
	if r.status != http.StatusOK || string(r.body) != "[]" {
		t.Fatalf("GET /controllers without a group: %d %s", r.status, r.body)
	}

	// A group of one (standalone's): it leads.
	cl, err := cluster.Open(cluster.Config{NodeID: "0", Local: true, DataDir: t.TempDir(), API: "http://127.0.0.1:1", Log: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cl.Start(nil)
	e = newEnvWith(t, loadbalancer.New(loadbalancer.Config{Log: quietLogger()}), func(c *controller.Config) { c.Cluster = cl })
	deadline := time.Now().Add(10 * time.Second)
	for !cl.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("a group of one did not elect itself")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, path := range []string{"/controllers", "/controllers/"} {
		r = e.do(http.MethodGet, path, "", nil)
		if r.status != http.StatusOK || string(r.body) != `[{"id":"0","address":"local","state":"leader"}]` {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	wantStatus(t, e.do(http.MethodPost, "/controllers", "", nil), http.StatusMethodNotAllowed)

	// Membership changes: whisk.system only, checked input.
	wantStatus(t, e.do(http.MethodPut, "/controllers/1", "", map[string]any{"address": "127.0.0.1:3236"}), http.StatusUnauthorized)
	wantError(t, e.guest(http.MethodPut, "/controllers/1", map[string]any{"address": "127.0.0.1:3236"}), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'controllers'.")
	wantError(t, e.do(http.MethodPut, "/controllers/1", systemAuth, map[string]any{"address": "nohost"}), http.StatusBadRequest,
		"The controller's address must be its Raft host:port.")
	wantStatus(t, e.do(http.MethodPut, "/controllers/1", systemAuth, "[1]"), http.StatusBadRequest)
	wantError(t, e.do(http.MethodDelete, "/controllers/7", systemAuth, nil), http.StatusNotFound,
		"The controller is not a member of the group.")
}
