package wskcompat

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// whisk.system's well-known key,
// which standalone installs at first start.
const (
	systemAuth      = "789c46b1-71f6-4ed5-8c54-816aa4f8c502:abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	systemNamespace = "whisk.system"
)

// clientFor returns a client of srv acting with auth on namespace ns ("_"
// for the caller's own), as `wsk ... /ns/...` does.
func clientFor(t *testing.T, srv *harness.Server, auth, ns string) *whisk.Client {
	t.Helper()
	c := srv.NewClient(auth)
	c.Config.Namespace = ns
	return c
}

// paramMap turns a client KeyValueArr into key → value.
func paramMap(t *testing.T, kvs whisk.KeyValueArr) map[string]any {
	t.Helper()
	var list []keyValue
	reshape(t, kvs, &list)
	out := map[string]any{}
	for _, p := range list {
		out[p.Key] = p.Value
	}
	return out
}

func kvArr(pairs ...string) whisk.KeyValueArr {
	var out whisk.KeyValueArr
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, whisk.KeyValue{Key: pairs[i], Value: pairs[i+1]})
	}
	return out
}

// wantAPIError checks a refused client call: the HTTP status and upstream's
// message in the client's error.
func wantAPIError(t *testing.T, what string, resp *http.Response, err error, want int, msg string) {
	t.Helper()
	if err == nil || resp == nil || resp.StatusCode != want {
		t.Errorf("%s: status %s, err %v; want %d", what, status(resp), err, want)
		return
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("%s: error %q, want it to contain %q", what, err.Error(), msg)
	}
}

// TestPackagesClientGo drives packages through openwhisk-client-go (the
// library of `wsk package ...`): CRUD, actions inside a package with the
// package's parameters, and the refused delete of a non-empty package.
func TestPackagesClientGo(t *testing.T) {
	srv := harness.Start(t)
	c := srv.Client
	pkg := uniqueName("compat-pkg")

	created, resp, err := c.Packages.Insert(&whisk.Package{Name: pkg, Parameters: kvArr("place", "package", "shape", "square")}, false)
	if err != nil {
		t.Fatalf("create package: status %s: %v", status(resp), err)
	}
	if created.Namespace != harness.GuestNamespace || created.Version != "0.0.1" || created.Publish == nil || *created.Publish {
		t.Errorf("created = %+v", created)
	}
	_, resp, err = c.Packages.Insert(&whisk.Package{Name: pkg}, false)
	wantAPIError(t, "create twice", resp, err, http.StatusConflict, "resource already exists")

	publish := true
	updated, resp, err := c.Packages.Insert(&whisk.Package{Name: pkg, Publish: &publish, Parameters: kvArr("place", "package", "shape", "square")}, true)
	if err != nil {
		t.Fatalf("update package: status %s: %v", status(resp), err)
	}
	if updated.Version != "0.0.2" || updated.Publish == nil || !*updated.Publish {
		t.Errorf("updated = version %s publish %v, want 0.0.2 and published", updated.Version, updated.Publish)
	}

	list, resp, err := c.Packages.List(&whisk.PackageListOptions{Limit: 200})
	if err != nil {
		t.Fatalf("list packages: status %s: %v", status(resp), err)
	}
	found := false
	for _, p := range list {
		found = found || p.Name == pkg
	}
	if !found {
		t.Errorf("package %s not listed in %d packages", pkg, len(list))
	}

	act := pkg + "/echo"
	a := newAction(act, kindPython, actionSource(t, "python/echo.py"))
	a.Parameters = kvArr("shape", "circle")
	if got := mustInsert(t, c, a, false); got.Namespace != "guest/"+pkg || got.Name != "echo" {
		t.Errorf("action in package: namespace %q name %q", got.Namespace, got.Name)
	}
	got, resp, err := c.Actions.Get(act, false)
	if err != nil {
		t.Fatalf("get %s: status %s: %v", act, status(resp), err)
	}
	if p := paramMap(t, got.Parameters); !reflect.DeepEqual(p, map[string]any{"place": "package", "shape": "circle"}) {
		t.Errorf("GET %s parameters = %v, want package < action", act, p)
	}
	res := invokeResult(t, c, act, map[string]any{"extra": 1})
	if want := map[string]any{"place": "package", "shape": "circle", "extra": 1.0}; !reflect.DeepEqual(res, want) {
		t.Errorf("invoke %s = %v, want %v", act, res, want)
	}
	acts, _, err := c.Actions.List(pkg, &whisk.ActionListOptions{Limit: 200})
	if err != nil || len(acts) != 1 || acts[0].Name != "echo" {
		t.Errorf("actions in %s = %v (err %v)", pkg, listNames(acts), err)
	}
	p, resp, err := c.Packages.Get(pkg)
	if err != nil {
		t.Fatalf("get package: status %s: %v", status(resp), err)
	}
	if len(p.Actions) != 1 || p.Actions[0].Name != "echo" {
		t.Errorf("package actions = %+v", p.Actions)
	}

	resp, err = c.Packages.Delete(pkg)
	wantAPIError(t, "delete non-empty", resp, err, http.StatusConflict,
		"Package not empty (contains 1 entity). Set force param or delete package contents.")
	if _, err := c.Actions.Delete(act); err != nil {
		t.Fatalf("delete %s: %v", act, err)
	}
	if resp, err := c.Packages.Delete(pkg); err != nil {
		t.Fatalf("delete package: status %s: %v", status(resp), err)
	}
	_, resp, err = c.Packages.Get(pkg)
	wantAPIError(t, "get deleted", resp, err, http.StatusNotFound, "The requested resource '"+srv.Namespace+"/"+pkg+"' does not exist.")
}

