package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
)

const actionsPath = "/api/v1/namespaces/_/actions/"

func TestPutActionCreate(t *testing.T) {
	e := newEnv(t)
	before := time.Now().UnixMilli()
	a := e.putAction(actionsPath+"hello", map[string]any{
		"exec":        map[string]any{"kind": " NodeJS:Default ", "code": nodeCode},
		"parameters":  []any{map[string]any{"key": "name", "value": "world"}},
		"annotations": []any{map[string]any{"key": "exec", "value": "bogus"}, map[string]any{"key": "web-export", "value": true}},
		"namespace":   "ignored", "name": "ignored",
	})
	if a["namespace"] != "guest" || a["name"] != "hello" || a["version"] != "0.0.1" || a["publish"] != false {
		t.Errorf("created action header fields: %v", a)
	}
	exec := a["exec"].(map[string]any)
	if exec["kind"] != "nodejs:20" || exec["code"] != nodeCode || exec["binary"] != false {
		t.Errorf("exec = %v, want the resolved default kind nodejs:20, the code, binary false", exec)
	}
	wantLimits := map[string]any{"timeout": 60000.0, "memory": 256.0, "logs": 10.0, "concurrency": 1.0}
	if !reflect.DeepEqual(a["limits"], wantLimits) {
		t.Errorf("limits = %v, want defaults %v", a["limits"], wantLimits)
	}
	if v, ok := annotation(t, a, "provide-api-key"); !ok || v != false {
		t.Errorf("provide-api-key annotation = %v (present %v), want false added", v, ok)
	}
	if v, _ := annotation(t, a, "exec"); v != "nodejs:20" {
		t.Errorf("exec annotation = %v, want the kind, overriding the client's", v)
	}
	if v, _ := annotation(t, a, "web-export"); v != true {
		t.Errorf("client annotation lost: web-export = %v", v)
	}
	params := a["parameters"].([]any)
	if len(params) != 1 || params[0].(map[string]any)["key"] != "name" || params[0].(map[string]any)["value"] != "world" {
		t.Errorf("parameters = %v", params)
	}
	if u, _ := a["updated"].(float64); int64(u) < before || int64(u) > time.Now().UnixMilli() {
		t.Errorf("updated = %v, want a current epoch ms", a["updated"])
	}

	// GET returns what PUT returned.
	r := e.guest(http.MethodGet, actionsPath+"hello", nil)
	wantStatus(t, r, http.StatusOK)
	if got := r.object(t); !reflect.DeepEqual(got, a) {
		t.Errorf("GET = %v\nPUT = %v", got, a)
	}

	// A client-supplied provide-api-key is kept.
	b := e.putAction(actionsPath+"withkey", map[string]any{
		"annotations": []any{map[string]any{"key": "provide-api-key", "value": true}},
	})
	if v, _ := annotation(t, b, "provide-api-key"); v != true {
		t.Errorf("provide-api-key = %v, want the client's true", v)
	}
	// Empty parameters and annotations come back as arrays.
	c := e.putAction(actionsPath+"bare", nil)
	if ps, ok := c["parameters"].([]any); !ok || len(ps) != 0 {
		t.Errorf("parameters of a bare action = %v, want []", c["parameters"])
	}
}

