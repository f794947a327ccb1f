package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/brisk-serverless/brisk/store"
)

func TestListEntityDocsAndPrefix(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	for i, name := range []string{"r1", "r2"} {
		mustPut(t, st, "guest/"+name, "", map[string]any{"entityType": "rule", "namespace": "guest", "name": name,
			"trigger": map[string]any{"path": "guest", "name": "t"}, "action": map[string]any{"path": "guest", "name": "a"},
			"updated": int64(100 + i)})
	}
	mustPut(t, st, "other/r3", "", map[string]any{"entityType": "rule", "namespace": "other", "name": "r3",
		"trigger": map[string]any{"path": "other", "name": "t"}, "action": map[string]any{"path": "other", "name": "a"}, "updated": 200})
	docs, err := st.ListEntityDocs(ctx, "rules", "guest", store.ListQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, raw := range docs {
		var d struct{ Name string }
		_ = json.Unmarshal(raw, &d)
		names = append(names, d.Name)
	}
	if len(names) != 2 || names[0] != "r2" || names[1] != "r1" {
		t.Errorf("rules of guest = %v, want r2, r1 (the documents, newest first)", names)
	}

	mustPut(t, st, "alarms:guest/a", "", map[string]any{"entityType": "alarm", "name": "a"})
	mustPut(t, st, "alarms:other/b", "", map[string]any{"entityType": "alarm", "name": "b"})
	docs, err = st.ListDocsByPrefix(ctx, "alarms:", 10)
	if err != nil || len(docs) != 2 {
		t.Fatalf("alarms:* = %d docs (%v), want 2", len(docs), err)
	}
	if n, _ := st.CountEntities(ctx, "triggers", "guest"); n != 0 {
		t.Errorf("a prefixed document is counted as a trigger")
	}
}
