package embedded_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/store/embedded"
)

var revPattern = regexp.MustCompile(`^[0-9]+-[0-9a-f]{32}$`)

func revN(t *testing.T, rev string, n string) {
	t.Helper()
	if !revPattern.MatchString(rev) || rev[:len(n)+1] != n+"-" {
		t.Fatalf("rev %q: want %s-<32 hex>", rev, n)
	}
}

func TestClientDatabases(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)

	v, err := c.Version(ctx)
	if err != nil || v.Vendor != embedded.DriverName {
		t.Fatalf("Version = %+v, %v", v, err)
	}
	for _, name := range []string{"whisk_local_whisks", "whisk_local_activations", "whisk_local_subjects"} {
		createDB(t, c, name)
	}
	wantStatus(t, "CreateDB existing", c.CreateDB(ctx, "whisk_local_whisks"), http.StatusPreconditionFailed)
	wantStatus(t, "CreateDB bad name", c.CreateDB(ctx, "Bad Name"), http.StatusBadRequest)

	all, err := c.AllDBs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"whisk_local_activations", "whisk_local_subjects", "whisk_local_whisks"}; !slices.Equal(all, want) {
		t.Fatalf("AllDBs = %q, want %q", all, want)
	}
	if ok, err := c.DBExists(ctx, "whisk_local_whisks"); !ok || err != nil {
		t.Fatalf("DBExists = %v, %v", ok, err)
	}
	if ok, err := c.DBExists(ctx, "nope"); ok || err != nil {
		t.Fatalf("DBExists(nope) = %v, %v", ok, err)
	}

	db := c.DB("whisk_local_whisks")
	put(t, db, "doc", map[string]any{"a": 1})
	if err := c.DestroyDB(ctx, "whisk_local_whisks"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "DestroyDB missing", c.DestroyDB(ctx, "whisk_local_whisks"), http.StatusNotFound)
	_, err = db.Put(ctx, "doc", map[string]any{"a": 1})
	wantStatus(t, "Put in destroyed db", err, http.StatusNotFound)
	wantStatus(t, "Get in destroyed db", c.DB("whisk_local_whisks").Get(ctx, "doc").Err(), http.StatusNotFound)

	// Re-created, it is empty.
	db = createDB(t, c, "whisk_local_whisks")
	wantStatus(t, "Get in re-created db", db.Get(ctx, "doc").Err(), http.StatusNotFound)
}

