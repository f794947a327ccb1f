package embedded_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/store/embedded"
)

// openClient opens a client on a fresh file in t.TempDir().
func openClient(t testing.TB) (*kivik.Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "brisk.db")
	return openPath(t, path), path
}

func openPath(t testing.TB, path string) *kivik.Client {
	t.Helper()
	c, err := kivik.New(embedded.DriverName, path)
	if err != nil {
		t.Fatalf("kivik.New(%q): %v", path, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func createDB(t testing.TB, c *kivik.Client, name string) *kivik.DB {
	t.Helper()
	if err := c.CreateDB(context.Background(), name); err != nil {
		t.Fatalf("CreateDB(%q): %v", name, err)
	}
	db := c.DB(name)
	if err := db.Err(); err != nil {
		t.Fatalf("DB(%q): %v", name, err)
	}
	return db
}

func put(t testing.TB, db *kivik.DB, id string, doc any) string {
	t.Helper()
	rev, err := db.Put(context.Background(), id, doc)
	if err != nil {
		t.Fatalf("Put(%q): %v", id, err)
	}
	return rev
}

func wantStatus(t testing.TB, what string, err error, status int) {
	t.Helper()
	if got := kivik.HTTPStatus(err); got != status {
		t.Fatalf("%s: got status %d (err %v), want %d", what, got, err, status)
	}
}

// resultRow is a decoded view or _all_docs row.
type resultRow struct {
	ID    string
	Key   any
	Value any
	Doc   any
}

// queryRows reads every row of rs; docs are scanned when withDocs.
func queryRows(t testing.TB, rs *kivik.ResultSet, withDocs bool) []resultRow {
	t.Helper()
	defer rs.Close()
	var out []resultRow
	for rs.Next() {
		var r resultRow
		r.ID, _ = rs.ID()
		if err := rs.ScanKey(&r.Key); err != nil {
			t.Fatalf("ScanKey: %v", err)
		}
		if err := rs.ScanValue(&r.Value); err != nil {
			t.Fatalf("ScanValue: %v", err)
		}
		if withDocs {
			if err := rs.ScanDoc(&r.Doc); err != nil {
				t.Fatalf("ScanDoc: %v", err)
			}
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	return out
}

func ids(rows []resultRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// jsonValue decodes s, for comparing with decoded row fields.
func jsonValue(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

func assertJSON(t testing.TB, what string, got any, want string) {
	t.Helper()
	if w := jsonValue(t, want); !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		t.Fatalf("%s:\n got  %s\n want %s", what, g, want)
	}
}

func assertIDs(t testing.TB, what string, rows []resultRow, want ...string) {
	t.Helper()
	got := ids(rows)
	if len(want) == 0 {
		want = nil
	}
	if len(got) == 0 {
		got = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got ids %q, want %q", what, got, want)
	}
}
