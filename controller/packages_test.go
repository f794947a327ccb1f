package controller_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
)

const (
	packagesPath = "/api/v1/namespaces/_/packages/"
	systemPkgs   = "/api/v1/namespaces/whisk.system/packages/"
	systemActs   = "/api/v1/namespaces/whisk.system/actions/"
)

func kv(pairs ...any) []any {
	out := []any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, map[string]any{"key": pairs[i], "value": pairs[i+1]})
	}
	return out
}

// params decodes an entity's parameters as key → value.
func params(t *testing.T, entity map[string]any) map[string]any {
	t.Helper()
	list, ok := entity["parameters"].([]any)
	if !ok {
		t.Fatalf("parameters is not an array: %v", entity["parameters"])
	}
	out := map[string]any{}
	for _, p := range list {
		m := p.(map[string]any)
		out[m["key"].(string)] = m["value"]
	}
	return out
}

// sys sends a request as whisk.system.
func (e *env) sys(method, path string, body any) *response {
	e.t.Helper()
	return e.do(method, path, systemAuth, body)
}

// mustOK checks a 200 and decodes the object.
func mustOK(t *testing.T, r *response) map[string]any {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	return r.object(t)
}

// systemFixture publishes whisk.system/utils (parameters p=P,
// b=from-package, a=from-package) with action echo (parameter a=A), and keeps whisk.system/private private
// with action secret.
func systemFixture(t *testing.T, e *env) {
	t.Helper()
	mustOK(t, e.sys(http.MethodPut, systemPkgs+"utils", map[string]any{
		"publish": true, "parameters": kv("p", "P", "b", "from-package", "a", "from-package")}))
	mustOK(t, e.sys(http.MethodPut, systemActs+"utils/echo", map[string]any{
		"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}, "parameters": kv("a", "A")}))
	mustOK(t, e.sys(http.MethodPut, systemPkgs+"private", map[string]any{}))
	mustOK(t, e.sys(http.MethodPut, systemActs+"private/secret", map[string]any{
		"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}}))
}

func TestPackageCreateUpdate(t *testing.T) {
	e := newEnv(t)
	p := mustOK(t, e.guest(http.MethodPut, packagesPath+"tools", map[string]any{
		"parameters":  kv("x", 1),
		"annotations": kv("binding", "forged", "a", "b"),
		"namespace":   "ignored", "name": "ignored",
	}))
	if p["namespace"] != "guest" || p["name"] != "tools" || p["version"] != "0.0.1" || p["publish"] != false {
		t.Errorf("created = %v", p)
	}
	if !reflect.DeepEqual(p["binding"], map[string]any{}) {
		t.Errorf("binding = %v, want {}", p["binding"])
	}
	if !reflect.DeepEqual(p["annotations"], kv("a", "b")) {
		t.Errorf("annotations = %v, want the client's binding annotation dropped", p["annotations"])
	}
	if _, ok := p["updated"].(float64); !ok {
		t.Errorf("updated = %v", p["updated"])
	}

	wantError(t, e.guest(http.MethodPut, packagesPath+"tools", map[string]any{}), http.StatusConflict, api.MsgExists)

	u := mustOK(t, e.guest(http.MethodPut, packagesPath+"tools?overwrite=true", map[string]any{
		"publish": true, "annotations": kv("c", "d")}))
	if u["version"] != "0.0.2" || u["publish"] != true {
		t.Errorf("updated = %v, want version 0.0.2 and publish", u)
	}
	if !reflect.DeepEqual(params(t, u), map[string]any{"x": 1.0}) {
		t.Errorf("parameters after update = %v, want kept", u["parameters"])
	}
	if !reflect.DeepEqual(u["annotations"], kv("c", "d")) {
		t.Errorf("annotations after update = %v, want replaced", u["annotations"])
	}
	v := mustOK(t, e.guest(http.MethodPut, packagesPath+"tools?overwrite=true", map[string]any{"version": "2.0.0"}))
	if v["version"] != "2.0.0" {
		t.Errorf("version = %v, want the given one", v["version"])
	}

	got := mustOK(t, e.guest(http.MethodGet, packagesPath+"tools", nil))
	if !reflect.DeepEqual(got["actions"], []any{}) || !reflect.DeepEqual(got["feeds"], []any{}) {
		t.Errorf("GET actions/feeds = %v / %v, want []", got["actions"], got["feeds"])
	}
	if got["version"] != "2.0.0" || got["publish"] != true {
		t.Errorf("GET = %v", got)
	}

	bad := map[string]string{
		`{"publish":"yes"}`:                          "'publish' must be a boolean",
		`{"version":"1.0.x"}`:                        "version must be a string of the form major.minor.patch",
		`{"binding":{"name":"x"}}`:                   "'binding' must have a string 'namespace'",
		`{"binding":{"namespace":"a/b","name":"x"}}`: "'binding' namespace: " + api.MsgIllegalName,
		`{"parameters":{"a":1}}`:                     "'parameters' must be an array of key-value pairs",
		`[1]`:                                        "expected a JSON object, got array",
	}
	for body, detail := range bad {
		wantError(t, e.guest(http.MethodPut, packagesPath+"bad", body), http.StatusBadRequest, api.MsgMalformedPrefix+detail)
	}
	wantError(t, e.guest(http.MethodPut, packagesPath+"default", map[string]any{}), http.StatusBadRequest, "Package name 'default' is reserved.")
	wantError(t, e.guest(http.MethodPut, packagesPath+"default?overwrite=true", map[string]any{}), http.StatusBadRequest, "Package name 'default' is reserved.")
	wantError(t, e.guest(http.MethodPost, packagesPath+"tools", nil), http.StatusMethodNotAllowed, "HTTP method not allowed, supported methods: PUT, GET, DELETE")
	wantError(t, e.guest(http.MethodGet, packagesPath+"no%2Fslash", nil), http.StatusBadRequest, api.MsgIllegalName)
}

// One name space for the four collections: a package name taken by an action
// (and the reverse) is a 409.
func TestPackageWrongCollection(t *testing.T) {
	e := newEnv(t)
	e.putAction(actionsPath+"thing", nil)
	wantError(t, e.guest(http.MethodPut, packagesPath+"thing", map[string]any{}), http.StatusConflict, api.MsgWrongCollection)
	wantError(t, e.guest(http.MethodPut, packagesPath+"thing?overwrite=true", map[string]any{}), http.StatusConflict, api.MsgWrongCollection)
	wantError(t, e.guest(http.MethodGet, packagesPath+"thing", nil), http.StatusConflict, api.MsgWrongCollection)
	wantError(t, e.guest(http.MethodDelete, packagesPath+"thing", nil), http.StatusConflict, api.MsgWrongCollection)
	// An action path under the action's name is not a package either.
	wantError(t, e.guest(http.MethodGet, actionsPath+"thing/x", nil), http.StatusConflict, api.MsgWrongCollection)
	mustOK(t, e.guest(http.MethodGet, actionsPath+"thing", nil))

	mustOK(t, e.guest(http.MethodPut, packagesPath+"pkg", map[string]any{}))
	body := map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}}
	wantError(t, e.guest(http.MethodPut, actionsPath+"pkg?overwrite=true", body), http.StatusConflict, api.MsgWrongCollection)
	// Without a trailing slash, actions/pkg names an action: the package is in another collection.
	wantError(t, e.guest(http.MethodGet, actionsPath+"pkg", nil), http.StatusConflict, api.MsgWrongCollection)
}

func TestPackageList(t *testing.T) {
	e := newEnv(t)
	systemFixture(t, e)
	mustOK(t, e.guest(http.MethodPut, packagesPath+"first", map[string]any{}))
	nextMilli()
	mustOK(t, e.guest(http.MethodPut, packagesPath+"second", map[string]any{"publish": true}))
	nextMilli()
	mustOK(t, e.guest(http.MethodPut, packagesPath+"bound", map[string]any{"binding": map[string]any{"namespace": "whisk.system", "name": "utils"}}))

	var list []map[string]any
	r := e.guest(http.MethodGet, "/api/v1/namespaces/_/packages", nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &list)
	var names []string
	for _, p := range list {
		names = append(names, p["name"].(string))
		if _, ok := p["parameters"]; ok {
			t.Errorf("summary has parameters: %v", p)
		}
	}
	if !reflect.DeepEqual(names, []string{"bound", "second", "first"}) {
		t.Errorf("own list = %v, want newest first with the binding", names)
	}
	if list[0]["binding"] == false || !reflect.DeepEqual(list[0]["binding"], map[string]any{"namespace": "whisk.system", "name": "utils"}) {
		t.Errorf("binding summary = %v", list[0]["binding"])
	}
	if list[1]["binding"] != false {
		t.Errorf("package summary binding = %v, want false", list[1]["binding"])
	}
	for q, want := range map[string]string{"?count=true": `{"packages":3}`, "?count=true&skip=1": `{"packages":2}`, "?count=true&skip=9": `{"packages":0}`} {
		r := e.guest(http.MethodGet, "/api/v1/namespaces/_/packages"+q, nil)
		if got := strings.TrimSpace(string(r.body)); got != want {
			t.Errorf("count%s = %s, want %s", q, got, want)
		}
	}
	r = e.guest(http.MethodGet, "/api/v1/namespaces/_/packages?limit=1&skip=1", nil)
	r.json(t, &list)
	if len(list) != 1 || list[0]["name"] != "second" {
		t.Errorf("page = %v", list)
	}

	// Another namespace sees only published packages, never bindings.
	r = e.sys(http.MethodGet, "/api/v1/namespaces/guest/packages", nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &list)
	if len(list) != 1 || list[0]["name"] != "second" {
		t.Errorf("guest's packages seen by whisk.system = %v, want only second", list)
	}
	if got := strings.TrimSpace(string(e.sys(http.MethodGet, "/api/v1/namespaces/guest/packages?count=true", nil).body)); got != `{"packages":1}` {
		t.Errorf("public count = %s", got)
	}
	r = e.guest(http.MethodGet, "/api/v1/namespaces/whisk.system/packages/", nil)
	r.json(t, &list)
	if len(list) != 1 || list[0]["name"] != "utils" || list[0]["namespace"] != "whisk.system" {
		t.Errorf("whisk.system packages seen by guest = %v", list)
	}
	wantError(t, e.guest(http.MethodGet, "/api/v1/namespaces/_/packages?limit=201", nil), http.StatusBadRequest,
		"The query parameter 'limit' was malformed:\nThe value '201' is not in the range of 0 to 200 for packages.")
	wantError(t, e.guest(http.MethodPut, "/api/v1/namespaces/_/packages", nil), http.StatusMethodNotAllowed,
		"HTTP method not allowed, supported methods: GET")
}

func TestPackageDelete(t *testing.T) {
	e := newEnv(t)
	created := mustOK(t, e.guest(http.MethodPut, packagesPath+"full", map[string]any{"parameters": kv("k", "v")}))
	e.putAction(actionsPath+"full/one", nil)
	wantError(t, e.guest(http.MethodDelete, packagesPath+"full", nil), http.StatusConflict,
		"Package not empty (contains 1 entity). Set force param or delete package contents.")
	e.putAction(actionsPath+"full/two", nil)
	wantError(t, e.guest(http.MethodDelete, packagesPath+"full?force=false", nil), http.StatusConflict,
		"Package not empty (contains 2 entities). Set force param or delete package contents.")
	mustOK(t, e.guest(http.MethodGet, actionsPath+"full/one", nil))

	// A binding goes whatever its package holds.
	mustOK(t, e.guest(http.MethodPut, packagesPath+"alias", map[string]any{"binding": map[string]any{"namespace": "_", "name": "full"}}))
	mustOK(t, e.guest(http.MethodDelete, packagesPath+"alias", nil))

	deleted := mustOK(t, e.guest(http.MethodDelete, packagesPath+"full?force=true", nil))
	if deleted["name"] != "full" || !reflect.DeepEqual(deleted["parameters"], created["parameters"]) {
		t.Errorf("DELETE returned %v, want the deleted package", deleted)
	}
	for _, p := range []string{actionsPath + "full/one", actionsPath + "full/two"} {
		wantError(t, e.guest(http.MethodGet, p, nil), http.StatusNotFound, api.MsgNotFound)
	}
	wantError(t, e.guest(http.MethodGet, packagesPath+"full", nil), http.StatusNotFound, "The requested resource 'guest/full' does not exist.")
	if got := strings.TrimSpace(string(e.guest(http.MethodGet, "/api/v1/namespaces/_/actions?count=true", nil).body)); got != `{"actions":0}` {
		t.Errorf("actions left after force delete: %s", got)
	}
	wantError(t, e.guest(http.MethodDelete, packagesPath+"full", nil), http.StatusNotFound, api.MsgNotFound)
}

func TestBindings(t *testing.T) {
	e := newEnv(t)
	systemFixture(t, e)
	bindTo := func(ns, name string) map[string]any {
		return map[string]any{"binding": map[string]any{"namespace": ns, "name": name}}
	}

	b := bindTo("whisk.system", "utils")
	b["parameters"] = kv("b", "from-binding", "c", "C")
	created := mustOK(t, e.guest(http.MethodPut, packagesPath+"myutils", b))
	want := map[string]any{"namespace": "whisk.system", "name": "utils"}
	if !reflect.DeepEqual(created["binding"], want) {
		t.Errorf("binding = %v", created["binding"])
	}
	if v, ok := annotation(t, created, "binding"); !ok || !reflect.DeepEqual(v, want) {
		t.Errorf("binding annotation = %v (%v), want %v", v, ok, want)
	}

	got := mustOK(t, e.guest(http.MethodGet, packagesPath+"myutils", nil))
	if got["namespace"] != "guest" || got["name"] != "myutils" || !reflect.DeepEqual(got["binding"], want) {
		t.Errorf("GET binding = %v, want the binding itself", got)
	}
	if p := params(t, got); !reflect.DeepEqual(p, map[string]any{"p": "P", "b": "from-binding", "c": "C", "a": "from-package"}) {
		t.Errorf("GET binding parameters = %v, want package's under binding's", p)
	}
	acts, _ := got["actions"].([]any)
	if len(acts) != 1 || acts[0].(map[string]any)["name"] != "echo" {
		t.Errorf("GET binding actions = %v, want the bound package's", got["actions"])
	}

	// "_" in a binding is the caller's namespace.
	mustOK(t, e.guest(http.MethodPut, packagesPath+"mine", map[string]any{"parameters": kv("m", 1)}))
	own := mustOK(t, e.guest(http.MethodPut, packagesPath+"mine-alias", bindTo("_", "mine")))
	if !reflect.DeepEqual(own["binding"], map[string]any{"namespace": "guest", "name": "mine"}) {
		t.Errorf("binding to _ = %v", own["binding"])
	}

	refused := []struct {
		body   map[string]any
		status int
		msg    string
	}{
		{bindTo("whisk.system", "private"), http.StatusForbidden, "The supplied authentication is not authorized to access 'whisk.system/private'."},
		{bindTo("whisk.system", "nothing"), http.StatusForbidden, "The supplied authentication is not authorized to access 'whisk.system/nothing'."},
		{bindTo("_", "nothing"), http.StatusBadRequest, api.MsgBindingMissing},
		{bindTo("guest", "myutils"), http.StatusBadRequest, api.MsgBindingToBinding},
	}
	for _, c := range refused {
		wantError(t, e.guest(http.MethodPut, packagesPath+"refused", c.body), c.status, c.msg)
	}
	e.putAction(actionsPath+"notapkg", nil)
	wantError(t, e.guest(http.MethodPut, packagesPath+"refused", bindTo("_", "notapkg")), http.StatusConflict, api.MsgBindingNotPackage)
	wantError(t, e.guest(http.MethodGet, packagesPath+"refused", nil), http.StatusNotFound, "The requested resource 'guest/refused' does not exist.")

	// A package never becomes a binding; a binding may move.
	wantError(t, e.guest(http.MethodPut, packagesPath+"mine?overwrite=true", bindTo("whisk.system", "utils")), http.StatusConflict, api.MsgPackageNotBindable)
	moved := mustOK(t, e.guest(http.MethodPut, packagesPath+"mine-alias?overwrite=true", bindTo("whisk.system", "utils")))
	if moved["version"] != "0.0.2" || !reflect.DeepEqual(moved["binding"], want) {
		t.Errorf("moved binding = %v", moved)
	}
	if v, _ := annotation(t, moved, "binding"); !reflect.DeepEqual(v, want) {
		t.Errorf("moved binding annotation = %v", v)
	}
	// Updating a binding without a binding keeps it.
	kept := mustOK(t, e.guest(http.MethodPut, packagesPath+"mine-alias?overwrite=true", map[string]any{"parameters": kv("z", 1)}))
	if !reflect.DeepEqual(kept["binding"], want) {
		t.Errorf("binding after update = %v", kept["binding"])
	}

	// Nobody reads another namespace's binding, nor a binding whose package turned private.
	wantError(t, e.sys(http.MethodGet, "/api/v1/namespaces/guest/packages/myutils", nil), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'guest/myutils'.")
	mustOK(t, e.sys(http.MethodPut, systemPkgs+"utils?overwrite=true", map[string]any{"publish": false}))
	wantError(t, e.guest(http.MethodGet, packagesPath+"myutils", nil), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'guest/myutils'.")
	wantError(t, e.guest(http.MethodGet, actionsPath+"myutils/echo", nil), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'guest/myutils'.")
}

// whisk.system's published packages are readable by every user; its
// private packages, default package and writes are not.
func TestSharedPackageEntitlement(t *testing.T) {
	e := newEnv(t)
	systemFixture(t, e)
	mustOK(t, e.sys(http.MethodPut, systemActs+"top", map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}}))

	pkg := mustOK(t, e.guest(http.MethodGet, systemPkgs+"utils", nil))
	if pkg["namespace"] != "whisk.system" || len(pkg["actions"].([]any)) != 1 {
		t.Errorf("GET whisk.system/utils = %v", pkg)
	}
	a := mustOK(t, e.guest(http.MethodGet, systemActs+"utils/echo", nil))
	if a["namespace"] != "whisk.system/utils" {
		t.Errorf("GET shared action = %v", a)
	}
	if p := params(t, a); !reflect.DeepEqual(p, map[string]any{"p": "P", "b": "from-package", "a": "A"}) {
		t.Errorf("shared action parameters = %v, want package < action", p)
	}
	var list []map[string]any
	r := e.guest(http.MethodGet, systemActs+"utils/", nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &list)
	if len(list) != 1 || list[0]["name"] != "echo" {
		t.Errorf("actions of whisk.system/utils = %v", list)
	}

	forbidden := []struct{ method, path, resource string }{
		{http.MethodGet, systemPkgs + "private", "whisk.system/private"},
		{http.MethodGet, systemPkgs + "nothing", "whisk.system/nothing"},
		{http.MethodPut, systemPkgs + "utils?overwrite=true", "whisk.system/utils"},
		{http.MethodPut, systemPkgs + "new", "whisk.system/new"},
		{http.MethodDelete, systemPkgs + "utils", "whisk.system/utils"},
		{http.MethodGet, systemActs + "private/secret", "whisk.system/private"},
		{http.MethodPost, systemActs + "private/secret", "whisk.system/private"},
		{http.MethodGet, systemActs + "private/", "whisk.system/private"},
		{http.MethodGet, systemActs + "nothing/echo", "whisk.system/nothing"},
		{http.MethodGet, systemActs + "top", "whisk.system/top"},
		{http.MethodPost, systemActs + "top", "whisk.system/top"},
		{http.MethodGet, "/api/v1/namespaces/whisk.system/actions", "whisk.system"},
		{http.MethodPut, systemActs + "utils/echo?overwrite=true", "whisk.system/utils/echo"},
		{http.MethodDelete, systemActs + "utils/echo", "whisk.system/utils/echo"},
	}
	for _, c := range forbidden {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			var body any
			if c.method == http.MethodPut {
				body = map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}}
			}
			wantError(t, e.guest(c.method, c.path, body), http.StatusForbidden,
				"The supplied authentication is not authorized to access '"+c.resource+"'.")
		})
	}
	// The refused writes changed nothing.
	if got := mustOK(t, e.sys(http.MethodGet, systemActs+"utils/echo", nil)); got["version"] != "0.0.1" {
		t.Errorf("shared action after refused writes = %v", got)
	}
	// The owner still sees a missing package as missing.
	wantError(t, e.sys(http.MethodGet, systemPkgs+"nothing", nil), http.StatusNotFound, "The requested resource 'whisk.system/nothing' does not exist.")
	wantError(t, e.sys(http.MethodGet, systemActs+"nothing/echo", nil), http.StatusNotFound, api.MsgNotFound)
}

func TestActionsThroughBinding(t *testing.T) {
	e := newEnv(t)
	systemFixture(t, e)
	mustOK(t, e.guest(http.MethodPut, packagesPath+"tools", map[string]any{
		"binding": map[string]any{"namespace": "whisk.system", "name": "utils"}, "parameters": kv("b", "from-binding")}))

	a := mustOK(t, e.guest(http.MethodGet, actionsPath+"tools/echo", nil))
	if a["namespace"] != "whisk.system/utils" || a["name"] != "echo" {
		t.Errorf("GET through binding = %v, want the real action", a)
	}
	if p := params(t, a); !reflect.DeepEqual(p, map[string]any{"p": "P", "b": "from-binding", "a": "A"}) {
		t.Errorf("parameters through binding = %v, want package < binding < action", p)
	}
	if _, ok := a["binding"]; ok {
		t.Errorf("GET with code names the binding: %v", a)
	}
	meta := mustOK(t, e.guest(http.MethodGet, actionsPath+"tools/echo?code=false", nil))
	if meta["binding"] != "guest/tools" {
		t.Errorf("GET code=false binding = %v, want guest/tools", meta["binding"])
	}
	if exec := meta["exec"].(map[string]any); exec["code"] != nil {
		t.Errorf("code=false returned code")
	}
	// The stored action is untouched by the merge.
	raw, err := e.store.GetAction(context.Background(), "whisk.system/utils/echo")
	if err != nil || len(raw.Parameters) != 1 {
		t.Errorf("stored action parameters = %v (%v)", raw, err)
	}

	var list []map[string]any
	r := e.guest(http.MethodGet, actionsPath+"tools/", nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &list)
	if len(list) != 1 || list[0]["namespace"] != "whisk.system/utils" {
		t.Errorf("list through binding = %v", list)
	}
	if got := strings.TrimSpace(string(e.guest(http.MethodGet, actionsPath+"tools/?count=true", nil).body)); got != `{"actions":1}` {
		t.Errorf("count through binding = %s", got)
	}

	body := map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}}
	wantError(t, e.guest(http.MethodPut, actionsPath+"tools/new", body), http.StatusBadRequest, api.MsgBindingOp)
	wantError(t, e.guest(http.MethodPut, actionsPath+"tools/echo?overwrite=true", body), http.StatusBadRequest, api.MsgBindingOp)
	wantError(t, e.guest(http.MethodDelete, actionsPath+"tools/echo", nil), http.StatusBadRequest, api.MsgBindingOp)
	wantError(t, e.guest(http.MethodGet, actionsPath+"tools/missing", nil), http.StatusNotFound, api.MsgNotFound)
	mustOK(t, e.sys(http.MethodGet, systemActs+"utils/echo", nil))
}