func TestPutActionExistsAndOverwrite(t *testing.T) {
	e := newEnv(t)
	first := e.putAction(actionsPath+"hello", map[string]any{
		"parameters":  []any{map[string]any{"key": "p", "value": 1}},
		"limits":      map[string]any{"timeout": 1000, "memory": 128},
		"annotations": []any{map[string]any{"key": "a", "value": 1}, map[string]any{"key": "b", "value": 2}},
	})

	body := map[string]any{"exec": map[string]any{"kind": "python:default", "code": "def main(a): return a"}}
	wantError(t, e.guest(http.MethodPut, actionsPath+"hello", body), http.StatusConflict, api.MsgExists)
	wantError(t, e.guest(http.MethodPut, actionsPath+"hello?overwrite=false", body), http.StatusConflict, api.MsgExists)
	// The refused PUT changed nothing.
	r := e.guest(http.MethodGet, actionsPath+"hello", nil)
	if got := r.object(t); !reflect.DeepEqual(got, first) {
		t.Errorf("action changed by a refused PUT: %v", got)
	}

	nextMilli()
	r = e.guest(http.MethodPut, actionsPath+"hello?overwrite=true", map[string]any{
		"limits":         map[string]any{"memory": 512},
		"annotations":    []any{map[string]any{"key": "b", "value": 3}, map[string]any{"key": "c", "value": 4}},
		"delAnnotations": []string{"a"},
	})
	wantStatus(t, r, http.StatusOK)
	up := r.object(t)
	if up["version"] != "0.0.2" {
		t.Errorf("version after update = %v, want 0.0.2", up["version"])
	}
	if !reflect.DeepEqual(up["exec"], first["exec"]) || !reflect.DeepEqual(up["parameters"], first["parameters"]) {
		t.Errorf("fields not given in the update changed: exec %v params %v", up["exec"], up["parameters"])
	}
	wantLimits := map[string]any{"timeout": 1000.0, "memory": 512.0, "logs": 10.0, "concurrency": 1.0}
	if !reflect.DeepEqual(up["limits"], wantLimits) {
		t.Errorf("limits = %v, want merged %v", up["limits"], wantLimits)
	}
	if _, ok := annotation(t, up, "a"); ok {
		t.Error("annotation a survived delAnnotations")
	}
	for k, v := range map[string]any{"b": 3.0, "c": 4.0, "provide-api-key": false, "exec": "nodejs:20"} {
		if got, _ := annotation(t, up, k); got != v {
			t.Errorf("annotation %s = %v, want %v", k, got, v)
		}
	}
	if up["updated"].(float64) <= first["updated"].(float64) {
		t.Errorf("updated not advanced: %v -> %v", first["updated"], up["updated"])
	}

	// Changing the kind refreshes the exec annotation; an explicit version wins.
	r = e.guest(http.MethodPut, actionsPath+"hello?overwrite=true", map[string]any{
		"exec": map[string]any{"kind": "python:default", "code": "def main(a): return a"}, "version": "1.2.3", "publish": true,
	})
	wantStatus(t, r, http.StatusOK)
	up = r.object(t)
	if v, _ := annotation(t, up, "exec"); v != "python:3.11" {
		t.Errorf("exec annotation after kind change = %v", v)
	}
	if up["version"] != "1.2.3" || up["publish"] != true {
		t.Errorf("version %v publish %v, want 1.2.3 true", up["version"], up["publish"])
	}
	r = e.guest(http.MethodPut, actionsPath+"hello?overwrite=true", map[string]any{})
	if got := r.object(t)["version"]; got != "1.2.4" {
		t.Errorf("version after an empty update = %v, want 1.2.4", got)
	}

	// overwrite=true on a new name creates it.
	r = e.guest(http.MethodPut, actionsPath+"fresh?overwrite=true", map[string]any{
		"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}})
	wantStatus(t, r, http.StatusOK)
	fresh := r.object(t)
	if fresh["version"] != "0.0.1" {
		t.Errorf("create via overwrite: version %v", fresh["version"])
	}
	if v, ok := annotation(t, fresh, "provide-api-key"); !ok || v != false {
		t.Errorf("create via overwrite: provide-api-key = %v", v)
	}
	wantError(t, e.guest(http.MethodPut, actionsPath+"fresh?overwrite=maybe", map[string]any{}), http.StatusBadRequest,
		"The query parameter 'overwrite' was malformed:\n'maybe' is not a valid Boolean value")
}

func TestPutActionValidation(t *testing.T) {
	e := newEnv(t)
	exec := map[string]any{"kind": "nodejs:default", "code": nodeCode}
	cases := []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"no exec", map[string]any{}, http.StatusBadRequest, api.MsgExecUndefined},
		{"timeout too high", map[string]any{"exec": exec, "limits": map[string]any{"timeout": 600000}}, http.StatusBadRequest,
			"duration 600000 milliseconds exceeds allowed threshold of 300000 milliseconds"},
		{"timeout too low", map[string]any{"exec": exec, "limits": map[string]any{"timeout": 50}}, http.StatusBadRequest,
			"duration 50 milliseconds below allowed threshold of 100 milliseconds"},
		// Upstream @1fae641 (Messages.sizeExceedsAllowedThreshold): "<field> size <n> MB ...".
		{"memory too high", map[string]any{"exec": exec, "limits": map[string]any{"memory": 1024}}, http.StatusBadRequest,
			"memory size 1024 MB exceeds allowed threshold of 512 MB"},
		{"memory too low", map[string]any{"exec": exec, "limits": map[string]any{"memory": 64}}, http.StatusBadRequest,
			"memory size 64 MB below allowed threshold of 128 MB"},
		{"logs too high", map[string]any{"exec": exec, "limits": map[string]any{"logs": 20}}, http.StatusBadRequest,
			"log size 20 MB exceeds allowed threshold of 10 MB"},
		{"concurrency too high", map[string]any{"exec": exec, "limits": map[string]any{"concurrency": 501}}, http.StatusBadRequest,
			"concurrency 501 exceeds allowed threshold of 500"},
		{"concurrency too low", map[string]any{"exec": exec, "limits": map[string]any{"concurrency": 0}}, http.StatusBadRequest,
			"concurrency 0 below allowed threshold of 1"},
		{"memory not whole", map[string]any{"exec": exec, "limits": map[string]any{"memory": 200.5}}, http.StatusBadRequest,
			api.MsgMalformedPrefix + "memory limit must be whole number"},
		{"unknown kind", map[string]any{"exec": map[string]any{"kind": "cobol:1", "code": "x"}}, http.StatusBadRequest,
			api.MsgMalformedPrefix + "The specified runtime 'cobol:1' is not supported by this platform. Valid values are: " +
				"'blackbox', 'nodejs:20', 'python:3.11', 'sequence'."},
		{"code missing", map[string]any{"exec": map[string]any{"kind": "nodejs:20"}}, http.StatusBadRequest,
			api.MsgMalformedPrefix + "'code' must be a string defined in 'exec' for 'nodejs:20' actions"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.guest(http.MethodPut, actionsPath+"v", c.body), c.status, c.msg)
		})
	}
	r := e.guest(http.MethodPut, actionsPath+"v", "{not json")
	if r.status != http.StatusBadRequest || !strings.HasPrefix(r.object(t)["error"].(string), api.MsgMalformedPrefix) {
		t.Errorf("bad JSON: %d %s", r.status, r.body)
	}
	// Nothing was stored by the refused PUTs.
	wantError(t, e.guest(http.MethodGet, actionsPath+"v", nil), http.StatusNotFound, api.MsgNotFound)

	// An update out of range is refused and leaves the action as it was.
	e.putAction(actionsPath+"v", nil)
	wantError(t, e.guest(http.MethodPut, actionsPath+"v?overwrite=true", map[string]any{"limits": map[string]any{"memory": 4096}}),
		http.StatusBadRequest, "memory size 4096 MB exceeds allowed threshold of 512 MB")
	got := e.guest(http.MethodGet, actionsPath+"v", nil).object(t)
	if got["version"] != "0.0.1" || got["limits"].(map[string]any)["memory"] != 256.0 {
		t.Errorf("refused update changed the action: %v", got)
	}
}