// TestSharedPackagesAndBindings publishes a package in /whisk.system and
// checks what guest may do with it: read it and its actions, invoke them,
// bind to it with parameters of its own, but neither write it nor see
// whisk.system's private packages.
func TestSharedPackagesAndBindings(t *testing.T) {
	srv := harness.Start(t)
	guest := srv.Client
	sys := clientFor(t, srv, systemAuth, "_")
	shared, private := uniqueName("compat-shared"), uniqueName("compat-private")
	publish := true

	if _, resp, err := sys.Packages.Insert(&whisk.Package{Name: shared, Publish: &publish, Parameters: kvArr("place", "system", "who", "package")}, false); err != nil {
		t.Fatalf("whisk.system creates %s: status %s: %v", shared, status(resp), err)
	}
	if _, resp, err := sys.Packages.Insert(&whisk.Package{Name: private}, false); err != nil {
		t.Fatalf("whisk.system creates %s: status %s: %v", private, status(resp), err)
	}
	echo := newAction(shared+"/echo", kindNode, actionSource(t, "nodejs/echo.js"))
	echo.Parameters = kvArr("who", "action")
	mustInsert(t, sys, echo, false)
	mustInsert(t, sys, newAction(private+"/hidden", kindNode, actionSource(t, "nodejs/echo.js")), false)

	// guest reads /whisk.system/<shared> as `wsk package get /whisk.system/...` does.
	onSystem := clientFor(t, srv, harness.GuestAuth, systemNamespace)
	p, resp, err := onSystem.Packages.Get(shared)
	if err != nil {
		t.Fatalf("guest gets /whisk.system/%s: status %s: %v", shared, status(resp), err)
	}
	if p.Namespace != systemNamespace || len(p.Actions) != 1 || p.Actions[0].Name != "echo" {
		t.Errorf("shared package = %+v", p)
	}
	pkgs, resp, err := onSystem.Packages.List(&whisk.PackageListOptions{Limit: 200})
	if err != nil {
		t.Fatalf("guest lists /whisk.system packages: status %s: %v", status(resp), err)
	}
	// The public view: the shared package and the built-in ones (alarms), never the private one.
	var names []string
	for _, p := range pkgs {
		if p.Name == shared || p.Name == private {
			names = append(names, p.Name)
		}
	}
	if !reflect.DeepEqual(names, []string{shared}) {
		t.Errorf("this test's whisk.system packages seen by guest = %v, want only %s", names, shared)
	}
	res := invokeResult(t, onSystem, shared+"/echo", map[string]any{"extra": "x"})
	if want := map[string]any{"place": "system", "who": "action", "extra": "x"}; !reflect.DeepEqual(res, want) {
		t.Errorf("invoke shared action = %v, want %v", res, want)
	}

	_, resp, err = onSystem.Packages.Get(private)
	wantAPIError(t, "get private", resp, err, http.StatusForbidden, "not authorized to access 'whisk.system/"+private+"'")
	resp, err = invokeMaybe(onSystem, private+"/hidden")
	wantAPIError(t, "invoke private", resp, err, http.StatusForbidden, "not authorized to access 'whisk.system/"+private+"'")
	resp, err = onSystem.Packages.Delete(shared)
	wantAPIError(t, "delete shared", resp, err, http.StatusForbidden, "not authorized to access 'whisk.system/"+shared+"'")
	_, resp, err = onSystem.Actions.Insert(newAction(shared+"/intruder", kindNode, actionSource(t, "nodejs/echo.js")), false)
	wantAPIError(t, "create in shared", resp, err, http.StatusForbidden, "not authorized to access 'whisk.system/"+shared+"/intruder'")

	// guest binds to the shared package with parameters of its own.
	binding := uniqueName("compat-binding")
	b, resp, err := guest.Packages.Insert(&whisk.BindingPackage{Name: binding,
		Binding: whisk.Binding{Namespace: systemNamespace, Name: shared}, Parameters: kvArr("place", "binding")}, false)
	if err != nil {
		t.Fatalf("bind %s: status %s: %v", binding, status(resp), err)
	}
	if b.Binding == nil || b.Binding.Namespace != systemNamespace || b.Binding.Name != shared {
		t.Errorf("binding = %+v", b.Binding)
	}
	got, resp, err := guest.Packages.Get(binding)
	if err != nil {
		t.Fatalf("get binding: status %s: %v", status(resp), err)
	}
	if pm := paramMap(t, got.Parameters); !reflect.DeepEqual(pm, map[string]any{"place": "binding", "who": "package"}) {
		t.Errorf("binding parameters = %v, want the package's under the binding's", pm)
	}
	rec, resp, err := invokeBlocking(t, guest, binding+"/echo", map[string]any{"extra": "y"})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke through binding: status %s: %v", status(resp), err)
	}
	if want := map[string]any{"place": "binding", "who": "action", "extra": "y"}; !reflect.DeepEqual(rec.Response.Result, want) {
		t.Errorf("result through binding = %v, want package < binding < action < payload %v", rec.Response.Result, want)
	}
	if rec.Namespace != harness.GuestNamespace {
		t.Errorf("activation namespace = %q, want the invoking guest", rec.Namespace)
	}
	if v, _ := annotation(rec.Annotations, "binding"); v != "guest/"+binding {
		t.Errorf("activation binding annotation = %v, want guest/%s", v, binding)
	}
	if v, _ := annotation(rec.Annotations, "path"); v != systemNamespace+"/"+shared+"/echo" {
		t.Errorf("activation path annotation = %v", v)
	}
	// `wsk activation list <binding>/echo` finds it by the binding's name.
	ctx, cancel := context.WithTimeout(context.Background(), activationWait)
	defer cancel()
	err = harness.WaitFor(ctx, 200*time.Millisecond, func() bool {
		list, _, err := guest.Activations.List(&whisk.ActivationListOptions{Name: binding + "/echo", Limit: 10})
		return err == nil && len(list) == 1 && list[0].ActivationID == rec.ActivationID
	})
	if err != nil {
		t.Errorf("activation %s not listed under %s/echo", rec.ActivationID, binding)
	}

	// Actions cannot be written through a binding.
	_, resp, err = guest.Actions.Insert(newAction(binding+"/new", kindNode, actionSource(t, "nodejs/echo.js")), false)
	wantAPIError(t, "create through binding", resp, err, http.StatusBadRequest, "Operation not permitted on package binding.")

	// Once the package is private again, the binding no longer reaches it.
	no := false
	if _, resp, err := sys.Packages.Insert(&whisk.Package{Name: shared, Publish: &no}, true); err != nil {
		t.Fatalf("unpublish: status %s: %v", status(resp), err)
	}
	resp, err = invokeMaybe(guest, binding+"/echo")
	wantAPIError(t, "invoke after unpublish", resp, err, http.StatusForbidden, "not authorized to access 'guest/"+binding+"'")
	if resp, err := guest.Packages.Delete(binding); err != nil {
		t.Errorf("delete binding: status %s: %v", status(resp), err)
	}
}

// invokeMaybe invokes blocking for a result and returns how it went.
func invokeMaybe(c *whisk.Client, name string) (*http.Response, error) {
	_, resp, err := c.Actions.Invoke(name, nil, true, true)
	return resp, err
}
