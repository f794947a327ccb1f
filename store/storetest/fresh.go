package storetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// testFreshWrites: every view the store queries answers with the writes
// that returned before the query, with no delay: a created, updated or
// deleted document is in (or out of) the very next list, count or lookup.
// Each view is queried once before the writes so that its index exists and
// has to be brought up to date rather than built.
func testFreshWrites(t *testing.T, d Driver) {
	t.Run("entities", func(t *testing.T) { freshEntities(t, d.Open(t)) })
	t.Run("activations", func(t *testing.T) { freshActivations(t, d.Open(t)) })
	t.Run("identities", func(t *testing.T) { freshIdentities(t, d.Open(t)) })
}

// entityNames lists a view of the entities database as "ns/name".
func entityNames(t *testing.T, st *store.Store, view, path string) []string {
	t.Helper()
	rows, err := st.ListEntities(bg, view, path, store.ListQuery{Limit: 30})
	if err != nil {
		t.Fatalf("ListEntities(%s, %s): %v", view, path, err)
	}
	out := []string{}
	for _, r := range rows {
		var v struct{ Namespace, Name string }
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v.Namespace+"/"+v.Name)
	}
	return out
}

func freshEntities(t *testing.T, st *store.Store) {
	type state struct {
		actions, pkgActions, packages, public, triggers, rules []string
	}
	read := func() state {
		t.Helper()
		var s state
		acts, err := st.ListActions(bg, "guest", store.ListQuery{Limit: 30})
		if err != nil {
			t.Fatal(err)
		}
		s.actions = summaryNames(acts)
		inPkg, err := st.PackageActions(bg, "guest/utils")
		if err != nil {
			t.Fatal(err)
		}
		s.pkgActions = summaryNames(inPkg)
		s.packages = entityNames(t, st, "packages", "guest")
		s.public = entityNames(t, st, "packages-public", "guest")
		s.triggers = entityNames(t, st, "triggers", "guest")
		docs, err := st.ListEntityDocs(bg, "rules", "guest", store.ListQuery{Limit: 30})
		if err != nil {
			t.Fatal(err)
		}
		s.rules = []string{}
		for _, r := range docs {
			var v struct{ Namespace, Name, Status string }
			if err := json.Unmarshal(r, &v); err != nil {
				t.Fatal(err)
			}
			s.rules = append(s.rules, v.Namespace+"/"+v.Name+":"+v.Status)
		}
		// Counts agree with the lists.
		for view, list := range map[string][]string{"actions": s.actions, "packages": s.packages,
			"packages-public": s.public, "triggers": s.triggers, "rules": s.rules} {
			n, err := st.CountEntities(bg, view, "guest")
			if err != nil || n != len(list) {
				t.Errorf("CountEntities(%s) = %d, %v; the list has %d", view, n, err, len(list))
			}
		}
		if n, err := st.CountActions(bg, "guest"); err != nil || n != len(s.actions) {
			t.Errorf("CountActions = %d, %v; the list has %d", n, err, len(s.actions))
		}
		return s
	}
	check := func(step string, want state) {
		t.Helper()
		if got := read(); !reflect.DeepEqual(got, want) {
			t.Errorf("after %s:\n got %+v\nwant %+v", step, got, want)
		}
	}
	none := []string{}
	check("nothing", state{none, none, none, none, none, none})

	pkgRev := mustPut(t, st, "guest/utils", "", packageDoc("guest", "utils", 10, false, map[string]any{}))
	actRev := mustPut(t, st, "guest/utils/cat", "", actionDoc("guest/utils", "cat", 20))
	trigRev := mustPut(t, st, "guest/tick", "", map[string]any{"entityType": "trigger", "namespace": "guest", "name": "tick",
		"parameters": []any{}, "limits": map[string]any{}, "annotations": []any{}, "version": "0.0.1", "updated": 30})
	rule := func(status string, updated int64) map[string]any {
		return map[string]any{"entityType": "rule", "namespace": "guest", "name": "r", "status": status,
			"trigger": map[string]any{"path": "guest", "name": "tick"}, "action": map[string]any{"path": "guest/utils", "name": "cat"},
			"annotations": []any{}, "version": "0.0.1", "updated": updated}
	}
	ruleRev := mustPut(t, st, "guest/r", "", rule("active", 40))
	check("creates", state{[]string{"guest/utils/cat"}, []string{"guest/utils/cat"}, []string{"guest/utils"}, none,
		[]string{"guest/tick"}, []string{"guest/r:active"}})

	pkgRev = mustPut(t, st, "guest/utils", pkgRev, packageDoc("guest", "utils", 50, true, map[string]any{}))
	ruleRev = mustPut(t, st, "guest/r", ruleRev, rule("inactive", 60))
	actRev2 := mustPut(t, st, "guest/top", "", actionDoc("guest", "top", 70))
	check("updates", state{[]string{"guest/top", "guest/utils/cat"}, []string{"guest/utils/cat"}, []string{"guest/utils"},
		[]string{"guest/utils"}, []string{"guest/tick"}, []string{"guest/r:inactive"}})

	for _, del := range []struct{ id, rev string }{{"guest/utils/cat", actRev}, {"guest/tick", trigRev}, {"guest/r", ruleRev}} {
		if err := st.DeleteEntity(bg, del.id, del.rev); err != nil {
			t.Fatalf("delete %s: %v", del.id, err)
		}
	}
	check("deletes", state{[]string{"guest/top"}, none, []string{"guest/utils"}, []string{"guest/utils"}, none, none})
	if err := st.DeleteEntity(bg, "guest/utils", pkgRev); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteEntity(bg, "guest/top", actRev2); err != nil {
		t.Fatal(err)
	}
	check("deleting everything", state{none, none, none, none, none, none})
}

