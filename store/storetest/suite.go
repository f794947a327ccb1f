// Package storetest is the store conformance suite: the behaviour every
// kivik driver behind store.Store must have (entities with revisions and
// conflicts, newest-first lists by namespace with skip and limit, package
// contents, activations by namespace and name with since and upto, subjects
// by key, upstream's attached code, activation retention, and every view
// the store queries answering with the writes made just before). store's tests run
// it on the embedded driver and on CouchDB (pouchdb-server, or the server in
// $BRISK_COUCHDB_URL). It also starts pouchdb-server for tests.
package storetest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// Driver is one store implementation under test.
type Driver struct {
	// Open returns a store over new, empty databases; the driver closes it
	// when the test ends.
	Open func(t testing.TB) *store.Store
	// PutAttachment adds an attachment to a document of st's whisks
	// database, as upstream stores large action code. Nil when the driver
	// has no attachments: the cases that need one are skipped.
	PutAttachment func(t testing.TB, st *store.Store, docID, rev, name, contentType string, body []byte)
}

// Run runs the conformance suite on d, one subtest per behaviour.
func Run(t *testing.T, d Driver) {
	cases := []struct {
		name string
		fn   func(*testing.T, Driver)
	}{
		{"EntityRevisions", testEntityRevisions},
		{"ConcurrentUpdateConflicts", testConcurrentUpdate},
		{"WrongCollection", testWrongCollection},
		{"ListActions", testListActions},
		{"ListEntities", testListEntities},
		{"PackageContents", testPackageContents},
		{"PutActivations", testPutActivations},
		{"ListActivations", testListActivations},
		{"ActivationSummaries", testActivationSummaries},
		{"Subjects", testSubjects},
		{"AttachedCode", testAttachedCode},
		{"Retention", testRetention},
		{"FreshWritesVisible", testFreshWrites},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, d) })
	}
}

var bg = context.Background()

// Upstream's guest credentials.
const (
	guestUUID = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"
	guestKey  = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
)

// actionDoc is a stored action as the controller writes it.
func actionDoc(path, name string, updated int64) api.ActionDoc {
	code := "function main(p) { return p }"
	return api.ActionDoc{EntityType: "action", Action: api.Action{
		Namespace: path, Name: name, Version: "0.0.1",
		Exec:        api.Exec{Kind: "nodejs:20", Code: &code},
		Parameters:  api.KeyValues{}.Set("x", 1),
		Limits:      api.ActionLimits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1},
		Annotations: api.KeyValues{}.Set("exec", "nodejs:20"),
		Updated:     updated,
	}}
}

func packageDoc(ns, name string, updated int64, publish bool, binding map[string]any) map[string]any {
	return map[string]any{"entityType": "package", "namespace": ns, "name": name, "binding": binding, "publish": publish,
		"parameters": []any{}, "annotations": []any{}, "version": "0.0.1", "updated": updated}
}

func mustPut(t testing.TB, st *store.Store, id, rev string, doc any) string {
	t.Helper()
	newRev, err := st.PutEntity(bg, id, rev, doc)
	if err != nil {
		t.Fatalf("PutEntity(%s, %q): %v", id, rev, err)
	}
	if newRev == "" || newRev == rev {
		t.Fatalf("PutEntity(%s, %q) returned revision %q", id, rev, newRev)
	}
	return newRev
}