func TestDocumentRevisions(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "whisks")

	action := map[string]any{
		"entityType": "action", "namespace": "guest", "name": "hello", "updated": 1700000000000,
		"exec":    map[string]any{"kind": "nodejs:20", "binary": false, "code": "function main(){}"},
		"version": "0.0.1", "publish": false, "annotations": []any{}, "parameters": []any{},
		"limits": map[string]any{"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1},
	}
	rev1 := put(t, db, "guest/hello", action)
	revN(t, rev1, "1")

	var got map[string]any
	doc := db.Get(ctx, "guest/hello")
	if err := doc.ScanDoc(&got); err != nil {
		t.Fatal(err)
	}
	if r, _ := doc.Rev(); r != rev1 || got["_rev"] != rev1 || got["_id"] != "guest/hello" {
		t.Fatalf("Get: rev %q, body _id %v _rev %v; want %q", r, got["_id"], got["_rev"], rev1)
	}
	if got["updated"] != float64(1700000000000) || got["name"] != "hello" {
		t.Fatalf("Get body = %v", got)
	}

	// Update without a rev, or with a wrong one: 409.
	_, err := db.Put(ctx, "guest/hello", action)
	wantStatus(t, "Put existing without rev", err, http.StatusConflict)
	action["_rev"] = "1-00000000000000000000000000000000"
	_, err = db.Put(ctx, "guest/hello", action)
	wantStatus(t, "Put with wrong rev", err, http.StatusConflict)
	action["_rev"] = rev1
	rev2 := put(t, db, "guest/hello", action)
	revN(t, rev2, "2")
	_, err = db.Put(ctx, "guest/hello", action) // rev1 is stale now
	wantStatus(t, "Put with stale rev", err, http.StatusConflict)

	// The rev can also come as an option (PUT ?rev=).
	delete(action, "_rev")
	rev3, err := db.Put(ctx, "guest/hello", action, kivik.Rev(rev2))
	if err != nil {
		t.Fatal(err)
	}
	revN(t, rev3, "3")

	// A new doc given a rev: 409.
	_, err = db.Put(ctx, "guest/other", map[string]any{"_rev": "1-abc"})
	wantStatus(t, "Put new doc with rev", err, http.StatusConflict)
	_, err = db.Put(ctx, "guest/other", map[string]any{"_rev": "bogus"})
	wantStatus(t, "Put malformed rev", err, http.StatusBadRequest)

	// Get by rev: only the current one exists.
	if err := db.Get(ctx, "guest/hello", kivik.Rev(rev3)).Err(); err != nil {
		t.Fatalf("Get current rev: %v", err)
	}
	wantStatus(t, "Get old rev", db.Get(ctx, "guest/hello", kivik.Rev(rev1)).Err(), http.StatusNotFound)
	if r, err := db.GetRev(ctx, "guest/hello"); r != rev3 || err != nil {
		t.Fatalf("GetRev = %q, %v", r, err)
	}

	// Delete needs the current rev.
	_, err = db.Delete(ctx, "guest/hello", "")
	wantStatus(t, "Delete without rev", err, http.StatusConflict)
	_, err = db.Delete(ctx, "guest/hello", rev2)
	wantStatus(t, "Delete stale rev", err, http.StatusConflict)
	drev, err := db.Delete(ctx, "guest/hello", rev3)
	if err != nil {
		t.Fatal(err)
	}
	revN(t, drev, "4")
	err = db.Get(ctx, "guest/hello").Err()
	wantStatus(t, "Get deleted", err, http.StatusNotFound)
	_, err = db.Delete(ctx, "guest/hello", drev)
	wantStatus(t, "Delete deleted", err, http.StatusNotFound)
	_, err = db.Delete(ctx, "guest/never", "1-abc")
	wantStatus(t, "Delete missing", err, http.StatusNotFound)
	wantStatus(t, "Get missing", db.Get(ctx, "guest/never").Err(), http.StatusNotFound)

	// Re-creating continues the revision history, as in CouchDB.
	rev5 := put(t, db, "guest/hello", map[string]any{"name": "again"})
	revN(t, rev5, "5")

	// Deleting through Put with _deleted.
	if _, err := db.Put(ctx, "guest/hello", map[string]any{"_rev": rev5, "_deleted": true}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "Get after _deleted put", db.Get(ctx, "guest/hello").Err(), http.StatusNotFound)

	// CreateDoc generates a 32-hex id, or uses _id.
	id, rev, err := db.CreateDoc(ctx, map[string]any{"x": 1})
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("CreateDoc = %q, %q, %v", id, rev, err)
	}
	revN(t, rev, "1")
	if id, _, err := db.CreateDoc(ctx, map[string]any{"_id": "named"}); id != "named" || err != nil {
		t.Fatalf("CreateDoc with _id = %q, %v", id, err)
	}

	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.DocCount != 2 || st.DeletedCount != 1 || st.Name != "whisks" {
		t.Fatalf("Stats = %+v, want 2 docs, 1 deleted", st)
	}
}