func TestInvokeThroughBinding(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("bind-echo", silent)
	mustOK(t, e.sys(http.MethodPut, systemPkgs+"bind-utils", map[string]any{
		"publish": true, "parameters": kv("p", "P", "b", "from-package", "a", "from-package")}))
	mustOK(t, e.sys(http.MethodPut, systemActs+"bind-utils/bind-echo", map[string]any{
		"exec": map[string]any{"kind": "nodejs:20", "code": nodeCode}, "parameters": kv("a", "A", "x", "from-action")}))
	mustOK(t, e.guest(http.MethodPut, packagesPath+"bind-mine", map[string]any{
		"binding": map[string]any{"namespace": "whisk.system", "name": "bind-utils"}, "parameters": kv("b", "from-binding", "a", "from-binding")}))

	r := e.guest(http.MethodPost, actionsPath+"bind-mine/bind-echo", map[string]any{"x": "from-payload"})
	wantStatus(t, r, http.StatusAccepted)
	m := k.inv.message(t, r.header.Get("x-openwhisk-activation-id"))
	if m.Action.Path != "whisk.system/bind-utils" || m.Action.Name != "bind-echo" || m.Action.Binding != "guest/bind-mine" {
		t.Errorf("message action = %+v, want the real action with binding guest/bind-mine", m.Action)
	}
	if m.User.Namespace.Name != "guest" {
		t.Errorf("message user = %+v, want the invoking guest", m.User)
	}
	var content map[string]any
	if err := json.Unmarshal(m.Content, &content); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"p": "P", "b": "from-binding", "a": "A", "x": "from-payload"}
	if !reflect.DeepEqual(content, want) {
		t.Errorf("arguments = %v, want package < binding < action < payload %v", content, want)
	}

	// Directly in the published package: no binding.
	r = e.guest(http.MethodPost, systemActs+"bind-utils/bind-echo", nil)
	wantStatus(t, r, http.StatusAccepted)
	m = k.inv.message(t, r.header.Get("x-openwhisk-activation-id"))
	if m.Action.Path != "whisk.system/bind-utils" || m.Action.Binding != "" {
		t.Errorf("direct message action = %+v", m.Action)
	}

	mustOK(t, e.sys(http.MethodPut, systemPkgs+"bind-utils?overwrite=true", map[string]any{"publish": false}))
	wantError(t, e.guest(http.MethodPost, systemActs+"bind-utils/bind-echo", nil), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'whisk.system/bind-utils'.")
	wantError(t, e.guest(http.MethodPost, actionsPath+"bind-mine/bind-echo", nil), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'guest/bind-mine'.")
}

// A hand-edited binding that refers to itself is refused with 422, not
// followed forever.
func TestCircularBinding(t *testing.T) {
	e := newEnv(t)
	_, err := e.store.PutEntity(context.Background(), "guest/loop", "", api.PackageDoc{EntityType: "package", Package: api.Package{
		Namespace: "guest", Name: "loop", Version: "0.0.1", Binding: api.Binding{Namespace: "guest", Name: "loop"},
		Parameters: api.KeyValues{}, Annotations: api.KeyValues{}, Updated: time.Now().UnixMilli()}})
	if err != nil {
		t.Fatal(err)
	}
	const msg = "Package binding 'guest/loop' contains a circular reference."
	wantError(t, e.guest(http.MethodGet, packagesPath+"loop", nil), http.StatusUnprocessableEntity, msg)
	wantError(t, e.guest(http.MethodGet, actionsPath+"loop/x", nil), http.StatusUnprocessableEntity, msg)
	wantError(t, e.guest(http.MethodGet, actionsPath+"loop/", nil), http.StatusUnprocessableEntity, msg)
	mustOK(t, e.guest(http.MethodDelete, packagesPath+"loop", nil))
}