func TestActionNames(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("a", 257)
	cases := []struct {
		path string
		msg  string
	}{
		{actionsPath + "a$b", api.MsgIllegalName},
		{actionsPath + "%20lead", api.MsgIllegalName},
		{actionsPath + "trail%20", api.MsgIllegalName},
		{actionsPath + "-dash", api.MsgIllegalName},
		{actionsPath + long, "Name segement longer than allowed: 257 > 256."},
		{actionsPath + "bad$pkg/x", api.MsgIllegalName},
		{"/api/v1/namespaces/bad$ns/actions/x", api.MsgIllegalNamespace},
		{"/api/v1/namespaces/" + long + "/actions/x", "Namespace longer than allowed: 257 > 256."},
	}
	for _, c := range cases {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPost} {
			var body any
			if m == http.MethodPut {
				body = map[string]any{"exec": map[string]any{"kind": "nodejs:default", "code": nodeCode}}
			}
			t.Run(m+" "+c.path[:min(len(c.path), 60)], func(t *testing.T) {
				wantError(t, e.guest(m, c.path, body), http.StatusBadRequest, c.msg)
			})
		}
	}
	// Names upstream allows: spaces inside, @ . & -.
	for _, name := range []string{"hello%20world", "a@b.c&d-e", "x_1", strings.Repeat("b", 256)} {
		a := e.putAction(actionsPath+name, nil)
		if strings.Contains(name, "%20") && a["name"] != "hello world" {
			t.Errorf("name %q stored as %v", name, a["name"])
		}
	}
}

