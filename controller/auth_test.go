package controller_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/brisk-serverless/brisk/api"
)

const realm = `Basic realm="OpenWhisk secure realm"`

func TestAuthRequired(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{
		"/api/v1/namespaces",
		"/api/v1/namespaces/_/actions",
		"/api/v1/namespaces/_/actions/hello",
		"/api/v1/namespaces/guest/activations",
		"/api/v1/namespaces/_/limits",
	} {
		t.Run(path, func(t *testing.T) {
			r := e.do(http.MethodGet, path, "", nil)
			wantError(t, r, http.StatusUnauthorized, api.MsgAuthRequired)
			if got := r.header.Get("WWW-Authenticate"); got != realm {
				t.Errorf("WWW-Authenticate = %q, want %q", got, realm)
			}
		})
	}
}

func TestAuthInvalid(t *testing.T) {
	e := newEnv(t)
	wrongKey := guestKey[:63] + "x"
	cases := map[string]func(*http.Request){
		"wrong key":         func(r *http.Request) { r.SetBasicAuth(guestUUID, wrongKey) },
		"unknown uuid":      func(r *http.Request) { r.SetBasicAuth("00000000-71f6-4ed5-8c54-816aa4f8c502", guestKey) },
		"key of another ns": func(r *http.Request) { r.SetBasicAuth(guestUUID, systemKey) },
		"short key":         func(r *http.Request) { r.SetBasicAuth(guestUUID, guestKey[:63]) },
		"long key":          func(r *http.Request) { r.SetBasicAuth(guestUUID, guestKey+"x") },
		"empty uuid":        func(r *http.Request) { r.SetBasicAuth("", guestKey) },
		"not basic":         func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+guestKey) },
		"basic not base64":  func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") },
		"uuid with a slash": func(r *http.Request) { r.SetBasicAuth("guest/x", guestKey) },
		"no colon in creds": func(r *http.Request) { r.Header.Set("Authorization", "Basic Z3Vlc3Q=") },
		"key with uuid case": func(r *http.Request) {
			r.SetBasicAuth(guestUUID, "123ZO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP")
		},
	}
	for name, set := range cases {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/_/actions", nil)
			set(req)
			r := e.serve(req)
			wantError(t, r, http.StatusUnauthorized, api.MsgAuthInvalid)
			if got := r.header.Get("WWW-Authenticate"); got != realm {
				t.Errorf("WWW-Authenticate = %q, want %q", got, realm)
			}
		})
	}
}

func TestAuthBlockedSubject(t *testing.T) {
	e := newEnv(t)
	const uuid = "44444444-71f6-4ed5-8c54-816aa4f8c502"
	err := e.store.EnsureSubject(context.Background(), api.SubjectDoc{ID: "blocked", Subject: "blocked", Blocked: true,
		Namespaces: []api.NamespaceKey{{Name: "blocked", UUID: uuid, Key: guestKey}}})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, e.do(http.MethodGet, "/api/v1/namespaces", uuid+":"+guestKey, nil), http.StatusUnauthorized, api.MsgAuthInvalid)
}

func TestNamespaceResolution(t *testing.T) {
	e := newEnv(t)
	e.putAction("/api/v1/namespaces/_/actions/hello", nil)

	// "_" and the caller's own name address the same namespace.
	for _, ns := range []string{"_", "guest"} {
		r := e.guest(http.MethodGet, "/api/v1/namespaces/"+ns+"/actions/hello", nil)
		wantStatus(t, r, http.StatusOK)
		if got := r.object(t)["namespace"]; got != "guest" {
			t.Errorf("GET via %q: namespace = %v, want guest", ns, got)
		}
	}
	// whisk.system's "_" is its own namespace, where hello does not exist.
	wantError(t, e.do(http.MethodGet, "/api/v1/namespaces/_/actions/hello", systemAuth, nil), http.StatusNotFound, api.MsgNotFound)

	forbidden := []struct{ method, path, resource string }{
		{http.MethodGet, "/api/v1/namespaces/other/actions/hello", "other/hello"},
		{http.MethodGet, "/api/v1/namespaces/whisk.system/actions/hello", "whisk.system/hello"},
		{http.MethodPut, "/api/v1/namespaces/other/actions/hello", "other/hello"},
		{http.MethodDelete, "/api/v1/namespaces/other/actions/hello", "other/hello"},
		{http.MethodPost, "/api/v1/namespaces/other/actions/hello", "other/hello"},
		{http.MethodGet, "/api/v1/namespaces/other/actions/pkg/hello", "other/pkg"}, // the package is what is refused (upstream)
		{http.MethodGet, "/api/v1/namespaces/other/actions", "other"},
		{http.MethodGet, "/api/v1/namespaces/other/activations", "other"},
		{http.MethodGet, "/api/v1/namespaces/other/limits", "other"},
	}
	for _, c := range forbidden {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			var body any
			if c.method == http.MethodPut {
				body = map[string]any{"exec": map[string]any{"kind": "nodejs:default", "code": nodeCode}}
			}
			r := e.guest(c.method, c.path, body)
			wantError(t, r, http.StatusForbidden, "The supplied authentication is not authorized to access '"+c.resource+"'.")
		})
	}
	// Nothing was created in the other namespace by the refused PUT.
	if _, err := e.store.GetEntity(context.Background(), "other/hello"); err == nil {
		t.Error("refused PUT wrote other/hello")
	}
}

func TestIdentityCacheDoesNotMixCallers(t *testing.T) {
	e := newEnv(t)
	// Alternate callers: each must keep seeing its own namespace.
	for range 3 {
		for auth, ns := range map[string]string{guestAuth: "guest", systemAuth: "whisk.system"} {
			r := e.do(http.MethodGet, "/api/v1/namespaces", auth, nil)
			wantStatus(t, r, http.StatusOK)
			var got []string
			r.json(t, &got)
			if len(got) != 1 || got[0] != ns {
				t.Fatalf("namespaces for %s = %v", ns, got)
			}
		}
	}
}