func testEntityRevisions(t *testing.T, d Driver) {
	st := d.Open(t)
	const id = "guest/hello"
	if _, err := st.GetEntity(bg, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetEntity before create: err = %v, want ErrNotFound", err)
	}
	if _, err := st.GetAction(bg, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetAction before create: err = %v, want ErrNotFound", err)
	}
	rev1 := mustPut(t, st, id, "", actionDoc("guest", "hello", 1000))
	if !strings.HasPrefix(rev1, "1-") {
		t.Errorf("first revision %q does not start with 1-", rev1)
	}
	raw, err := st.GetEntity(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got["_id"] != id || got["_rev"] != rev1 || got["name"] != "hello" || got["namespace"] != "guest" || got["entityType"] != "action" {
		t.Errorf("stored doc = %v, want _id %s, _rev %s, name, namespace, entityType", got, id, rev1)
	}

	if _, err := st.PutEntity(bg, id, "", actionDoc("guest", "hello", 2000)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second create: err = %v, want ErrConflict", err)
	}
	rev2 := mustPut(t, st, id, rev1, actionDoc("guest", "hello", 2000))
	if !strings.HasPrefix(rev2, "2-") {
		t.Errorf("second revision %q does not start with 2-", rev2)
	}
	if _, err := st.PutEntity(bg, id, rev1, actionDoc("guest", "hello", 3000)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update at a stale revision: err = %v, want ErrConflict", err)
	}
	doc, err := st.GetAction(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Updated != 2000 || doc.Rev != rev2 || doc.ID != id {
		t.Errorf("GetAction = updated %d rev %s id %s; want 2000 %s %s", doc.Updated, doc.Rev, doc.ID, rev2, id)
	}
	want := actionDoc("guest", "hello", 2000).Action
	if !reflect.DeepEqual(doc.Action, want) {
		t.Errorf("GetAction =\n %+v\nwant\n %+v", doc.Action, want)
	}

	if err := st.DeleteEntity(bg, id, rev1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete at a stale revision: err = %v, want ErrConflict", err)
	}
	if err := st.DeleteEntity(bg, id, rev2); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := st.GetEntity(bg, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetEntity after delete: err = %v, want ErrNotFound", err)
	}
	if err := st.DeleteEntity(bg, id, rev2); !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		t.Errorf("second delete: err = %v, want ErrNotFound or ErrConflict", err)
	}
	// A deleted name can be created again, and is listed again.
	mustPut(t, st, id, "", actionDoc("guest", "hello", 4000))
	if list, err := st.ListActions(bg, "guest", store.ListQuery{Limit: 30}); err != nil || len(list) != 1 || list[0].Updated != 4000 {
		t.Errorf("ListActions after re-create = %+v, %v", list, err)
	}
	if !strings.Contains(fmt.Sprint(st.DeleteEntity(bg, "guest/missing", "1-abc")), "guest/missing") {
		t.Errorf("errors do not name the entity")
	}
}

// testConcurrentUpdate: of concurrent updates at the same revision exactly
// one wins, the others conflict.
func testConcurrentUpdate(t *testing.T, d Driver) {
	st := d.Open(t)
	rev := mustPut(t, st, "guest/race", "", actionDoc("guest", "race", 1))
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = st.PutEntity(bg, "guest/race", rev, actionDoc("guest", "race", int64(10+i)))
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("update %d: %v, want success or ErrConflict", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent updates at one revision succeeded, want 1", ok, n)
	}
}

func testWrongCollection(t *testing.T, d Driver) {
	st := d.Open(t)
	mustPut(t, st, "guest/utils", "", packageDoc("guest", "utils", 1, false, map[string]any{}))
	mustPut(t, st, "guest/t", "", map[string]any{"namespace": "guest", "name": "t", "parameters": []any{}, "version": "0.0.1", "updated": 1})
	for _, id := range []string{"guest/utils", "guest/t"} {
		if _, err := st.GetAction(bg, id); !errors.Is(err, store.ErrWrongCollection) {
			t.Errorf("GetAction(%s): err = %v, want ErrWrongCollection", id, err)
		}
	}
	raw, err := st.GetEntity(bg, "guest/t")
	if err != nil || store.EntityKind(raw) != "trigger" {
		t.Errorf("GetEntity(trigger) kind %q, %v", store.EntityKind(raw), err)
	}
}

func summaryNames(list []api.ActionSummary) []string {
	out := []string{}
	for _, a := range list {
		out = append(out, a.Namespace+"/"+a.Name)
	}
	return out
}

func testListActions(t *testing.T, d Driver) {
	st := d.Open(t)
	// guest: a1..a4 at the root, p1 in package pkg (binary); a package doc
	// and an action of another namespace must not be listed.
	for i, name := range []string{"a1", "a2", "a3", "a4"} {
		mustPut(t, st, "guest/"+name, "", actionDoc("guest", name, int64(1000+10*i)))
	}
	mustPut(t, st, "guest/pkg", "", packageDoc("guest", "pkg", 5000, false, map[string]any{}))
	inPkg := actionDoc("guest/pkg", "p1", 1015)
	code := "UEsDBAo="
	inPkg.Exec.Code, inPkg.Exec.Binary = &code, true
	mustPut(t, st, "guest/pkg/p1", "", inPkg)
	mustPut(t, st, "other/o1", "", actionDoc("other", "o1", 9999))
	mustPut(t, st, "guestx/g1", "", actionDoc("guestx", "g1", 9998)) // a namespace sharing a prefix

	list, err := st.ListActions(bg, "guest", store.ListQuery{Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"guest/a4", "guest/a3", "guest/pkg/p1", "guest/a2", "guest/a1"}
	if got := summaryNames(list); !reflect.DeepEqual(got, want) {
		t.Fatalf("ListActions(guest) = %v, want newest first %v", got, want)
	}
	for _, a := range list {
		if a.Version != "0.0.1" || a.Limits.Timeout != 60000 || a.Limits.Memory != 256 || a.Updated == 0 ||
			!reflect.DeepEqual(a.Annotations, api.KeyValues{}.Set("exec", "nodejs:20")) {
			t.Errorf("summary %s/%s incomplete: %+v", a.Namespace, a.Name, a)
		}
		if a.Exec.Binary != (a.Name == "p1") {
			t.Errorf("summary %s: exec.binary = %v", a.Name, a.Exec.Binary)
		}
	}
	pages := []struct {
		q    store.ListQuery
		want []string
	}{
		{store.ListQuery{Skip: 1, Limit: 2}, want[1:3]},
		{store.ListQuery{Skip: 4, Limit: 30}, want[4:]},
		{store.ListQuery{Skip: 5, Limit: 30}, []string{}},
		{store.ListQuery{Limit: 1}, want[:1]},
	}
	for _, p := range pages {
		got, err := st.ListActions(bg, "guest", p.q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(summaryNames(got), p.want) {
			t.Errorf("ListActions(guest, %+v) = %v, want %v", p.q, summaryNames(got), p.want)
		}
	}
	if none, err := st.ListActions(bg, "nobody", store.ListQuery{Limit: 30}); err != nil || len(none) != 0 {
		t.Errorf("ListActions(nobody) = %v, %v; want empty", summaryNames(none), err)
	}
	for path, n := range map[string]int{"guest": 5, "guest/pkg": 1, "other": 1, "guestx": 1, "nobody": 0} {
		if got, err := st.CountActions(bg, path); err != nil || got != n {
			t.Errorf("CountActions(%s) = %d, %v; want %d", path, got, err, n)
		}
	}
}

func testListEntities(t *testing.T, d Driver) {
	st := d.Open(t)
	mustPut(t, st, "guest/utils", "", packageDoc("guest", "utils", 100, true, map[string]any{}))
	mustPut(t, st, "guest/private", "", packageDoc("guest", "private", 200, false, map[string]any{}))
	mustPut(t, st, "guest/bound", "", packageDoc("guest", "bound", 300, false, map[string]any{"namespace": "whisk.system", "name": "utils"}))
	mustPut(t, st, "guest/tick", "", map[string]any{"entityType": "trigger", "namespace": "guest", "name": "tick",
		"parameters": []any{}, "limits": map[string]any{}, "annotations": []any{}, "version": "0.0.1", "updated": 150})
	mustPut(t, st, "guest/r1", "", map[string]any{"entityType": "rule", "namespace": "guest", "name": "r1", "status": "active",
		"trigger": map[string]any{"path": "guest", "name": "tick"}, "action": map[string]any{"path": "guest", "name": "a"},
		"annotations": []any{}, "version": "0.0.1", "updated": 250})
	mustPut(t, st, "other/opkg", "", packageDoc("other", "opkg", 400, true, map[string]any{}))

	names := func(view, path string, q store.ListQuery) []string {
		t.Helper()
		rows, err := st.ListEntities(bg, view, path, q)
		if err != nil {
			t.Fatalf("ListEntities(%s, %s): %v", view, path, err)
		}
		out := []string{}
		for _, r := range rows {
			var v struct {
				Namespace, Name string
				Binding         any
			}
			if err := json.Unmarshal(r, &v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v.Namespace+"/"+v.Name)
		}
		return out
	}
	cases := []struct {
		view, path string
		q          store.ListQuery
		want       []string
	}{
		{"packages", "guest", store.ListQuery{Limit: 30}, []string{"guest/bound", "guest/private", "guest/utils"}},
		{"packages", "guest", store.ListQuery{Skip: 1, Limit: 1}, []string{"guest/private"}},
		{"packages-public", "guest", store.ListQuery{Limit: 30}, []string{"guest/utils"}},
		{"triggers", "guest", store.ListQuery{Limit: 30}, []string{"guest/tick"}},
		{"packages", "other", store.ListQuery{Limit: 30}, []string{"other/opkg"}},
	}
	// The rules view's value is 1, not a summary: it is only counted here.
	for _, c := range cases {
		if got := names(c.view, c.path, c.q); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ListEntities(%s, %s, %+v) = %v, want %v", c.view, c.path, c.q, got, c.want)
		}
	}
	rows, err := st.ListEntities(bg, "packages", "guest", store.ListQuery{Limit: 1})
	if err != nil || len(rows) != 1 {
		t.Fatalf("packages limit 1: %d rows, %v", len(rows), err)
	}
	var bound struct {
		Binding map[string]string `json:"binding"`
	}
	if err := json.Unmarshal(rows[0], &bound); err != nil || bound.Binding["namespace"] != "whisk.system" {
		t.Errorf("binding package summary = %s (%v)", rows[0], err)
	}
	for _, c := range []struct {
		view, path string
		n          int
	}{{"packages", "guest", 3}, {"packages-public", "guest", 1}, {"triggers", "guest", 1}, {"rules", "guest", 1}, {"packages", "nobody", 0}} {
		if got, err := st.CountEntities(bg, c.view, c.path); err != nil || got != c.n {
			t.Errorf("CountEntities(%s, %s) = %d, %v; want %d", c.view, c.path, got, err, c.n)
		}
	}
}

// testPackageContents: the actions of a package are listed under its path,
// and under the namespace's root with the others.
func testPackageContents(t *testing.T, d Driver) {
	st := d.Open(t)
	mustPut(t, st, "guest/utils", "", packageDoc("guest", "utils", 1, false, map[string]any{}))
	mustPut(t, st, "guest/tools", "", packageDoc("guest", "tools", 2, false, map[string]any{}))
	for i, name := range []string{"cat", "head", "sort"} {
		mustPut(t, st, "guest/utils/"+name, "", actionDoc("guest/utils", name, int64(100+i)))
	}
	mustPut(t, st, "guest/tools/hammer", "", actionDoc("guest/tools", "hammer", 150))
	mustPut(t, st, "guest/top", "", actionDoc("guest", "top", 50))

	got, err := st.ListActions(bg, "guest/utils", store.ListQuery{Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"guest/utils/sort", "guest/utils/head", "guest/utils/cat"}; !reflect.DeepEqual(summaryNames(got), want) {
		t.Errorf("contents of guest/utils = %v, want %v", summaryNames(got), want)
	}
	got, err = st.ListActions(bg, "guest/utils", store.ListQuery{Skip: 1, Limit: 1})
	if err != nil || !reflect.DeepEqual(summaryNames(got), []string{"guest/utils/head"}) {
		t.Errorf("contents of guest/utils skip 1 limit 1 = %v, %v", summaryNames(got), err)
	}
	got, err = st.ListActions(bg, "guest", store.ListQuery{Limit: 30})
	if want := []string{"guest/tools/hammer", "guest/utils/sort", "guest/utils/head", "guest/utils/cat", "guest/top"}; err != nil ||
		!reflect.DeepEqual(summaryNames(got), want) {
		t.Errorf("ListActions(guest) = %v, %v; want %v", summaryNames(got), err, want)
	}
	if n, err := st.CountActions(bg, "guest/tools"); err != nil || n != 1 {
		t.Errorf("CountActions(guest/tools) = %d, %v", n, err)
	}
	if got, err := st.ListActions(bg, "guest/empty", store.ListQuery{Limit: 30}); err != nil || len(got) != 0 {
		t.Errorf("contents of a missing package = %v, %v", summaryNames(got), err)
	}
}

// activation is a finished record of action path/name (path "ns" or
// "ns/pkg") invoked in ns at start.
func activation(path, name string, start int64, status int) *api.Activation {
	ns, _, _ := strings.Cut(path, "/")
	size := 9
	return &api.Activation{
		Namespace: ns, Name: name, Subject: ns, ActivationID: api.NewActivationID(), Version: "0.0.1",
		Start: start, End: start + 7, Duration: 7,
		Response: api.ActivationResponse{StatusCode: status, Result: json.RawMessage(fmt.Sprintf(`{"start":%d}`, start)), Size: &size},
		Logs:     []string{"2024-01-01T00:00:00.000000000Z stdout: hi"},
		Annotations: api.KeyValues{}.Set("path", path+"/"+name).Set("kind", "nodejs:20").
			Set("limits", map[string]int{"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1}),
	}
}

func activationIDs(acts []*api.Activation) []string {
	out := []string{}
	for _, a := range acts {
		out = append(out, a.ActivationID)
	}
	return out
}

func testPutActivations(t *testing.T, d Driver) {
	st := d.Open(t)
	if err := st.PutActivations(bg, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	a, b, c := activation("guest", "hello", 100, 0), activation("guest", "hello", 200, 1), activation("guest", "bye", 300, 0)
	if err := st.PutActivations(bg, []*api.Activation{a, b, c}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []*api.Activation{a, b, c} {
		got, err := st.GetActivation(bg, "guest", want.ActivationID)
		if err != nil {
			t.Fatalf("GetActivation(%s): %v", want.ActivationID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetActivation(%s) =\n %+v\nwant\n %+v", want.ActivationID, got, want)
		}
	}
	// A batch written again (a redelivered message) is no error, keeps the
	// first record and writes the new ones.
	changed := *b
	changed.Response.StatusCode = api.StatusWhiskError
	changed.Logs = []string{"rewritten"}
	e := activation("guest", "hello", 400, 0)
	if err := st.PutActivations(bg, []*api.Activation{a, &changed, e}); err != nil {
		t.Fatalf("re-put: %v", err)
	}
	if got, err := st.GetActivation(bg, "guest", b.ActivationID); err != nil || got.Response.StatusCode != api.StatusApplicationError ||
		!reflect.DeepEqual(got.Logs, b.Logs) {
		t.Errorf("re-put replaced the first record: %+v, %v", got, err)
	}
	if got := store.ActivationDocID("guest", a.ActivationID); got != "guest/"+a.ActivationID {
		t.Errorf("ActivationDocID = %q", got)
	}
	if _, err := st.GetActivation(bg, "guest", e.ActivationID); err != nil {
		t.Errorf("new record of the re-put batch: %v", err)
	}
	if n, err := st.CountActivations(bg, "guest", store.ActivationQuery{}); err != nil || n != 4 {
		t.Errorf("CountActivations = %d, %v; want 4", n, err)
	}
	// Records are per namespace.
	if _, err := st.GetActivation(bg, "other", a.ActivationID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("record read through another namespace: err = %v, want ErrNotFound", err)
	}
	if _, err := st.GetActivation(bg, "guest", api.NewActivationID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown record: err = %v, want ErrNotFound", err)
	}
}

func testListActivations(t *testing.T, d Driver) {
	st := d.Open(t)
	m := map[string]*api.Activation{}
	var all []*api.Activation
	add := func(key string, a *api.Activation) { m[key] = a; all = append(all, a) }
	for i := int64(1); i <= 5; i++ {
		add(fmt.Sprintf("hello%d", i*100), activation("guest", "hello", i*100, 0))
	}
	add("pkg150", activation("guest/pkg", "hello", 150, 0))
	add("pkg350", activation("guest/pkg", "hello", 350, 1))
	add("bye250", activation("guest", "bye", 250, 0))
	bound := activation("whisk.system/utils", "echo", 450, 0)
	bound.Namespace, bound.Subject = "guest", "guest"
	bound.Annotations = bound.Annotations.Set("binding", "guest/myutils")
	add("bound450", bound)
	add("other300", activation("other", "hello", 300, 0))
	add("guestx320", activation("guestx", "hello", 320, 0))
	if err := st.PutActivations(bg, all[:4]); err != nil {
		t.Fatal(err)
	}
	if err := st.PutActivations(bg, all[4:]); err != nil {
		t.Fatal(err)
	}
	keys := func(ks ...string) []string {
		out := []string{}
		for _, k := range ks {
			out = append(out, m[k].ActivationID)
		}
		return out
	}
	cases := []struct {
		name string
		q    store.ActivationQuery
		want []string
	}{
		{"all newest first", store.ActivationQuery{Limit: 30},
			keys("hello500", "bound450", "hello400", "pkg350", "hello300", "bye250", "hello200", "pkg150", "hello100")},
		{"limit", store.ActivationQuery{Limit: 2}, keys("hello500", "bound450")},
		{"skip and limit", store.ActivationQuery{Skip: 2, Limit: 3}, keys("hello400", "pkg350", "hello300")},
		{"skip past the end", store.ActivationQuery{Skip: 20, Limit: 3}, keys()},
		{"name at the root", store.ActivationQuery{Name: "hello", Limit: 30},
			keys("hello500", "hello400", "hello300", "hello200", "hello100")},
		{"name in a package", store.ActivationQuery{Name: "pkg/hello", Limit: 30}, keys("pkg350", "pkg150")},
		{"name through a binding", store.ActivationQuery{Name: "myutils/echo", Limit: 30}, keys("bound450")},
		{"unknown name", store.ActivationQuery{Name: "nope", Limit: 30}, keys()},
		{"since inclusive", store.ActivationQuery{Since: 350, Limit: 30}, keys("hello500", "bound450", "hello400", "pkg350")},
		{"upto inclusive", store.ActivationQuery{Upto: 200, Limit: 30}, keys("hello200", "pkg150", "hello100")},
		{"since and upto", store.ActivationQuery{Since: 200, Upto: 300, Limit: 30}, keys("hello300", "bye250", "hello200")},
		{"name with bounds", store.ActivationQuery{Name: "hello", Since: 200, Upto: 400, Limit: 30},
			keys("hello400", "hello300", "hello200")},
		{"name with bounds and paging", store.ActivationQuery{Name: "hello", Since: 200, Upto: 400, Skip: 1, Limit: 1}, keys("hello300")},
	}
	for _, c := range cases {
		got, err := st.ListActivations(bg, "guest", c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(activationIDs(got), c.want) {
			t.Errorf("%s: ListActivations(%+v) = %v, want %v", c.name, c.q, activationIDs(got), c.want)
		}
		unpaged := c.q
		unpaged.Skip, unpaged.Limit = 0, 1000
		full, err := st.ListActivations(bg, "guest", unpaged)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := st.CountActivations(bg, "guest", c.q); err != nil || n != len(full) {
			t.Errorf("%s: CountActivations = %d, %v; want %d", c.name, n, err, len(full))
		}
	}
	if other, err := st.ListActivations(bg, "other", store.ActivationQuery{Limit: 30}); err != nil ||
		!reflect.DeepEqual(activationIDs(other), keys("other300")) {
		t.Errorf("ListActivations(other) = %v, %v", activationIDs(other), err)
	}
}

func testActivationSummaries(t *testing.T, d Driver) {
	st := d.Open(t)
	done := activation("guest", "hello", 100, api.StatusApplicationError)
	trigger := activation("guest", "tick", 200, 0) // trigger activations have no end
	trigger.End, trigger.Duration = 0, 0
	if err := st.PutActivations(bg, []*api.Activation{done, trigger}); err != nil {
		t.Fatal(err)
	}
	sums, err := st.ListActivations(bg, "guest", store.ActivationQuery{Limit: 30})
	if err != nil || len(sums) != 2 {
		t.Fatalf("list = %d records, %v", len(sums), err)
	}
	s := sums[1]
	if s.ActivationID != done.ActivationID || s.Name != "hello" || s.Namespace != "guest" || s.Version != "0.0.1" ||
		s.Start != 100 || s.End != 107 || s.Duration != 7 || s.Response.StatusCode != api.StatusApplicationError ||
		!reflect.DeepEqual(s.Annotations, done.Annotations) {
		t.Errorf("summary = %+v", s)
	}
	if s.Logs != nil || s.Response.Result != nil || s.Subject != "" {
		t.Errorf("summary carries full-record fields: logs %v result %s subject %q", s.Logs, s.Response.Result, s.Subject)
	}
	if sum := s.Summary(); sum.StatusCode == nil || *sum.StatusCode != api.StatusApplicationError || sum.Duration == nil || *sum.Duration != 7 {
		t.Errorf("API summary of a finished activation = %+v", sum)
	}
	if ts := sums[0].Summary(); ts.End != 0 || ts.Duration != nil || ts.StatusCode != nil {
		t.Errorf("summary of an activation without end = %+v, want no end, duration, statusCode", ts)
	}
	all, err := st.ListActivations(bg, "guest", store.ActivationQuery{Limit: 30, Docs: true})
	if err != nil || len(all) != 2 || !reflect.DeepEqual(all[1], done) || !reflect.DeepEqual(all[0], trigger) {
		t.Errorf("docs=true = %+v, %v; want both full records, newest first", all, err)
	}
	docs, err := st.ListActivations(bg, "guest", store.ActivationQuery{Name: "hello", Limit: 30, Docs: true})
	if err != nil || len(docs) != 1 || !reflect.DeepEqual(docs[0], done) {
		t.Errorf("docs=true with a name = %+v, %v; want the full record", docs, err)
	}
}

func testSubjects(t *testing.T, d Driver) {
	st := d.Open(t)
	const (
		twoUUID = "11111111-2222-3333-4444-555555555555"
		twoKey  = "twozO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
		badUUID = "99999999-2222-3333-4444-555555555555"
	)
	subjects := []api.SubjectDoc{
		{ID: "guest", Subject: "guest", Namespaces: []api.NamespaceKey{{Name: "guest", UUID: guestUUID, Key: guestKey}}},
		{ID: "alice", Subject: "alice", Namespaces: []api.NamespaceKey{
			{Name: "alice-dev", UUID: twoUUID, Key: twoKey}, {Name: "alice-prod", UUID: twoUUID[:35] + "6", Key: twoKey}}},
		{ID: "mallory", Subject: "mallory", Blocked: true, Namespaces: []api.NamespaceKey{{Name: "mallory", UUID: badUUID, Key: twoKey}}},
	}
	for _, s := range subjects {
		for range 2 { // idempotent
			if err := st.EnsureSubject(bg, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []api.Identity{
		{Subject: "guest", Namespace: "guest", UUID: guestUUID, Key: guestKey},
		{Subject: "alice", Namespace: "alice-dev", UUID: twoUUID, Key: twoKey},
		{Subject: "alice", Namespace: "alice-prod", UUID: twoUUID[:35] + "6", Key: twoKey},
	} {
		id, err := st.GetIdentity(bg, c.UUID, c.Key)
		if err != nil || *id != c {
			t.Errorf("GetIdentity(%s) = %+v, %v; want %+v", c.UUID, id, err, c)
		}
	}
	for _, bad := range [][2]string{{guestUUID, twoKey}, {"nobody", guestKey}, {"guest", ""}, {badUUID, twoKey}} {
		if id, err := st.GetIdentity(bg, bad[0], bad[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetIdentity(%s, %.8s…) = %+v, %v; want ErrNotFound", bad[0], bad[1], id, err)
		}
	}
	// An existing subject is kept: another key for it does not replace it.
	changed := subjects[0]
	changed.Namespaces = []api.NamespaceKey{{Name: "guest", UUID: guestUUID, Key: twoKey}}
	if err := st.EnsureSubject(bg, changed); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetIdentity(bg, guestUUID, twoKey); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EnsureSubject replaced an existing subject: %v", err)
	}
}

// upstreamAction is an action document as upstream OpenWhisk writes it: the
// code is an attachment reference, inlined ("mem:") below 16 KB.
func upstreamAction(ns, name string, code any, binary bool) map[string]any {
	return map[string]any{
		"entityType": "action", "namespace": ns, "name": name, "version": "0.0.1", "publish": false,
		"exec":       map[string]any{"kind": "nodejs:20", "code": code, "binary": binary},
		"parameters": []any{}, "limits": map[string]any{"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1},
		"annotations": []any{map[string]any{"key": "exec", "value": "nodejs:20"}}, "updated": 1700000000000,
	}
}

func memRef(body []byte, ctype string) map[string]any {
	return map[string]any{"attachmentName": "mem:" + base64.URLEncoding.EncodeToString(body), "attachmentType": ctype,
		"length": len(body), "digest": "sha256-unchecked"}
}

func testAttachedCode(t *testing.T, d Driver) {
	st := d.Open(t)
	code := "function main(p) { return {greeting: 'hi ' + p.name} }\n"
	zip := []byte("PK\x03\x04 not really a zip \xff\xfe")

	mustPut(t, st, "guest/memtext", "", upstreamAction("guest", "memtext", memRef([]byte(code), "text/plain; charset=UTF-8"), false))
	mustPut(t, st, "guest/membin", "", upstreamAction("guest", "membin", memRef(zip, "application/octet-stream"), true))
	mustPut(t, st, "guest/badscheme", "", upstreamAction("guest", "badscheme", map[string]any{"attachmentName": "s3:abc", "attachmentType": "text/plain"}, false))
	cases := map[string]string{"guest/memtext": code, "guest/membin": base64.StdEncoding.EncodeToString(zip)}

	if d.PutAttachment != nil {
		rev := mustPut(t, st, "guest/couchtext", "", upstreamAction("guest", "couchtext",
			map[string]any{"attachmentName": "couch:5e0c0a1b-0000-4000-8000-000000000001", "attachmentType": "text/plain; charset=UTF-8"}, false))
		d.PutAttachment(t, st, "guest/couchtext", rev, "5e0c0a1b-0000-4000-8000-000000000001", "text/plain", []byte(code))
		rev = mustPut(t, st, "guest/couchbin", "", upstreamAction("guest", "couchbin",
			map[string]any{"attachmentName": "couch:5e0c0a1b-0000-4000-8000-000000000002", "attachmentType": "application/octet-stream"}, true))
		d.PutAttachment(t, st, "guest/couchbin", rev, "5e0c0a1b-0000-4000-8000-000000000002", "application/octet-stream", zip)
		legacy := upstreamAction("guest", "legacy", nil, true) // java actions once kept the code in "jar"
		exec := legacy["exec"].(map[string]any)
		delete(exec, "code")
		exec["kind"], exec["main"], exec["jar"] = "java:8", "Hello", map[string]any{"attachmentName": "jarfile", "attachmentType": "application/octet-stream"}
		rev = mustPut(t, st, "guest/legacy", "", legacy)
		d.PutAttachment(t, st, "guest/legacy", rev, "jarfile", "application/octet-stream", zip)
		cases["guest/couchtext"] = code
		cases["guest/couchbin"] = base64.StdEncoding.EncodeToString(zip)
		cases["guest/legacy"] = base64.StdEncoding.EncodeToString(zip)
	}
	for id, want := range cases {
		doc, err := st.GetAction(bg, id)
		if err != nil {
			t.Errorf("GetAction(%s): %v", id, err)
			continue
		}
		if doc.Exec.Code == nil || *doc.Exec.Code != want {
			t.Errorf("GetAction(%s) code = %v, want %q", id, doc.Exec.Code, want)
		}
		if doc.Rev == "" || doc.Limits.Memory != 256 {
			t.Errorf("GetAction(%s) lost fields: rev %q limits %+v", id, doc.Rev, doc.Limits)
		}
		// Written back (an update through the API), the code is inline and
		// reads the same.
		if _, err := st.PutEntity(bg, id, doc.Rev, doc); err != nil {
			t.Errorf("update %s: %v", id, err)
			continue
		}
		again, err := st.GetAction(bg, id)
		if err != nil || again.Exec.Code == nil || *again.Exec.Code != want {
			t.Errorf("GetAction(%s) after update = %+v, %v", id, again, err)
		}
		raw, _ := st.GetEntity(bg, id)
		if strings.Contains(string(raw), "attachmentName") {
			t.Errorf("updated %s still refers to an attachment: %s", id, raw)
		}
	}
	if _, err := st.GetAction(bg, "guest/badscheme"); !errors.Is(err, store.ErrCorrupted) {
		t.Errorf("GetAction(code in an external attachment store): err = %v, want ErrCorrupted", err)
	}
	if list, err := st.ListActions(bg, "guest", store.ListQuery{Limit: 30}); err != nil || len(list) != len(cases)+1 {
		t.Errorf("ListActions with attached code = %d, %v; want %d", len(list), err, len(cases)+1)
	}
}

func testRetention(t *testing.T, d Driver) {
	st := d.Open(t)
	now := time.Now()
	day := int64(24 * time.Hour / time.Millisecond)
	var old, young []*api.Activation
	for i := range 5 {
		old = append(old, activation("guest", "hello", now.UnixMilli()-8*day-int64(i), 0))
	}
	old = append(old, activation("other", "hello", now.UnixMilli()-30*day, 0))
	young = append(young, activation("guest", "hello", now.UnixMilli()-6*day, 0), activation("other", "bye", now.UnixMilli()-1000, 0))
	if err := st.PutActivations(bg, append(append([]*api.Activation{}, old...), young...)); err != nil {
		t.Fatal(err)
	}
	// Batches of 2: several delete requests.
	n, err := st.DeleteActivationsBefore(bg, now.Add(-store.DefaultActivationRetention), 2)
	if err != nil || n != len(old) {
		t.Fatalf("DeleteActivationsBefore = %d, %v; want %d", n, err, len(old))
	}
	for _, a := range old {
		if _, err := st.GetActivation(bg, a.Namespace, a.ActivationID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old record %s/%s: err = %v, want ErrNotFound", a.Namespace, a.ActivationID, err)
		}
	}
	for _, a := range young {
		if _, err := st.GetActivation(bg, a.Namespace, a.ActivationID); err != nil {
			t.Errorf("young record %s/%s: %v", a.Namespace, a.ActivationID, err)
		}
	}
	if list, err := st.ListActivations(bg, "guest", store.ActivationQuery{Limit: 30}); err != nil || len(list) != 1 {
		t.Errorf("guest's records after retention = %v, %v; want 1", activationIDs(list), err)
	}
	if n, err := st.DeleteActivationsBefore(bg, now.Add(-store.DefaultActivationRetention), 2); err != nil || n != 0 {
		t.Errorf("second run deleted %d, %v; want 0", n, err)
	}

	// The background job deletes what ages past MaxAge, on its own.
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() {
		st.RunRetention(ctx, store.RetentionConfig{MaxAge: 2 * time.Hour, Interval: 50 * time.Millisecond})
		close(done)
	}()
	aged := activation("guest", "hello", time.Now().Add(-3*time.Hour).UnixMilli(), 0)
	if err := st.PutActivations(bg, []*api.Activation{aged}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := st.GetActivation(bg, "guest", aged.ActivationID); errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("RunRetention did not delete a record older than MaxAge within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if _, err := st.GetActivation(bg, "other", young[1].ActivationID); err != nil {
		t.Errorf("RunRetention deleted a young record: %v", err)
	}
}
