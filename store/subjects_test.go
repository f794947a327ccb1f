package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

func TestSubjectsCRUD(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	if _, err := st.GetSubject(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSubject(missing) = %v, want ErrNotFound", err)
	}
	const key = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	doc := api.SubjectDoc{Subject: "alice", Namespaces: []api.NamespaceKey{{Name: "alice", UUID: "u1", Key: key}}}
	rev, err := st.PutSubject(ctx, doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutSubject(ctx, doc); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second create = %v, want ErrConflict", err)
	}
	got, err := st.GetSubject(ctx, "alice")
	if err != nil || got.ID != "alice" || got.Rev != rev || !reflect.DeepEqual(got.Namespaces, doc.Namespaces) {
		t.Fatalf("GetSubject = %+v, %v", got, err)
	}
	got.Namespaces = append(got.Namespaces, api.NamespaceKey{Name: "team1", UUID: "u2", Key: key})
	if _, err := st.PutSubject(ctx, *got); err != nil {
		t.Fatal(err)
	}
	bob := api.SubjectDoc{Subject: "bobby", Namespaces: []api.NamespaceKey{{Name: "team1", UUID: "u3", Key: key}}}
	if _, err := st.PutSubject(ctx, bob); err != nil {
		t.Fatal(err)
	}
	rows, err := st.ListIdentities(ctx, "team1", 0)
	want := []store.IdentityRow{{Subject: "alice", Namespace: "team1", UUID: "u2", Key: key}, {Subject: "bobby", Namespace: "team1", UUID: "u3", Key: key}}
	if err != nil || !reflect.DeepEqual(rows, want) {
		t.Errorf("ListIdentities(team1) = %+v, %v; want %+v", rows, err, want)
	}
	if rows, _ := st.ListIdentities(ctx, "team1", 1); len(rows) != 1 {
		t.Errorf("ListIdentities(team1, 1) = %d rows", len(rows))
	}
	// A blocked subject's keys leave the identities.
	b, _ := st.GetSubject(ctx, "bobby")
	b.Blocked = true
	if _, err := st.PutSubject(ctx, *b); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetIdentity(ctx, "u3", key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("blocked key: GetIdentity = %v, want ErrNotFound", err)
	}
	if rows, _ := st.ListIdentities(ctx, "team1", 0); len(rows) != 1 {
		t.Errorf("identities of team1 with bobby blocked: %+v", rows)
	}
	if err := st.DeleteSubject(ctx, "alice", "1-00000000000000000000000000000000"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete at a stale rev = %v, want ErrConflict", err)
	}
	cur, _ := st.GetSubject(ctx, "alice")
	if err := st.DeleteSubject(ctx, "alice", cur.Rev); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetIdentity(ctx, "u1", key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted subject: GetIdentity = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "_design", "alice/limits"} {
		if _, err := st.PutSubject(ctx, api.SubjectDoc{ID: bad, Subject: bad}); err == nil {
			t.Errorf("PutSubject(%q) accepted", bad)
		}
	}
}

func TestLimitsCRUD(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	if _, err := st.GetLimits(ctx, "team1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLimits(none) = %v, want ErrNotFound", err)
	}
	n, off := 5, false
	if _, err := st.PutLimits(ctx, "team1", store.Limits{ConcurrentInvocations: &n, StoreActivations: &off}); err != nil {
		t.Fatal(err)
	}
	l, err := st.GetLimits(ctx, "team1")
	if err != nil || l.Rev == "" || *l.ConcurrentInvocations != 5 || *l.StoreActivations || l.InvocationsPerMinute != nil {
		t.Fatalf("GetLimits = %+v, %v", l, err)
	}
	// A limits document is not a subject.
	if _, err := st.GetSubject(ctx, "team1/limits"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSubject(limits doc) = %v, want ErrNotFound", err)
	}
	if _, err := st.PutLimits(ctx, "team1", store.Limits{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutLimits without rev over an existing doc = %v, want ErrConflict", err)
	}
	if err := st.DeleteLimits(ctx, "team1", l.Rev); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetLimits(ctx, "team1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}
