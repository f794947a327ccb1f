package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// Upstream's guest credentials (ansible/files/auth.guest).
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

func TestPutActivationsBulkAndIdempotent(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	if err := st.PutActivations(ctx, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	a, b, c := activation("guest", "hello", 100, 0), activation("guest", "hello", 200, 1), activation("guest", "bye", 300, 0)
	if err := st.PutActivations(ctx, []*api.Activation{a, b, c}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []*api.Activation{a, b, c} {
		got, err := st.GetActivation(ctx, "guest", want.ActivationID)
		if err != nil {
			t.Fatalf("GetActivation(%s): %v", want.ActivationID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetActivation(%s) =\n %+v\nwant\n %+v", want.ActivationID, got, want)
		}
	}

	// Writing a batch again (a redelivered ack) is not an error, keeps the
	// first record and still writes the new ones.
	changed := *b
	changed.Response.StatusCode = api.StatusWhiskError
	changed.Logs = []string{"rewritten"}
	d := activation("guest", "hello", 400, 0)
	if err := st.PutActivations(ctx, []*api.Activation{a, &changed, d}); err != nil {
		t.Fatalf("re-put: %v", err)
	}
	got, err := st.GetActivation(ctx, "guest", b.ActivationID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Response.StatusCode != api.StatusApplicationError || !reflect.DeepEqual(got.Logs, b.Logs) {
		t.Errorf("re-put replaced the first record: %+v", got)
	}
	if _, err := st.GetActivation(ctx, "guest", d.ActivationID); err != nil {
		t.Errorf("new record of the re-put batch: %v", err)
	}
	if n, err := st.CountActivations(ctx, "guest", store.ActivationQuery{}); err != nil || n != 4 {
		t.Errorf("CountActivations = %d, %v; want 4 (no duplicates)", n, err)
	}
}

func TestGetActivationIsPerNamespace(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	a := activation("guest", "hello", 100, 0)
	if err := st.PutActivations(ctx, []*api.Activation{a}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetActivation(ctx, "other", a.ActivationID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("activation read through another namespace: err = %v, want ErrNotFound", err)
	}
	if _, err := st.GetActivation(ctx, "guest", api.NewActivationID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown activation: err = %v, want ErrNotFound", err)
	}
	if got := store.ActivationDocID("guest", a.ActivationID); got != "guest/"+a.ActivationID {
		t.Errorf("ActivationDocID = %q", got)
	}
}

func TestListActivationsSummaryAndDocs(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	done := activation("guest", "hello", 100, api.StatusApplicationError)
	trigger := activation("guest", "tick", 200, 0) // trigger activations have no end
	trigger.End, trigger.Duration = 0, 0
	if err := st.PutActivations(ctx, []*api.Activation{done, trigger}); err != nil {
		t.Fatal(err)
	}

	sums, err := st.ListActivations(ctx, "guest", store.ActivationQuery{Limit: 30})
	if err != nil || len(sums) != 2 {
		t.Fatalf("list = %d records, %v", len(sums), err)
	}
	s := sums[1] // hello, the older one
	if s.ActivationID != done.ActivationID || s.Name != "hello" || s.Namespace != "guest" || s.Version != "0.0.1" ||
		s.Start != 100 || s.End != 107 || s.Duration != 7 || s.Response.StatusCode != api.StatusApplicationError {
		t.Errorf("summary = %+v", s)
	}
	if !reflect.DeepEqual(s.Annotations, done.Annotations) {
		t.Errorf("summary annotations = %+v, want %+v", s.Annotations, done.Annotations)
	}
	if s.Logs != nil || s.Response.Result != nil || s.Subject != "" {
		t.Errorf("summary carries full-record fields: logs %v result %s subject %q", s.Logs, s.Response.Result, s.Subject)
	}
	sum := s.Summary()
	if sum.StatusCode == nil || *sum.StatusCode != api.StatusApplicationError || sum.Duration == nil || *sum.Duration != 7 {
		t.Errorf("API summary of a finished activation = %+v", sum)
	}
	if ts := sums[0].Summary(); ts.End != 0 || ts.Duration != nil || ts.StatusCode != nil {
		t.Errorf("API summary of an activation without end = %+v, want no end, duration, statusCode", ts)
	}

	docs, err := st.ListActivations(ctx, "guest", store.ActivationQuery{Limit: 30, Docs: true})
	if err != nil || len(docs) != 2 {
		t.Fatalf("list docs = %d records, %v", len(docs), err)
	}
	if !reflect.DeepEqual(docs[1], done) {
		t.Errorf("docs=true record =\n %+v\nwant\n %+v", docs[1], done)
	}
	if !reflect.DeepEqual(docs[0], trigger) {
		t.Errorf("docs=true record =\n %+v\nwant\n %+v", docs[0], trigger)
	}
	named, err := st.ListActivations(ctx, "guest", store.ActivationQuery{Name: "hello", Limit: 30, Docs: true})
	if err != nil || len(named) != 1 || !reflect.DeepEqual(named[0], done) {
		t.Errorf("docs=true with name filter = %+v, %v", named, err)
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
