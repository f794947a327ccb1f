package controller

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
	_ "github.com/brisk-serverless/brisk/store/embedded" // the "brisk-embedded" kivik driver
)

// storeOnly is a Server with nothing but a fresh store: enough for the
// collection helpers.
func storeOnly(t *testing.T) *Server {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Driver: "brisk-embedded", DSN: filepath.Join(t.TempDir(), "brisk.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &Server{store: st}
}

func triggerDoc(name string) api.TriggerDoc {
	return api.TriggerDoc{EntityType: "trigger", Trigger: api.Trigger{Namespace: "guest", Name: name, Version: "0.0.1"}.Normalized()}
}

// wantAPIError checks that err carries the api.Error want.
func wantAPIError(t *testing.T, what string, err error, want *api.Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func TestReadForPut(t *testing.T) {
	s := storeOnly(t)
	ctx := context.Background()
	if doc, err := readForPut(ctx, "guest/t", false, s.readTrigger); doc != nil || err != nil {
		t.Errorf("missing: (%v, %v), want (nil, nil): a create", doc, err)
	}
	if err := s.writeEntity(ctx, "guest/t", "", triggerDoc("t")); err != nil {
		t.Fatal(err)
	}
	_, err := readForPut(ctx, "guest/t", false, s.readTrigger)
	wantAPIError(t, "existing without overwrite", err, api.ErrExists)
	doc, err := readForPut(ctx, "guest/t", true, s.readTrigger)
	if err != nil || doc == nil || doc.Name != "t" || doc.Rev == "" {
		t.Errorf("existing with overwrite: (%+v, %v), want the stored trigger", doc, err)
	}
	// Another collection's name and a corrupted document are errors, with
	// or without overwrite: not a create.
	for _, overwrite := range []bool{false, true} {
		_, err = readForPut(ctx, "guest/t", overwrite, s.readRule)
		wantAPIError(t, "another collection's name", err, api.ErrWrongColl)
	}
	if _, err := s.store.PutEntity(ctx, "guest/bad", "", map[string]any{"entityType": "trigger", "parameters": "not a list"}); err != nil {
		t.Fatal(err)
	}
	for _, overwrite := range []bool{false, true} {
		_, err = readForPut(ctx, "guest/bad", overwrite, s.readTrigger)
		if e, ok := api.AsError(err); !ok || e.Status != http.StatusInternalServerError || e.Message != api.MsgCorrupted {
			t.Errorf("corrupted (overwrite %v): err = %v, want 500 %s", overwrite, err, api.MsgCorrupted)
		}
	}
}

func TestWriteEntityConflicts(t *testing.T) {
	s := storeOnly(t)
	ctx := context.Background()
	if err := s.writeEntity(ctx, "guest/t", "", triggerDoc("t")); err != nil {
		t.Fatal(err)
	}
	first, err := s.readTrigger(ctx, "guest/t")
	if err != nil {
		t.Fatal(err)
	}
	// A create that lost the race to another create.
	wantAPIError(t, "create over an existing document", s.writeEntity(ctx, "guest/t", "", triggerDoc("t")), api.ErrExists)
	// Two updates from the same read: the first applies, the second is a
	// concurrent modification.
	if err := s.writeEntity(ctx, "guest/t", first.Rev, triggerDoc("t")); err != nil {
		t.Fatalf("first update: %v", err)
	}
	wantAPIError(t, "update from a stale read", s.writeEntity(ctx, "guest/t", first.Rev, triggerDoc("t")), api.ErrConcurrent)
	wantAPIError(t, "delete at a stale revision", s.deleteEntity(ctx, "guest/t", first.Rev), api.ErrConcurrent)
	current, err := s.readTrigger(ctx, "guest/t")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.deleteEntity(ctx, "guest/t", current.Rev); err != nil {
		t.Fatalf("delete at the current revision: %v", err)
	}
	if err := s.deleteEntity(ctx, "guest/t", current.Rev); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete of a deleted document: err = %v, want store.ErrNotFound", err)
	}
}
