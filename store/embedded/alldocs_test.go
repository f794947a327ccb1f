package embedded_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	kivik "github.com/go-kivik/kivik/v4"
)

func TestAllDocs(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "whisks")
	for _, id := range []string{"guest/b", "guest/a", "guest/c", "other/a", "_design/x", "guest/d"} {
		put(t, db, id, map[string]any{"id": id})
	}
	rev, _ := db.Get(ctx, "guest/d").Rev()
	if _, err := db.Delete(ctx, "guest/d", rev); err != nil {
		t.Fatal(err)
	}

	all := func(opts ...kivik.Option) []resultRow {
		t.Helper()
		return queryRows(t, db.AllDocs(ctx, opts...), false)
	}
	assertIDs(t, "all", all(), "_design/x", "guest/a", "guest/b", "guest/c", "other/a")
	assertIDs(t, "range", all(kivik.Params(map[string]any{"startkey": "guest/", "endkey": "guest/\ufff0"})),
		"guest/a", "guest/b", "guest/c")
	assertIDs(t, "start_key/end_key", all(kivik.Params(map[string]any{"start_key": "guest/b", "end_key": "other/a"})),
		"guest/b", "guest/c", "other/a")
	assertIDs(t, "exclusive end", all(kivik.Params(map[string]any{"startkey": "guest/b", "endkey": "other/a", "inclusive_end": false})),
		"guest/b", "guest/c")
	assertIDs(t, "descending", all(kivik.Params(map[string]any{"descending": true, "startkey": "guest/c", "endkey": "guest/a"})),
		"guest/c", "guest/b", "guest/a")
	assertIDs(t, "descending exclusive", all(kivik.Params(map[string]any{"descending": "true", "startkey": "guest/c", "endkey": "guest/a", "inclusive_end": "false"})),
		"guest/c", "guest/b")
	assertIDs(t, "skip/limit", all(kivik.Params(map[string]any{"skip": 1, "limit": 2})), "guest/a", "guest/b")
	assertIDs(t, "string skip/limit", all(kivik.Params(map[string]any{"skip": "4", "limit": "10"})), "other/a")
	assertIDs(t, "limit 0", all(kivik.Param("limit", 0)))
	assertIDs(t, "key", all(kivik.Param("key", "guest/b")), "guest/b")
	assertIDs(t, "raw JSON key", all(kivik.Param("key", json.RawMessage(`"guest/c"`))), "guest/c")
	assertIDs(t, "descending limit", all(kivik.Params(map[string]any{"descending": true, "limit": 2})), "other/a", "guest/c")

	// Keys: in the given order; missing docs are error rows, deleted docs
	// rows with value.deleted and a null doc.
	rs := db.AllDocs(ctx, kivik.Param("keys", []string{"guest/c", "nope", "guest/d", "guest/a"}), kivik.IncludeDocs())
	var got []string
	for rs.Next() {
		id, _ := rs.ID()
		key, _ := rs.Key()
		var value map[string]any
		err := rs.ScanValue(&value)
		switch key {
		case `"nope"`:
			wantStatus(t, "missing key row", err, http.StatusNotFound)
		case `"guest/d"`:
			var doc any
			if err := rs.ScanDoc(&doc); err != nil || doc != nil || value["deleted"] != true {
				t.Fatalf("deleted row: value %v doc %v err %v", value, doc, err)
			}
		default:
			var doc map[string]any
			if err := rs.ScanDoc(&doc); err != nil || doc["id"] != id || value["rev"] != doc["_rev"] {
				t.Fatalf("row %s: value %v doc %v err %v", key, value, doc, err)
			}
		}
		got = append(got, key)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{`"guest/c"`, `"nope"`, `"guest/d"`, `"guest/a"`}; len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("keys rows %q, want %q", got, want)
	}

	// include_docs and metadata.
	rs = db.AllDocs(ctx, kivik.IncludeDocs(), kivik.Param("startkey", "other/"))
	rows := queryRows(t, rs, true)
	if len(rows) != 1 || rows[0].Doc.(map[string]any)["id"] != "other/a" {
		t.Fatalf("include_docs rows = %+v", rows)
	}
	rs = db.AllDocs(ctx)
	for rs.Next() {
	}
	if md, err := rs.Metadata(); err != nil || md.TotalRows != 5 {
		t.Fatalf("metadata = %+v, %v", md, err)
	}

	wantStatus(t, "reversed range", db.AllDocs(ctx, kivik.Params(map[string]any{"startkey": "b", "endkey": "a"})).Err(), http.StatusBadRequest)
	wantStatus(t, "bad limit", db.AllDocs(ctx, kivik.Param("limit", "x")).Err(), http.StatusBadRequest)
	wantStatus(t, "missing db", c.DB("nope").AllDocs(ctx).Err(), http.StatusNotFound)
}
