package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

func TestGetIdentityByNamespace(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	const (
		aliceUUID = "11111111-2222-3333-4444-555555555555"
		aliceKey  = "twozO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	)
	for _, s := range []api.SubjectDoc{
		guestSubject(),
		{ID: "alice", Subject: "alice", Namespaces: []api.NamespaceKey{
			{Name: "alice-dev", UUID: aliceUUID, Key: aliceKey},
			{Name: "alice-prod", UUID: aliceUUID[:35] + "6", Key: aliceKey}}},
		{ID: "mallory", Subject: "mallory", Blocked: true, Namespaces: []api.NamespaceKey{
			{Name: "mallory", UUID: "99999999-2222-3333-4444-555555555555", Key: aliceKey}}},
	} {
		if err := st.EnsureSubject(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for ns, want := range map[string]api.Identity{
		"guest":      {Subject: "guest", Namespace: "guest", UUID: guestUUID, Key: guestKey},
		"alice-prod": {Subject: "alice", Namespace: "alice-prod", UUID: aliceUUID[:35] + "6", Key: aliceKey},
	} {
		id, err := st.GetIdentityByNamespace(ctx, ns)
		if err != nil {
			t.Errorf("GetIdentityByNamespace(%s): %v", ns, err)
			continue
		}
		if *id != want {
			t.Errorf("GetIdentityByNamespace(%s) = %+v, want %+v", ns, *id, want)
		}
	}
	// Unknown names, a blocked subject, a uuid (the [uuid,key] rows are not
	// names) and the subject name of a subject whose namespaces differ.
	for _, ns := range []string{"nobody", "mallory", guestUUID, "alice", ""} {
		if id, err := st.GetIdentityByNamespace(ctx, ns); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetIdentityByNamespace(%q) = %+v, %v; want ErrNotFound", ns, id, err)
		}
	}
}
