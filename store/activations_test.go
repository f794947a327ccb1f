package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// Upstream's guest credentials.
const (
	guestUUID = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"
	guestKey  = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
)

func guestSubject() api.SubjectDoc {
	return api.SubjectDoc{ID: "guest", Subject: "guest",
		Namespaces: []api.NamespaceKey{{Name: "guest", UUID: guestUUID, Key: guestKey}}}
}

// activation builds a finished record of action path/name (path "ns" or
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

func TestGetIdentity(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	const (
		sysUUID = "789c46b1-71f6-4ed5-8c54-816aa4f8c502"
		sysKey  = "abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
		twoUUID = "11111111-2222-3333-4444-555555555555"
		twoKey  = "twozO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	)
	subjects := []api.SubjectDoc{
		guestSubject(),
		{ID: "whisk.system", Subject: "whisk.system", Namespaces: []api.NamespaceKey{{Name: "whisk.system", UUID: sysUUID, Key: sysKey}}},
		{ID: "alice", Subject: "alice", Namespaces: []api.NamespaceKey{
			{Name: "alice-dev", UUID: twoUUID, Key: twoKey},
			{Name: "alice-prod", UUID: twoUUID[:35] + "6", Key: twoKey}}},
		{ID: "mallory", Subject: "mallory", Blocked: true, Namespaces: []api.NamespaceKey{
			{Name: "mallory", UUID: "99999999-2222-3333-4444-555555555555", Key: twoKey}}},
	}
	for _, s := range subjects {
		if err := st.EnsureSubject(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		uuid, key string
		want      api.Identity
	}{
		{guestUUID, guestKey, api.Identity{Subject: "guest", Namespace: "guest", UUID: guestUUID, Key: guestKey}},
		{sysUUID, sysKey, api.Identity{Subject: "whisk.system", Namespace: "whisk.system", UUID: sysUUID, Key: sysKey}},
		{twoUUID, twoKey, api.Identity{Subject: "alice", Namespace: "alice-dev", UUID: twoUUID, Key: twoKey}},
		{twoUUID[:35] + "6", twoKey, api.Identity{Subject: "alice", Namespace: "alice-prod", UUID: twoUUID[:35] + "6", Key: twoKey}},
	}
	for _, c := range cases {
		id, err := st.GetIdentity(ctx, c.uuid, c.key)
		if err != nil {
			t.Errorf("GetIdentity(%s): %v", c.uuid, err)
			continue
		}
		if *id != c.want {
			t.Errorf("GetIdentity(%s) = %+v, want %+v", c.uuid, *id, c.want)
		}
	}
	for _, bad := range []struct{ uuid, key string }{
		{guestUUID, sysKey},  // another namespace's key
		{sysUUID, guestKey},  // swapped
		{"nobody", guestKey}, // unknown uuid
		{"guest", ""},        // the [name] row of the view is not a credential
		{"99999999-2222-3333-4444-555555555555", twoKey}, // blocked subject
	} {
		if id, err := st.GetIdentity(ctx, bad.uuid, bad.key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetIdentity(%s, %.8s…) = %+v, %v; want ErrNotFound", bad.uuid, bad.key, id, err)
		}
	}
}

func TestEnsureSubjectIdempotent(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	for range 3 {
		if err := st.EnsureSubject(ctx, guestSubject()); err != nil {
			t.Fatalf("EnsureSubject: %v", err)
		}
	}
	// An existing subject is left as it is: a different key for the same
	// subject id does not replace the stored one.
	changed := guestSubject()
	changed.Namespaces[0].Key = "zzzzO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	if err := st.EnsureSubject(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetIdentity(ctx, guestUUID, guestKey); err != nil {
		t.Errorf("original key after EnsureSubject with another key: %v", err)
	}
	if _, err := st.GetIdentity(ctx, guestUUID, changed.Namespaces[0].Key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EnsureSubject replaced an existing subject: err = %v", err)
	}
}
