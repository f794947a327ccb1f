package embedded_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/store/embedded"
)

// countingView registers a view whose Map counts its calls, keyed by doc.k.
func countingView(t *testing.T, ddoc, version string) *atomic.Int64 {
	t.Helper()
	calls := new(atomic.Int64)
	embedded.RegisterView(ddoc, "byK", embedded.View{
		Map: func(doc map[string]any, emit func(key, value any)) {
			calls.Add(1)
			if k, ok := doc["k"]; ok {
				emit(k, doc["v"])
			}
			if doc["panic"] == true {
				panic("bad doc")
			}
		},
		Reduce:  "_sum",
		Version: version,
	})
	return calls
}

func TestViewIndexLifecycle(t *testing.T) {
	ctx := context.Background()
	c, path := openClient(t)
	db := createDB(t, c, "things")
	for i, k := range []any{"b", 2, "a", nil, []any{"x", 1}, true, map[string]any{"o": 1}, 1.5, false, "a"} {
		put(t, db, actID(i), map[string]any{"k": k, "v": i})
	}
	put(t, db, "nokey", map[string]any{"v": 100})
	put(t, db, "throws", map[string]any{"k": "zzz", "v": 5, "panic": true})

	// Registered after the docs exist: built on first query, in collation
	// order (null < false < true < numbers < strings < arrays < objects),
	// ties by doc id.
	calls := countingView(t, "life", "v1")
	q := func(opts ...kivik.Option) []resultRow {
		t.Helper()
		return queryRows(t, db.Query(ctx, "_design/life", "_view/byK", append(opts, kivik.Param("reduce", false))...), false)
	}
	rows := q()
	assertIDs(t, "collation order", rows, actID(3), actID(8), actID(5), actID(7), actID(1), actID(2), actID(9), actID(0), actID(4), actID(6))
	built := calls.Load()
	if built != 12 {
		t.Fatalf("build called Map %d times, want 12 (once per doc)", built)
	}

	// Queries use the index: no more Map calls.
	for range 5 {
		q(kivik.Param("key", "a"))
	}
	if n := calls.Load(); n != built {
		t.Fatalf("queries called Map %d more times", n-built)
	}
	assertIDs(t, "key a", q(kivik.Param("key", "a")), actID(2), actID(9))
	assertIDs(t, "keys", q(kivik.Param("keys", []any{"b", nil, "missing", 2})), actID(0), actID(3), actID(1))
	assertIDs(t, "keys descending", q(kivik.Param("keys", []any{"a"}), kivik.Param("descending", true)), actID(9), actID(2))
	assertIDs(t, "numbers", q(kivik.Params(map[string]any{"startkey": 0, "endkey": ""})), actID(7), actID(1))
	assertIDs(t, "startkey_docid", q(kivik.Params(map[string]any{"startkey": "a", "startkey_docid": actID(9), "endkey": "a"})), actID(9))
	assertIDs(t, "endkey_docid exclusive", q(kivik.Params(map[string]any{
		"startkey": "a", "endkey": "a", "endkey_docid": actID(9), "inclusive_end": false})), actID(2))
	assertIDs(t, "exclusive end", q(kivik.Params(map[string]any{"startkey": "a", "endkey": "b", "inclusive_end": false})), actID(2), actID(9))
	assertIDs(t, "descending exclusive end", q(kivik.Params(map[string]any{
		"descending": true, "startkey": "b", "endkey": "a", "inclusive_end": false})), actID(0))
	assertIDs(t, "arrays", q(kivik.Params(map[string]any{"startkey": []any{}, "endkey": map[string]any{}})), actID(4))

	// Writes update the index in the same transaction: one Map call per
	// write, and the new state is visible immediately.
	put(t, db, "new", map[string]any{"k": "a", "v": 1})
	if n := calls.Load(); n != built+1 {
		t.Fatalf("one write called Map %d times", n-built)
	}
	assertIDs(t, "after write", q(kivik.Param("key", "a")), actID(2), actID(9), "new")
	rev, _ := db.Get(ctx, actID(2)).Rev()
	if _, err := db.Delete(ctx, actID(2), rev); err != nil {
		t.Fatal(err)
	}
	assertIDs(t, "after delete", q(kivik.Param("key", "a")), actID(9), "new")

	// _sum reduce, grouping.
	sum := queryRows(t, db.Query(ctx, "life", "byK", kivik.Param("key", "a")), false)
	if len(sum) != 1 || sum[0].Value != float64(10) {
		t.Fatalf("_sum = %+v", sum)
	}
	grouped := queryRows(t, db.Query(ctx, "life", "byK", kivik.Params(map[string]any{"group": true, "startkey": "a", "endkey": "b"})), false)
	if len(grouped) != 2 || grouped[0].Key != "a" || grouped[0].Value != float64(10) || grouped[1].Key != "b" {
		t.Fatalf("group = %+v", grouped)
	}

	// A new Version rebuilds the index; stays correct across reopen, and a
	// reopened file with a current index does not rebuild.
	calls = countingView(t, "life", "v2")
	assertIDs(t, "after re-register", q(kivik.Param("key", "a")), actID(9), "new")
	if n := calls.Load(); n != 12 {
		t.Fatalf("rebuild called Map %d times, want 12", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	db = openPath(t, path).DB("things")
	assertIDs(t, "after reopen", q(kivik.Param("key", "a")), actID(9), "new")
	if n := calls.Load(); n != 12 {
		t.Fatalf("reopen rebuilt the index (%d Map calls)", n)
	}
}

func TestQueryErrors(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "whisks")
	put(t, db, "guest/a", action("guest", "a", 1))

	cases := []struct {
		name   string
		ddoc   string
		view   string
		opts   map[string]any
		status int
	}{
		{"unregistered view", "nope", "nope", nil, http.StatusNotFound},
		{"include_docs with reduce", "whisks.v2.1.0", "actions", map[string]any{"include_docs": true}, http.StatusBadRequest},
		{"group on map", "whisks.v2.1.0", "actions", map[string]any{"reduce": false, "group": true}, http.StatusBadRequest},
		{"multi-key reduce", "whisks.v2.1.0", "actions", map[string]any{"keys": []any{"a", "b"}}, http.StatusBadRequest},
		{"reversed range", "whisks.v2.1.0", "actions", map[string]any{"reduce": false, "startkey": []any{"b"}, "endkey": []any{"a"}}, http.StatusBadRequest},
		{"reversed descending", "whisks.v2.1.0", "actions", map[string]any{"reduce": false, "descending": true, "startkey": []any{"a"}, "endkey": []any{"b"}}, http.StatusBadRequest},
		{"bad bool", "whisks.v2.1.0", "actions", map[string]any{"descending": "maybe"}, http.StatusBadRequest},
		{"negative limit", "whisks.v2.1.0", "actions", map[string]any{"limit": -1}, http.StatusBadRequest},
		{"key and keys", "whisks.v2.1.0", "actions", map[string]any{"key": "a", "keys": []any{"a"}}, http.StatusBadRequest},
		{"missing db", "whisks.v2.1.0", "actions", nil, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := db
			if tc.name == "missing db" {
				target = c.DB("nope")
			}
			wantStatus(t, tc.name, target.Query(ctx, tc.ddoc, tc.view, kivik.Params(tc.opts)).Err(), tc.status)
		})
	}

	// group_level on array keys.
	put(t, db, "guest/b", action("guest", "b", 2))
	put(t, db, "other/c", action("other", "c", 3))
	rows := queryRows(t, db.Query(ctx, "whisks.v2.1.0", "actions", kivik.Param("group_level", 1)), false)
	if len(rows) != 2 || rows[0].Value != float64(2) || rows[1].Value != float64(1) {
		t.Fatalf("group_level=1 rows = %+v", rows)
	}
	assertJSON(t, "group_level keys", []any{rows[0].Key, rows[1].Key}, `[["guest"],["other"]]`)
	rows = queryRows(t, db.Query(ctx, "whisks.v2.1.0", "actions", kivik.Param("reduce", false)), false)
	rs := db.Query(ctx, "whisks.v2.1.0", "actions", kivik.Param("reduce", false), kivik.Param("limit", 1))
	for rs.Next() {
	}
	if md, err := rs.Metadata(); err != nil || md.TotalRows != int64(len(rows)) {
		t.Fatalf("total_rows = %+v, %v; want %d", md, err, len(rows))
	}
}

