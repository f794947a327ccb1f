package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
	_ "github.com/brisk-serverless/brisk/store/embedded" // the "brisk-embedded" kivik driver
)

// openStore opens a store on a fresh embedded database file.
func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "brisk.db")
	return openAt(t, dsn), dsn
}

func openAt(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Driver: "brisk-embedded", DSN: dsn})
	if err != nil {
		t.Fatalf("store.Open(%s): %v", dsn, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// actionDoc builds a stored action as the controller writes it.
func actionDoc(path, name string, updated int64) api.ActionDoc {
	code := "function main(p) { return p }"
	return api.ActionDoc{EntityType: "action", Action: api.Action{
		Namespace: path, Name: name, Version: "0.0.1",
		Exec:        api.Exec{Kind: "nodejs:20", Code: &code},
		Parameters:  api.KeyValues{},
		Limits:      api.ActionLimits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1},
		Annotations: api.KeyValues{}.Set("exec", "nodejs:20"),
		Updated:     updated,
	}}
}

func mustPut(t *testing.T, st *store.Store, id, rev string, doc any) string {
	t.Helper()
	newRev, err := st.PutEntity(context.Background(), id, rev, doc)
	if err != nil {
		t.Fatalf("PutEntity(%s, %q): %v", id, rev, err)
	}
	if newRev == "" {
		t.Fatalf("PutEntity(%s) returned an empty revision", id)
	}
	return newRev
}

func TestEntityPutGetConflictDelete(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	const id = "guest/hello"

	if _, err := st.GetEntity(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetEntity before create: err = %v, want ErrNotFound", err)
	}
	if _, err := st.GetAction(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetAction before create: err = %v, want ErrNotFound", err)
	}

	rev1 := mustPut(t, st, id, "", actionDoc("guest", "hello", 1000))

	raw, err := st.GetEntity(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got["_id"] != id || got["_rev"] != rev1 || got["name"] != "hello" || got["namespace"] != "guest" {
		t.Errorf("stored doc = %v, want _id %s, _rev %s, name hello, namespace guest", got, id, rev1)
	}

	// Creating again (no revision) and updating at a stale revision both conflict.
	if _, err := st.PutEntity(ctx, id, "", actionDoc("guest", "hello", 2000)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second create: err = %v, want ErrConflict", err)
	}
	rev2 := mustPut(t, st, id, rev1, actionDoc("guest", "hello", 2000))
	if rev2 == rev1 {
		t.Errorf("update kept revision %s", rev1)
	}
	if _, err := st.PutEntity(ctx, id, rev1, actionDoc("guest", "hello", 3000)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update at stale revision: err = %v, want ErrConflict", err)
	}
	doc, err := st.GetAction(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Updated != 2000 || doc.Rev != rev2 || doc.ID != id {
		t.Errorf("GetAction = updated %d rev %s id %s; want 2000 %s %s", doc.Updated, doc.Rev, doc.ID, rev2, id)
	}
	if doc.Exec.Code == nil || *doc.Exec.Code != "function main(p) { return p }" || doc.Limits.Memory != 256 {
		t.Errorf("GetAction lost fields: exec %+v limits %+v", doc.Exec, doc.Limits)
	}

	if err := st.DeleteEntity(ctx, id, rev1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete at stale revision: err = %v, want ErrConflict", err)
	}
	if err := st.DeleteEntity(ctx, id, rev2); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := st.GetEntity(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetEntity after delete: err = %v, want ErrNotFound", err)
	}
	if err := st.DeleteEntity(ctx, id, rev2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
	// A deleted name can be created again.
	mustPut(t, st, id, "", actionDoc("guest", "hello", 4000))
}

func TestEntityKind(t *testing.T) {
	cases := []struct {
		doc  string
		want string
	}{
		{`{"exec":{"kind":"nodejs:20"},"parameters":[]}`, "action"},
		{`{"binding":{},"parameters":[]}`, "package"},
		{`{"binding":{"namespace":"a","name":"b"}}`, "package"},
		{`{"trigger":{"path":"guest","name":"t"},"action":{"path":"guest","name":"a"}}`, "rule"},
		{`{"parameters":[],"limits":{}}`, "trigger"},
		{`{"entityType":"package","exec":{}}`, "package"}, // the stored type wins
		{`{"name":"x"}`, ""},
		{`not json`, ""},
	}
	for _, c := range cases {
		if got := store.EntityKind(json.RawMessage(c.doc)); got != c.want {
			t.Errorf("EntityKind(%s) = %q, want %q", c.doc, got, c.want)
		}
	}
}

func TestGetActionWrongCollection(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	mustPut(t, st, "guest/utils", "", map[string]any{
		"entityType": "package", "namespace": "guest", "name": "utils", "binding": map[string]any{},
		"parameters": []any{}, "annotations": []any{}, "version": "0.0.1", "updated": 1,
	})
	mustPut(t, st, "guest/t", "", map[string]any{
		"namespace": "guest", "name": "t", "parameters": []any{}, "version": "0.0.1", "updated": 1,
	})
	for _, id := range []string{"guest/utils", "guest/t"} {
		if _, err := st.GetAction(ctx, id); !errors.Is(err, store.ErrWrongCollection) {
			t.Errorf("GetAction(%s): err = %v, want ErrWrongCollection", id, err)
		}
	}
	raw, err := st.GetEntity(ctx, "guest/utils")
	if err != nil {
		t.Fatal(err)
	}
	if k := store.EntityKind(raw); k != "package" {
		t.Errorf("EntityKind(stored package) = %q", k)
	}
}

func TestListActions(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	// guest: a1..a4 at the root, p1 in package pkg; a package doc and one
	// action of another namespace must not be listed.
	for i, name := range []string{"a1", "a2", "a3", "a4"} {
		mustPut(t, st, "guest/"+name, "", actionDoc("guest", name, int64(1000+10*i)))
	}
	mustPut(t, st, "guest/pkg", "", map[string]any{
		"entityType": "package", "namespace": "guest", "name": "pkg", "binding": map[string]any{},
		"parameters": []any{}, "annotations": []any{}, "version": "0.0.1", "updated": 5000,
	})
	inPkg := actionDoc("guest/pkg", "p1", 1015)
	code := "UEsDBAo=" // base64: a binary action
	inPkg.Exec.Code, inPkg.Exec.Binary = &code, true
	mustPut(t, st, "guest/pkg/p1", "", inPkg)
	mustPut(t, st, "other/o1", "", actionDoc("other", "o1", 9999))

	names := func(list []api.ActionSummary) []string {
		out := []string{}
		for _, a := range list {
			out = append(out, a.Namespace+"/"+a.Name)
		}
		return out
	}
	list, err := st.ListActions(ctx, "guest", store.ListQuery{Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"guest/a4", "guest/a3", "guest/pkg/p1", "guest/a2", "guest/a1"}
	if got := names(list); !reflect.DeepEqual(got, want) {
		t.Fatalf("ListActions(guest) = %v, want newest first %v", got, want)
	}
	for _, a := range list {
		if a.Version != "0.0.1" || a.Limits.Timeout != 60000 || a.Annotations == nil || a.Updated == 0 {
			t.Errorf("summary %s/%s incomplete: %+v", a.Namespace, a.Name, a)
		}
		if a.Exec.Binary != (a.Name == "p1") {
			t.Errorf("summary %s: exec.binary = %v", a.Name, a.Exec.Binary)
		}
	}

	page, err := st.ListActions(ctx, "guest", store.ListQuery{Skip: 1, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(page); !reflect.DeepEqual(got, want[1:3]) {
		t.Errorf("skip 1 limit 2 = %v, want %v", got, want[1:3])
	}
	tail, err := st.ListActions(ctx, "guest", store.ListQuery{Skip: 4, Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(tail); !reflect.DeepEqual(got, want[4:]) {
		t.Errorf("skip 4 = %v, want %v", got, want[4:])
	}

	pkg, err := st.ListActions(ctx, "guest/pkg", store.ListQuery{Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(pkg); !reflect.DeepEqual(got, []string{"guest/pkg/p1"}) {
		t.Errorf("ListActions(guest/pkg) = %v", got)
	}
	none, err := st.ListActions(ctx, "nobody", store.ListQuery{Limit: 30})
	if err != nil || len(none) != 0 {
		t.Errorf("ListActions(nobody) = %v, %v; want empty", names(none), err)
	}

	for path, want := range map[string]int{"guest": 5, "guest/pkg": 1, "other": 1, "nobody": 0} {
		n, err := st.CountActions(ctx, path)
		if err != nil || n != want {
			t.Errorf("CountActions(%s) = %d, %v; want %d", path, n, err, want)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	st, dsn := openStore(t)
	ctx := context.Background()
	mustPut(t, st, "guest/keep", "", actionDoc("guest", "keep", 42))
	if err := st.EnsureSubject(ctx, guestSubject()); err != nil {
		t.Fatal(err)
	}
	act := activation("guest", "keep", 100, 0)
	if err := st.PutActivations(ctx, []*api.Activation{act}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	st2 := openAt(t, dsn)
	doc, err := st2.GetAction(ctx, "guest/keep")
	if err != nil || doc.Updated != 42 {
		t.Fatalf("action after reopen: %+v, %v", doc, err)
	}
	if id, err := st2.GetIdentity(ctx, guestUUID, guestKey); err != nil || id.Namespace != "guest" {
		t.Fatalf("identity after reopen: %+v, %v", id, err)
	}
	got, err := st2.GetActivation(ctx, "guest", act.ActivationID)
	if err != nil || got.Name != "keep" {
		t.Fatalf("activation after reopen: %+v, %v", got, err)
	}
	// Views answer from the reopened file too.
	if n, err := st2.CountActions(ctx, "guest"); err != nil || n != 1 {
		t.Errorf("CountActions after reopen = %d, %v", n, err)
	}
	if n, err := st2.CountActivations(ctx, "guest", store.ActivationQuery{}); err != nil || n != 1 {
		t.Errorf("CountActivations after reopen = %d, %v", n, err)
	}
}

func TestOpenTwiceIsIdempotent(t *testing.T) {
	// Opening an existing file again must keep the databases and design
	// documents that are there (no 412 on create, no conflict on install).
	st, dsn := openStore(t)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		st := openAt(t, dsn)
		if _, err := st.ListActions(context.Background(), "guest", store.ListQuery{Limit: 1}); err != nil {
			t.Fatalf("open #%d: list: %v", i+2, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestErrorsWrapContext(t *testing.T) {
	st, _ := openStore(t)
	_, err := st.GetEntity(context.Background(), "guest/missing")
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	if want := fmt.Sprintf("entity %s", "guest/missing"); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
}

// TestConcurrentQueries runs view queries, reads and writes from many
// goroutines, as the controller does under load. Run it with -race: today
// it reports a data race in store/embedded rows.Close (see the BUG note in
// the report: kivik closes a result set's rows from two goroutines).
func TestConcurrentQueries(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	if err := st.EnsureSubject(ctx, guestSubject()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustPut(t, st, fmt.Sprintf("guest/a%d", i), "", actionDoc("guest", fmt.Sprintf("a%d", i), int64(i+1)))
	}
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if id, err := st.GetIdentity(ctx, guestUUID, guestKey); err != nil || id.Namespace != "guest" {
					errs <- fmt.Errorf("GetIdentity: %+v, %v", id, err)
					return
				}
				if list, err := st.ListActions(ctx, "guest", store.ListQuery{Limit: 3}); err != nil || len(list) != 3 {
					errs <- fmt.Errorf("ListActions: %d, %v", len(list), err)
					return
				}
				a := activation("guest", fmt.Sprintf("g%d", g), int64(1000*g+i+1), 0)
				if err := st.PutActivations(ctx, []*api.Activation{a}); err != nil {
					errs <- fmt.Errorf("PutActivations: %v", err)
					return
				}
				if _, err := st.ListActivations(ctx, "guest", store.ActivationQuery{Name: a.Name, Limit: 5}); err != nil {
					errs <- fmt.Errorf("ListActivations: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := st.CountActivations(ctx, "guest", store.ActivationQuery{}); err != nil || n != 8*20 {
		t.Errorf("CountActivations = %d, %v; want %d", n, err, 8*20)
	}
}