func freshActivations(t *testing.T, st *store.Store) {
	type state struct{ all, byName []string }
	read := func() state {
		t.Helper()
		all, err := st.ListActivations(bg, "guest", store.ActivationQuery{Limit: 30})
		if err != nil {
			t.Fatal(err)
		}
		byName, err := st.ListActivations(bg, "guest", store.ActivationQuery{Name: "pkg/hello", Limit: 30})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := st.CountActivations(bg, "guest", store.ActivationQuery{}); err != nil || n != len(all) {
			t.Errorf("CountActivations = %d, %v; the list has %d", n, err, len(all))
		}
		if n, err := st.CountActivations(bg, "guest", store.ActivationQuery{Name: "pkg/hello"}); err != nil || n != len(byName) {
			t.Errorf("CountActivations(pkg/hello) = %d, %v; the list has %d", n, err, len(byName))
		}
		return state{activationIDs(all), activationIDs(byName)}
	}
	none := []string{}
	if got := read(); !reflect.DeepEqual(got, state{none, none}) {
		t.Fatalf("empty database: %+v", got)
	}
	day := int64(24 * time.Hour / time.Millisecond)
	now := time.Now().UnixMilli()
	old := activation("guest/pkg", "hello", now-10*day, 0)
	young := activation("guest/pkg", "hello", now-1000, 0)
	other := activation("guest", "bye", now-500, 0)
	for i, a := range []*api.Activation{old, young, other} {
		if err := st.PutActivations(bg, []*api.Activation{a}); err != nil {
			t.Fatal(err)
		}
		want := [][]string{{old.ActivationID}, {young.ActivationID, old.ActivationID},
			{other.ActivationID, young.ActivationID, old.ActivationID}}[i]
		wantByName := [][]string{{old.ActivationID}, {young.ActivationID, old.ActivationID}, {young.ActivationID, old.ActivationID}}[i]
		if got := read(); !reflect.DeepEqual(got, state{want, wantByName}) {
			t.Errorf("after writing record %d: %+v, want %+v", i+1, got, state{want, wantByName})
		}
	}
	// activations/byDate (the retention's view) sees the records written
	// just now, and the lists see its deletes.
	if n, err := st.DeleteActivationsBefore(bg, time.Now().Add(-store.DefaultActivationRetention), 10); err != nil || n != 1 {
		t.Fatalf("DeleteActivationsBefore = %d, %v; want 1", n, err)
	}
	want := state{[]string{other.ActivationID, young.ActivationID}, []string{young.ActivationID}}
	if got := read(); !reflect.DeepEqual(got, want) {
		t.Errorf("after retention: %+v, want %+v", got, want)
	}
}

func freshIdentities(t *testing.T, st *store.Store) {
	const (
		uuid = "feedbeef-2222-3333-4444-555555555555"
		key1 = "key1zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIw"
		key2 = "key2zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIw"
	)
	// found reports which lookups of the identities view find the subject.
	found := func() (byKey1, byKey2, byNamespace bool, keys int) {
		t.Helper()
		lookup := func(err error) bool {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
		_, err := st.GetIdentity(bg, uuid, key1)
		byKey1 = lookup(err)
		_, err = st.GetIdentity(bg, uuid, key2)
		byKey2 = lookup(err)
		_, err = st.GetIdentityByNamespace(bg, "fresh")
		byNamespace = lookup(err)
		rows, err := st.ListIdentities(bg, "fresh", 0)
		if err != nil {
			t.Fatal(err)
		}
		return byKey1, byKey2, byNamespace, len(rows)
	}
	check := func(step string, k1, k2, ns bool, keys int) {
		t.Helper()
		if g1, g2, gns, gkeys := found(); g1 != k1 || g2 != k2 || gns != ns || gkeys != keys {
			t.Errorf("after %s: found by key1 %v, key2 %v, namespace %v, %d keys; want %v %v %v %d",
				step, g1, g2, gns, gkeys, k1, k2, ns, keys)
		}
	}
	check("nothing", false, false, false, 0)
	doc := api.SubjectDoc{Subject: "fresh", Namespaces: []api.NamespaceKey{{Name: "fresh", UUID: uuid, Key: key1}}}
	rev, err := st.PutSubject(bg, doc)
	if err != nil {
		t.Fatal(err)
	}
	check("create", true, false, true, 1)
	doc.Rev = rev
	doc.Namespaces = append(doc.Namespaces, api.NamespaceKey{Name: "fresh", UUID: uuid, Key: key2})
	if doc.Rev, err = st.PutSubject(bg, doc); err != nil {
		t.Fatal(err)
	}
	check("a second key", true, true, true, 2)
	doc.Blocked = true
	if doc.Rev, err = st.PutSubject(bg, doc); err != nil {
		t.Fatal(err)
	}
	check("block", false, false, false, 0)
	doc.Blocked = false
	if doc.Rev, err = st.PutSubject(bg, doc); err != nil {
		t.Fatal(err)
	}
	check("unblock", true, true, true, 2)
	if err := st.DeleteSubject(bg, "fresh", doc.Rev); err != nil {
		t.Fatal(err)
	}
	check("delete", false, false, false, 0)
}