func TestGetActionCodeFalse(t *testing.T) {
	e := newEnv(t)
	e.putAction(actionsPath+"hello", map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode, "main": "entry"}})
	for _, q := range []string{"?code=false", "?code=no", "?code=OFF", "?code=0"} {
		r := e.guest(http.MethodGet, actionsPath+"hello"+q, nil)
		wantStatus(t, r, http.StatusOK)
		exec := r.object(t)["exec"].(map[string]any)
		if _, ok := exec["code"]; ok {
			t.Errorf("GET %s: exec still has code: %v", q, exec)
		}
		if exec["kind"] != "nodejs:20" || exec["binary"] != false || exec["main"] != "entry" {
			t.Errorf("GET %s: exec = %v, want kind, binary, main kept", q, exec)
		}
	}
	for _, q := range []string{"", "?code=true", "?code=yes"} {
		exec := e.guest(http.MethodGet, actionsPath+"hello"+q, nil).object(t)["exec"].(map[string]any)
		if exec["code"] != nodeCode {
			t.Errorf("GET %s: code = %v", q, exec["code"])
		}
	}
	wantError(t, e.guest(http.MethodGet, actionsPath+"hello?code=nope", nil), http.StatusBadRequest,
		"The query parameter 'code' was malformed:\n'nope' is not a valid Boolean value")
	wantError(t, e.guest(http.MethodGet, actionsPath+"missing", nil), http.StatusNotFound, api.MsgNotFound)
}