func TestDocumentValidation(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "whisks")

	_, err := db.Put(ctx, "_bad", map[string]any{})
	wantStatus(t, "reserved id", err, http.StatusBadRequest)
	_, err = db.Put(ctx, "x", map[string]any{"_foo": 1})
	wantStatus(t, "special member", err, http.StatusBadRequest)
	_, err = db.Put(ctx, "x", []int{1, 2})
	wantStatus(t, "non-object doc", err, http.StatusBadRequest)
	_, err = db.Put(ctx, "x", map[string]any{"_attachments": map[string]any{}})
	wantStatus(t, "attachments", err, http.StatusNotImplemented)

	// Design docs are ordinary docs.
	ddoc := map[string]any{"language": "javascript", "views": map[string]any{"v": map[string]any{"map": "function(doc){}"}}}
	rev := put(t, db, "_design/whisks.v2.1.0", ddoc)
	var got map[string]any
	if err := db.Get(ctx, "_design/whisks.v2.1.0").ScanDoc(&got); err != nil || got["_rev"] != rev {
		t.Fatalf("Get design doc = %v, %v", got, err)
	}

	// Big integers and HTML characters survive storage byte-exact.
	put(t, db, "big", map[string]any{"n": json64(9007199254740993), "s": "<a&b>"})
	var raw json.RawMessage
	if err := db.Get(ctx, "big").ScanDoc(&raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"n":9007199254740993`) || !strings.Contains(string(raw), `"s":"<a&b>"`) {
		t.Fatalf("stored doc changed: %s", raw)
	}
}

func json64(n int64) any { return n }

func TestNotImplemented(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "whisks")
	put(t, db, "doc", map[string]any{})

	wantStatus(t, "Compact", db.Compact(ctx), http.StatusNotImplemented)
	wantStatus(t, "CompactView", db.CompactView(ctx, "x"), http.StatusNotImplemented)
	wantStatus(t, "ViewCleanup", db.ViewCleanup(ctx), http.StatusNotImplemented)
	wantStatus(t, "Changes", db.Changes(ctx).Err(), http.StatusNotImplemented)
	_, err := db.PutAttachment(ctx, "doc", &kivik.Attachment{Filename: "a", ContentType: "text/plain"})
	wantStatus(t, "PutAttachment", err, http.StatusNotImplemented)
	_, err = db.GetAttachment(ctx, "doc", "a")
	wantStatus(t, "GetAttachment", err, http.StatusNotImplemented)
	_, err = db.BulkDocs(ctx, []any{map[string]any{"_id": "x"}}, kivik.Param("new_edits", false))
	wantStatus(t, "BulkDocs new_edits=false", err, http.StatusNotImplemented)
}

func TestBulkDocs(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "activations")
	rev := put(t, db, "existing", map[string]any{"v": 1})
	delRev := put(t, db, "todelete", map[string]any{"v": 1})

	results, err := db.BulkDocs(ctx, []any{
		map[string]any{"_id": "a", "v": 1},
		map[string]any{"_id": "existing", "v": 2},              // no rev: conflict
		map[string]any{"_id": "existing", "_rev": rev, "v": 3}, // ok
		map[string]any{"_id": "todelete", "_rev": delRev, "_deleted": true},
		map[string]any{"v": "generated id"},
		map[string]any{"_id": "_bad"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 6 {
		t.Fatalf("got %d results", len(results))
	}
	check := func(i int, id string, status int) {
		t.Helper()
		r := results[i]
		if id != "" && r.ID != id {
			t.Fatalf("result %d: id %q, want %q", i, r.ID, id)
		}
		if status == 0 {
			if r.Error != nil || !revPattern.MatchString(r.Rev) {
				t.Fatalf("result %d: %+v, want success", i, r)
			}
			return
		}
		wantStatus(t, "bulk result", r.Error, status)
	}
	check(0, "a", 0)
	check(1, "existing", http.StatusConflict)
	check(2, "existing", 0)
	check(3, "todelete", 0)
	check(4, "", 0)
	check(5, "_bad", http.StatusBadRequest)

	var got map[string]any
	if err := db.Get(ctx, "existing").ScanDoc(&got); err != nil || got["v"] != float64(3) {
		t.Fatalf("existing = %v, %v", got, err)
	}
	wantStatus(t, "deleted by bulk", db.Get(ctx, "todelete").Err(), http.StatusNotFound)
	if err := db.Get(ctx, results[4].ID).Err(); err != nil {
		t.Fatalf("generated id doc: %v", err)
	}
}

func TestReopenPersists(t *testing.T) {
	ctx := context.Background()
	c, path := openClient(t)
	db := createDB(t, c, "whisks")
	rev := put(t, db, "guest/hello", map[string]any{"exec": map[string]any{"kind": "nodejs:20"}, "namespace": "guest", "name": "hello", "updated": 1})
	put(t, db, "guest/gone", map[string]any{"v": 1})
	grev, _ := db.Get(ctx, "guest/gone").Rev()
	if _, err := db.Delete(ctx, "guest/gone", grev); err != nil {
		t.Fatal(err)
	}
	rows := queryRows(t, db.Query(ctx, "_design/whisks.v2.1.0", "_view/actions", kivik.Param("reduce", false)), false)
	assertIDs(t, "actions before reopen", rows, "guest/hello")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2 := openPath(t, path)
	db2 := c2.DB("whisks")
	if r, err := db2.Get(ctx, "guest/hello").Rev(); r != rev || err != nil {
		t.Fatalf("after reopen: rev %q, %v; want %q", r, err, rev)
	}
	wantStatus(t, "deleted after reopen", db2.Get(ctx, "guest/gone").Err(), http.StatusNotFound)
	rows = queryRows(t, db2.Query(ctx, "whisks.v2.1.0", "actions", kivik.Param("reduce", false)), false)
	assertIDs(t, "actions after reopen", rows, "guest/hello")
	st, err := db2.Stats(ctx)
	if err != nil || st.DocCount != 1 || st.DeletedCount != 1 {
		t.Fatalf("Stats after reopen = %+v, %v", st, err)
	}
	// Re-creating the deleted doc continues its history.
	revN(t, put(t, db2, "guest/gone", map[string]any{}), "3")
}

func TestSecondClientGetsLockError(t *testing.T) {
	_, path := openClient(t)
	start := time.Now()
	_, err := kivik.New(embedded.DriverName, path, embedded.OptionLockTimeout(200*time.Millisecond))
	if err == nil {
		t.Fatal("second client on a locked file succeeded")
	}
	wantStatus(t, "locked file", err, http.StatusServiceUnavailable)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("lock timeout took %s", d)
	}
	if !regexp.MustCompile(`locked`).MatchString(err.Error()) {
		t.Fatalf("error %q does not say the file is locked", err)
	}
	_, err = kivik.New(embedded.DriverName, "")
	wantStatus(t, "empty DSN", err, http.StatusBadRequest)
	var se interface{ HTTPStatus() int }
	if !errors.As(err, &se) {
		t.Fatalf("error %T has no HTTPStatus", err)
	}
}
