package controller_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/api"
)

func TestRequestIDOnEveryResponse(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		method, path, auth string
		status             int
	}{
		{http.MethodGet, "/", "", http.StatusOK},
		{http.MethodGet, "/ping", "", http.StatusOK},
		{http.MethodGet, "/api/v1", "", http.StatusOK},
		{http.MethodGet, "/api/v1/namespaces", guestAuth, http.StatusOK},
		{http.MethodGet, "/api/v1/namespaces", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/namespaces/_/actions/missing", guestAuth, http.StatusNotFound},
		{http.MethodGet, "/api/v1/no/such/route", "", http.StatusNotFound},
		{http.MethodPatch, "/api/v1/namespaces/_/actions/x", guestAuth, http.StatusMethodNotAllowed},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		r := e.do(c.method, c.path, c.auth, nil)
		if r.status != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, r.status, c.status)
		}
		tid := r.header.Get("X-Request-ID")
		if !tidRE.MatchString(tid) {
			t.Errorf("%s %s: X-Request-ID = %q, want 32 alphanumerics", c.method, c.path, tid)
		}
		if seen[tid] {
			t.Errorf("%s %s: X-Request-ID %q reused", c.method, c.path, tid)
		}
		seen[tid] = true
		if r.status >= 400 {
			var body map[string]string
			r.json(t, &body)
			if body["code"] != tid {
				t.Errorf("%s %s: error code %q != X-Request-ID %q", c.method, c.path, body["code"], tid)
			}
		}
	}
}

func TestRequestIDFromClient(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/_/actions/missing", nil)
	req.SetBasicAuth(guestUUID, guestKey)
	req.Header.Set("X-Request-ID", "my-request-42")
	r := e.serve(req)
	if got := r.header.Get("X-Request-ID"); got != "my-request-42" {
		t.Errorf("client X-Request-ID not kept: %q", got)
	}
	if got := r.object(t)["code"]; got != "my-request-42" {
		t.Errorf("error code = %v, want the client's request id", got)
	}

	// Ids starting with sid_ are upstream's system ids: replaced.
	req = httptest.NewRequest(http.MethodGet, "/ping", nil)
	req.Header.Set("X-Request-ID", "sid_invokerHealth")
	if got := e.serve(req).header.Get("X-Request-ID"); !tidRE.MatchString(got) {
		t.Errorf("sid_ request id kept: %q", got)
	}
}

func TestCORSHeaders(t *testing.T) {
	e := newEnv(t)
	for _, r := range []*response{
		e.do(http.MethodGet, "/api/v1", "", nil),
		e.guest(http.MethodGet, "/api/v1/namespaces/_/actions", nil),
		e.do(http.MethodGet, "/api/v1/namespaces/_/actions", "", nil), // 401
		e.guest(http.MethodGet, "/api/v1/namespaces/_/actions/missing", nil),
	} {
		h := r.header
		if h.Get("Access-Control-Allow-Origin") != "*" ||
			h.Get("Access-Control-Allow-Methods") != "GET, DELETE, POST, PUT, HEAD" ||
			h.Get("Access-Control-Allow-Headers") != "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent" {
			t.Errorf("status %d: CORS headers = %q / %q / %q", r.status, h.Get("Access-Control-Allow-Origin"),
				h.Get("Access-Control-Allow-Methods"), h.Get("Access-Control-Allow-Headers"))
		}
	}
}

func TestOptionsAnswersOK(t *testing.T) {
	e := newEnv(t)
	// Upstream: OPTIONS on any path → 200 with text "OK" and the CORS
	// headers, with or without credentials (browsers send CORS preflights
	// without them).
	for _, path := range []string{"/api/v1/namespaces/_/actions/hello", "/api/v1/namespaces/_/actions", "/api/v1", "/nope"} {
		for _, auth := range []string{"", guestAuth} {
			t.Run(fmt.Sprintf("%s auth=%v", path, auth != ""), func(t *testing.T) {
				r := e.do(http.MethodOptions, path, auth, nil)
				if r.header.Get("Access-Control-Allow-Origin") != "*" {
					t.Errorf("OPTIONS without CORS headers")
				}
				if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "OK" {
					t.Fatalf("OPTIONS %s = %d %q, want 200 \"OK\": controller/server.go does not answer OPTIONS before "+
						"routing, so under /api/v1/namespaces the group's authenticate middleware runs (401 without "+
						"credentials, 404 from the group's catch-all with them) and elsewhere echo's router answers 204 or 404",
						path, r.status, r.body)
				}
			})
		}
	}
}