// TestIndexBuildWithConcurrentWrites builds an index over several build
// chunks while other goroutines update and delete docs on both sides of the
// build cursor; the result must equal the map of the final docs.
func TestIndexBuildWithConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "things")
	const n = 3500 // several build chunks
	docs := make([]any, n)
	for i := range n {
		docs[i] = map[string]any{"_id": actID(i), "k": i % 97, "v": 1}
	}
	if _, err := db.BulkDocs(ctx, docs); err != nil {
		t.Fatal(err)
	}
	countingView(t, "online", "v1")

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 37 {
				id := actID(i)
				rev, err := db.Get(ctx, id).Rev()
				if err != nil {
					t.Errorf("get %s: %v", id, err)
					return
				}
				if i%3 == 0 {
					_, err = db.Delete(ctx, id, rev)
				} else {
					_, err = db.Put(ctx, id, map[string]any{"_rev": rev, "k": 1000 + i, "v": 1})
				}
				if err != nil && kivik.HTTPStatus(err) != http.StatusConflict {
					t.Errorf("write %s: %v", id, err)
				}
			}
		})
	}
	wg.Go(func() {
		queryRows(t, db.Query(ctx, "online", "byK", kivik.Param("limit", 1), kivik.Param("reduce", false)), false)
	})
	wg.Wait()

	want := map[string]float64{}
	for _, r := range queryRows(t, db.AllDocs(ctx, kivik.IncludeDocs()), true) {
		want[r.ID] = r.Doc.(map[string]any)["k"].(float64)
	}
	got := queryRows(t, db.Query(ctx, "online", "byK", kivik.Param("reduce", false)), false)
	if len(got) != len(want) {
		t.Fatalf("index has %d rows, docs %d", len(got), len(want))
	}
	prev := -1.0
	for _, r := range got {
		if k := r.Key.(float64); k != want[r.ID] || k < prev {
			t.Fatalf("row %s key %v: doc has %v (previous key %v)", r.ID, k, want[r.ID], prev)
		}
		prev = r.Key.(float64)
	}
}