func TestListActions(t *testing.T) {
	e := newEnv(t)
	r := e.guest(http.MethodGet, "/api/v1/namespaces/_/actions", nil)
	wantStatus(t, r, http.StatusOK)
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("empty list = %s, want []", r.body)
	}
	var want []string // newest first
	for i := range 5 {
		name := fmt.Sprintf("act%d", i)
		e.putAction(actionsPath+name, nil)
		want = append([]string{name}, want...)
		nextMilli() // distinct updated times
	}
	// Another namespace's actions are not listed.
	r = e.do(http.MethodPut, actionsPath+"sys", systemAuth, map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}})
	wantStatus(t, r, http.StatusOK)

	list := func(query string) []string {
		t.Helper()
		r := e.guest(http.MethodGet, "/api/v1/namespaces/_/actions"+query, nil)
		wantStatus(t, r, http.StatusOK)
		var sums []map[string]any
		r.json(t, &sums)
		out := []string{}
		for _, s := range sums {
			out = append(out, s["name"].(string))
		}
		return out
	}
	cases := map[string][]string{
		"":                 want,
		"?limit=2":         want[:2],
		"?skip=1&limit=2":  want[1:3],
		"?skip=4":          want[4:],
		"?skip=9":          {},
		"?limit=0":         want, // 0 means the maximum
		"?limit=200":       want,
		"?count=false":     want,
		"?limit=1&skip=0":  want[:1],
		"?limit=1&skip=10": {},
	}
	for q, w := range cases {
		if got := list(q); !reflect.DeepEqual(got, w) {
			t.Errorf("list%s = %v, want %v", q, got, w)
		}
	}
	if got := list("/"); !reflect.DeepEqual(got, want) {
		t.Errorf("list with trailing slash = %v", got)
	}

	// The summary shape: no code, exec.binary only.
	r = e.guest(http.MethodGet, "/api/v1/namespaces/guest/actions?limit=1", nil)
	var sums []map[string]any
	r.json(t, &sums)
	s := sums[0]
	for _, k := range []string{"namespace", "name", "version", "publish", "annotations", "limits", "exec", "updated"} {
		if _, ok := s[k]; !ok {
			t.Errorf("summary lacks %s: %v", k, s)
		}
	}
	if !reflect.DeepEqual(s["exec"], map[string]any{"binary": false}) {
		t.Errorf("summary exec = %v, want {binary:false}", s["exec"])
	}
	if _, ok := s["parameters"]; ok {
		t.Errorf("summary has parameters: %v", s)
	}

	// count ignores limit; skip counts off the front as in upstream's store.
	for q, want := range map[string]string{"?count=true": `{"actions":5}`, "?count=yes&limit=1&skip=3": `{"actions":2}`} {
		r = e.guest(http.MethodGet, "/api/v1/namespaces/_/actions"+q, nil)
		wantStatus(t, r, http.StatusOK)
		if got := strings.TrimSpace(string(r.body)); got != want {
			t.Errorf("count%s = %s, want %s", q, got, want)
		}
	}

	bad := map[string]string{
		"?limit=300": "The query parameter 'limit' was malformed:\nThe value '300' is not in the range of 0 to 200 for actions.",
		"?limit=-1":  "The query parameter 'limit' was malformed:\nThe value '-1' is not in the range of 0 to 200 for actions.",
		"?limit=abc": "The query parameter 'limit' was malformed:\nThe value 'abc' is not an integer for actions.",
		"?skip=-1":   "The query parameter 'skip' was malformed:\nThe value '-1' is not greater than or equal to 0 for actions.",
		"?skip=1.5":  "The query parameter 'skip' was malformed:\nThe value '1.5' is not an integer for actions.",
		"?count=2":   "The query parameter 'count' was malformed:\n'2' is not a valid Boolean value",
	}
	for q, msg := range bad {
		t.Run(q, func(t *testing.T) {
			wantError(t, e.guest(http.MethodGet, "/api/v1/namespaces/_/actions"+q, nil), http.StatusBadRequest, msg)
		})
	}
}