func TestRoot(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodGet, "/", "", nil)
	wantStatus(t, r, http.StatusOK)
	var root struct {
		Description string            `json:"description"`
		Support     map[string]string `json:"support"`
		APIPaths    []string          `json:"api_paths"`
		Limits      map[string]int64  `json:"limits"`
		Runtimes    map[string][]struct {
			Kind       string `json:"kind"`
			Image      string `json:"image"`
			Deprecated bool   `json:"deprecated"`
			Default    bool   `json:"default"`
		} `json:"runtimes"`
	}
	r.json(t, &root)
	if root.Description != "OpenWhisk" || root.Support["github"] != "https://github.com/apache/openwhisk/issues" ||
		root.Support["slack"] != "http://slack.openwhisk.org" || len(root.APIPaths) != 1 || root.APIPaths[0] != "/api/v1" {
		t.Errorf("GET / = %s", r.body)
	}
	wantLimits := map[string]int64{
		"actions_per_minute": 60, "triggers_per_minute": 60, "concurrent_actions": 30, "sequence_length": 50,
		"default_min_action_duration": 100, "default_max_action_duration": 300000,
		"default_min_action_memory": 134217728, "default_max_action_memory": 536870912,
		"default_min_action_logs": 0, "default_max_action_logs": 10485760,
		"min_action_duration": 100, "max_action_duration": 300000,
		"min_action_memory": 134217728, "max_action_memory": 536870912,
		"min_action_logs": 0, "max_action_logs": 10485760,
	}
	for k, v := range wantLimits {
		if got, ok := root.Limits[k]; !ok || got != v {
			t.Errorf("limits.%s = %d (present %v), want %d", k, got, ok, v)
		}
	}
	var nodeDefault bool
	for _, rt := range root.Runtimes["nodejs"] {
		if rt.Kind == "nodejs:20" && rt.Default && !rt.Deprecated && strings.Contains(rt.Image, "action-nodejs-v20") {
			nodeDefault = true
		}
	}
	if !nodeDefault {
		t.Errorf("runtimes.nodejs lacks the default nodejs:20: %+v", root.Runtimes["nodejs"])
	}
}

func TestAPIInfo(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/api/v1", "/api/v1/"} {
		r := e.do(http.MethodGet, path, "", nil)
		wantStatus(t, r, http.StatusOK)
		m := r.object(t)
		want := map[string]any{"description": "OpenWhisk API", "api_version": "1.0.0", "api_version_path": "v1",
			"build": "2024-01-01T00:00:00Z", "buildno": "brisk-test"}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("GET %s: %s = %v, want %v", path, k, m[k], v)
			}
		}
		sp, _ := m["swagger_paths"].(map[string]any)
		if _, ui := sp["ui"]; ui || sp["api-docs"] != "/api-docs" {
			t.Errorf("GET %s: swagger_paths = %v", path, m["swagger_paths"])
		}
	}
}

func TestAPIDocs(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodGet, "/api/v1/api-docs", "", nil)
	wantStatus(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var doc struct {
		Swagger  string                    `json:"swagger"`
		BasePath string                    `json:"basePath"`
		Paths    map[string]map[string]any `json:"paths"`
	}
	r.json(t, &doc)
	if doc.Swagger != "2.0" || doc.BasePath != "/api/v1" {
		t.Errorf("swagger %q basePath %q", doc.Swagger, doc.BasePath)
	}
	var actionPath bool
	for p, ops := range doc.Paths {
		if strings.HasPrefix(p, "/namespaces/") && strings.Contains(p, "/actions/") {
			if _, ok := ops["post"]; ok {
				actionPath = true
			}
		}
	}
	if !actionPath {
		t.Errorf("api-docs has no action invoke path among %d paths", len(doc.Paths))
	}
	if !json.Valid(r.body) || len(r.body) != len(api.Swagger()) {
		t.Errorf("api-docs is not the embedded document (%d bytes, want %d)", len(r.body), len(api.Swagger()))
	}
}

func TestPing(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodGet, "/ping", "", nil)
	wantStatus(t, r, http.StatusOK)
	if string(r.body) != "pong" {
		t.Errorf("GET /ping = %q", r.body)
	}
}