func TestActionsInPackage(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}}
	wantError(t, e.guest(http.MethodPut, actionsPath+"nopkg/hello", body), http.StatusNotFound, api.MsgNotFound)
	wantError(t, e.guest(http.MethodGet, actionsPath+"nopkg/", nil), http.StatusNotFound, api.MsgNotFound)
	if _, err := e.store.GetEntity(context.Background(), "guest/nopkg/hello"); err == nil {
		t.Fatal("PUT into a missing package stored the action")
	}

	e.putPackage("guest", "utils")
	e.putAction(actionsPath+"top", nil)
	nextMilli()
	a := e.putAction(actionsPath+"utils/echo", nil)
	if a["namespace"] != "guest/utils" || a["name"] != "echo" {
		t.Errorf("action in package: namespace %v name %v", a["namespace"], a["name"])
	}
	r := e.guest(http.MethodGet, actionsPath+"utils/echo", nil)
	wantStatus(t, r, http.StatusOK)
	if r.object(t)["namespace"] != "guest/utils" {
		t.Errorf("GET utils/echo = %s", r.body)
	}
	// Same name at the root is another action.
	wantError(t, e.guest(http.MethodGet, actionsPath+"echo", nil), http.StatusNotFound, api.MsgNotFound)

	names := func(path string) []string {
		r := e.guest(http.MethodGet, path, nil)
		wantStatus(t, r, http.StatusOK)
		var sums []map[string]any
		r.json(t, &sums)
		out := []string{}
		for _, s := range sums {
			out = append(out, s["namespace"].(string)+"/"+s["name"].(string))
		}
		return out
	}
	if got := names("/api/v1/namespaces/_/actions/utils/"); !reflect.DeepEqual(got, []string{"guest/utils/echo"}) {
		t.Errorf("package list = %v", got)
	}
	if got := names("/api/v1/namespaces/_/actions"); !reflect.DeepEqual(got, []string{"guest/utils/echo", "guest/top"}) {
		t.Errorf("namespace list = %v, want the package's action listed too", got)
	}
	r = e.guest(http.MethodGet, "/api/v1/namespaces/_/actions/utils/?count=true", nil)
	if got := strings.TrimSpace(string(r.body)); got != `{"actions":1}` {
		t.Errorf("package count = %s", got)
	}

	r = e.guest(http.MethodDelete, actionsPath+"utils/echo", nil)
	wantStatus(t, r, http.StatusOK)
	wantError(t, e.guest(http.MethodGet, actionsPath+"utils/echo", nil), http.StatusNotFound, api.MsgNotFound)
}

func TestActionWrongCollection(t *testing.T) {
	e := newEnv(t)
	e.putPackage("guest", "thing")
	body := map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}}
	wantError(t, e.guest(http.MethodPut, actionsPath+"thing", body), http.StatusConflict, api.MsgWrongCollection)
	wantError(t, e.guest(http.MethodPut, actionsPath+"thing?overwrite=true", body), http.StatusConflict, api.MsgWrongCollection)
	wantError(t, e.guest(http.MethodGet, actionsPath+"thing", nil), http.StatusConflict, api.MsgWrongCollection)
	wantError(t, e.guest(http.MethodDelete, actionsPath+"thing", nil), http.StatusConflict, api.MsgWrongCollection)
	// The package is still there.
	raw, err := e.store.GetEntity(context.Background(), "guest/thing")
	if err != nil || !strings.Contains(string(raw), `"binding"`) {
		t.Errorf("package after refused action operations: %s, %v", raw, err)
	}
}

func TestDeleteAction(t *testing.T) {
	e := newEnv(t)
	created := e.putAction(actionsPath+"hello", map[string]any{"parameters": []any{map[string]any{"key": "x", "value": 1}}})
	r := e.guest(http.MethodDelete, actionsPath+"hello", nil)
	wantStatus(t, r, http.StatusOK)
	if got := r.object(t); !reflect.DeepEqual(got, created) {
		t.Errorf("DELETE returned %v, want the deleted action %v", got, created)
	}
	wantError(t, e.guest(http.MethodGet, actionsPath+"hello", nil), http.StatusNotFound, api.MsgNotFound)
	wantError(t, e.guest(http.MethodDelete, actionsPath+"hello", nil), http.StatusNotFound, api.MsgNotFound)
	r = e.guest(http.MethodGet, "/api/v1/namespaces/_/actions?count=true", nil)
	if got := strings.TrimSpace(string(r.body)); got != `{"actions":0}` {
		t.Errorf("count after delete = %s", got)
	}
	// The name is free again, starting over at 0.0.1.
	if again := e.putAction(actionsPath+"hello", nil); again["version"] != "0.0.1" {
		t.Errorf("re-created version = %v", again["version"])
	}
}

func TestConcurrentCreateOneWins(t *testing.T) {
	e := newEnv(t)
	const n = 8
	statuses := make(chan *response, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- e.guest(http.MethodPut, actionsPath+"race", map[string]any{
				"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}})
		}()
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for r := range statuses {
		switch r.status {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
			wantError(t, r, http.StatusConflict, api.MsgExists)
		default:
			t.Errorf("concurrent create: status %d %s", r.status, r.body)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent creates succeeded, want exactly 1", ok)
	}

	// Concurrent updates: each either applies (a distinct version) or is
	// refused as a concurrent modification; none is lost silently.
	statuses = make(chan *response, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- e.guest(http.MethodPut, actionsPath+"race?overwrite=true", map[string]any{})
		}()
	}
	wg.Wait()
	close(statuses)
	versions := map[any]bool{}
	for r := range statuses {
		switch r.status {
		case http.StatusOK:
			v := r.object(t)["version"]
			if versions[v] {
				t.Errorf("two updates both answered version %v", v)
			}
			versions[v] = true
		case http.StatusConflict:
			wantError(t, r, http.StatusConflict, api.MsgConcurrentMod)
		default:
			t.Errorf("concurrent update: status %d %s", r.status, r.body)
		}
	}
	got := e.guest(http.MethodGet, actionsPath+"race", nil).object(t)["version"]
	if want := fmt.Sprintf("0.0.%d", 1+len(versions)); got != want {
		t.Errorf("version after %d successful updates = %v, want %s", len(versions), got, want)
	}
}

func TestPutActionParametersTooLarge(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("x", 1<<20)
	r := e.guest(http.MethodPut, actionsPath+"big", map[string]any{
		"exec":       map[string]any{"kind": "nodejs:20", "code": nodeCode},
		"parameters": []any{map[string]any{"key": "k", "value": big}},
	})
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413; body %.200s", r.status, r.body)
	}
	msg := r.object(t)["error"].(string)
	if !strings.HasPrefix(msg, "parameters larger than allowed: ") || !strings.HasSuffix(msg, " > 1048576 bytes.") {
		t.Errorf("error = %q", msg)
	}
}

func TestDeprecatedOrUnknownKindStored(t *testing.T) {
	e := newEnv(t)
	// An action stored with a kind the platform no longer has can be read
	// and deleted, but not invoked.
	doc := map[string]any{"entityType": "action", "namespace": "guest", "name": "old", "version": "0.0.1",
		"publish": false, "exec": map[string]any{"kind": "nodejs:14", "code": nodeCode, "binary": false},
		"parameters": []any{}, "annotations": []any{}, "updated": 1,
		"limits": map[string]any{"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1}}
	if _, err := e.store.PutEntity(context.Background(), "guest/old", "", doc); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.guest(http.MethodGet, actionsPath+"old", nil), http.StatusOK)
	wantError(t, e.guest(http.MethodPost, actionsPath+"old", nil), http.StatusBadRequest,
		"The 'nodejs:14' runtime is no longer supported. You may read and delete but not update or invoke this action.")
	wantStatus(t, e.guest(http.MethodDelete, actionsPath+"old", nil), http.StatusOK)
}

func TestNonJSONContentType(t *testing.T) {
	e := newEnv(t)
	// Upstream: a body with a non-JSON content type is 415.
	req := httptest.NewRequest(http.MethodPut, actionsPath+"typed",
		strings.NewReader(`{"exec":{"kind":"nodejs:20","code":"x"}}`))
	req.Header.Set("Content-Type", "text/plain")
	req.SetBasicAuth(guestUUID, guestKey)
	r := e.serve(req)
	if r.status == http.StatusOK {
		t.Fatal("PUT with Content-Type text/plain = 200, want 415 \"The request's Content-Type [text/plain] is not " +
			"supported. Expected:\\napplication/json\": controller/server.go readBody (used by putAction and " +
			"invokeAction) never looks at Content-Type")
	}
	if r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d, want 415", r.status)
	}
	msg := r.object(t)["error"].(string)
	if !strings.HasPrefix(msg, "The request's Content-Type [text/plain") || !strings.HasSuffix(msg, "] is not supported. Expected:\napplication/json") {
		t.Errorf("error = %q", msg)
	}
}