func TestListNamespaces(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/api/v1/namespaces", "/api/v1/namespaces/"} {
		r := e.guest(http.MethodGet, path, nil)
		wantStatus(t, r, http.StatusOK)
		if got := strings.TrimSpace(string(r.body)); got != `["guest"]` {
			t.Errorf("GET %s = %s, want [\"guest\"]", path, got)
		}
	}
	r := e.do(http.MethodGet, "/api/v1/namespaces", systemAuth, nil)
	if got := strings.TrimSpace(string(r.body)); got != `["whisk.system"]` {
		t.Errorf("whisk.system's namespaces = %s", got)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t)
	for _, ns := range []string{"_", "guest"} {
		r := e.guest(http.MethodGet, "/api/v1/namespaces/"+ns+"/limits", nil)
		wantStatus(t, r, http.StatusOK)
		var got map[string]any
		r.json(t, &got)
		want := map[string]any{
			"invocationsPerMinute": 60.0, "concurrentInvocations": 30.0, "firesPerMinute": 60.0,
			"minActionMemory": 128.0, "maxActionMemory": 512.0, "minActionLogs": 0.0, "maxActionLogs": 10.0,
			"minActionTimeout": 100.0, "maxActionTimeout": 300000.0, "minActionConcurrency": 1.0,
			"maxActionConcurrency": 500.0, "maxParameterSize": "1 MB", "maxActionInstances": 30.0,
		}
		if len(got) != len(want) {
			t.Errorf("limits has %d fields, want %d: %s", len(got), len(want), r.body)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("limits.%s = %v, want %v", k, got[k], v)
			}
		}
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	wantError(t, e.do(http.MethodGet, "/api/v1/nope", "", nil), http.StatusNotFound, api.MsgRouteNotFound)

	// Wrong method on an action: 405 naming the supported methods.
	e.putAction("/api/v1/namespaces/_/actions/hello", nil)
	for _, path := range []string{"/api/v1/namespaces/_/actions/hello", "/api/v1/namespaces/_/actions/pkg/hello"} {
		r := e.guest(http.MethodPatch, path, map[string]any{})
		if r.status != http.StatusMethodNotAllowed {
			t.Fatalf("PATCH %s: status %d, want 405; body %s", path, r.status, r.body)
		}
		var body map[string]string
		r.json(t, &body)
		msg := body["error"]
		if !strings.HasPrefix(msg, "HTTP method not allowed, supported methods: ") {
			t.Errorf("PATCH %s: error %q", path, msg)
		}
		for _, m := range []string{"GET", "PUT", "DELETE", "POST"} {
			if !strings.Contains(msg, m) {
				t.Errorf("PATCH %s: %q does not list %s", path, msg, m)
			}
		}
		if body["code"] != r.header.Get("X-Request-ID") {
			t.Errorf("PATCH %s: code %q != X-Request-ID", path, body["code"])
		}
	}
	// The action is untouched.
	wantStatus(t, e.guest(http.MethodGet, "/api/v1/namespaces/_/actions/hello", nil), http.StatusOK)

	// Activations are read-only.
	id := api.NewActivationID()
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPost} {
		r := e.guest(m, "/api/v1/namespaces/_/activations/"+id, nil)
		wantError(t, r, http.StatusMethodNotAllowed, "HTTP method not allowed, supported methods: GET")
	}
}

func TestDeeperActionPathNotRouted(t *testing.T) {
	e := newEnv(t)
	// Upstream: nothing deeper than actions/{pkg}/{name} is routed.
	r := e.guest(http.MethodGet, "/api/v1/namespaces/_/actions/p/a/b", nil)
	if r.status == http.StatusBadRequest {
		t.Fatalf("GET actions/p/a/b = 400 %s, want 404 %q: echo's router lets the last :name parameter "+
			"of /:ns/actions/:pkg/:name swallow \"a/b\", and actionName (controller/actions.go) reports it as an illegal name", r.body, api.MsgRouteNotFound)
	}
	wantError(t, r, http.StatusNotFound, api.MsgRouteNotFound)
}

func TestWrongMethodOnCollections(t *testing.T) {
	e := newEnv(t)
	// Upstream: a wrong method on a route is 405, for list routes too.
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/api/v1/namespaces/_/actions"},
		{http.MethodDelete, "/api/v1/namespaces/_/activations"},
		{http.MethodPut, "/api/v1/namespaces/_/limits"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := e.guest(c.method, c.path, nil)
			if r.status == http.StatusNotFound {
				t.Fatalf("%s %s = 404 %s, want 405 \"HTTP method not allowed, supported methods: GET\": the "+
					"catch-all 404 routes echo's Group.Use registers for /api/v1/namespaces take precedence over 405 "+
					"(controller/server.go routes() registers no 405 handlers for list routes, only for entity routes)",
					c.method, c.path, r.body)
			}
			wantError(t, r, http.StatusMethodNotAllowed, "HTTP method not allowed, supported methods: GET")
		})
	}
}
