package embedded_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/store/embedded"
)

const top = "\ufff0" // upstream's high key (WhiskQueries.TOP)

// entityList is the upstream entity-list query: newest first within path.
func entityList(path string, extra map[string]any) kivik.Option {
	p := map[string]any{
		"descending": true,
		"startkey":   []any{path, top, top},
		"endkey":     []any{path, 0},
		"reduce":     false,
	}
	for k, v := range extra {
		p[k] = v
	}
	return kivik.Params(p)
}

func action(ns, name string, updated int64) map[string]any {
	return map[string]any{
		"entityType": "action", "namespace": ns, "name": name, "updated": updated,
		"exec":    map[string]any{"kind": "nodejs:20", "binary": false, "code": "function main(){return {}}"},
		"version": "0.0.1", "publish": false, "annotations": []any{}, "parameters": []any{},
		"limits": map[string]any{"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1},
	}
}

func seedWhisks(t *testing.T, db *kivik.DB) {
	t.Helper()
	put(t, db, "guest/hello", action("guest", "hello", 1700000000000))
	put(t, db, "guest/pkg/inpkg", action("guest/pkg", "inpkg", 1700000000100))
	bin := action("guest", "world", 1700000000200)
	bin["exec"] = map[string]any{"kind": "java:8", "binary": true}
	put(t, db, "guest/world", bin)
	put(t, db, "other/act", action("other", "act", 1700000000300))

	pkg := func(ns, name string, updated int64, publish bool, binding map[string]any) map[string]any {
		return map[string]any{
			"entityType": "package", "namespace": ns, "name": name, "updated": updated, "version": "0.0.1",
			"publish": publish, "annotations": []any{}, "parameters": []any{}, "binding": binding,
		}
	}
	put(t, db, "guest/pkg", pkg("guest", "pkg", 1700000000010, true, map[string]any{}))
	put(t, db, "guest/bound", pkg("guest", "bound", 1700000000020, false, map[string]any{"namespace": "other", "name": "pub"}))
	put(t, db, "other/pub", pkg("other", "pub", 1700000000030, true, map[string]any{}))

	put(t, db, "guest/trig", map[string]any{
		"entityType": "trigger", "namespace": "guest", "name": "trig", "updated": 1700000000040, "version": "0.0.1",
		"publish": false, "annotations": []any{}, "parameters": []any{}, "limits": map[string]any{}, "rules": map[string]any{},
	})
	put(t, db, "guest/rule", map[string]any{
		"entityType": "rule", "namespace": "guest", "name": "rule", "updated": 1700000000050, "version": "0.0.1",
		"publish": false, "annotations": []any{}, "status": "active",
		"trigger": map[string]any{"path": "guest", "name": "trig"}, "action": map[string]any{"path": "guest", "name": "hello"},
	})
	// A design doc is never indexed, even if it looks like an action.
	put(t, db, "_design/whisks.v2.1.0", map[string]any{"exec": map[string]any{}, "namespace": "guest", "views": map[string]any{}})
}

func TestWhisksViews(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "whisk_local_whisks")
	seedWhisks(t, db)
	q := func(view string, opts ...kivik.Option) []resultRow {
		t.Helper()
		return queryRows(t, db.Query(ctx, "_design/whisks.v2.1.0", "_view/"+view, opts...), false)
	}

	// Actions of a namespace include those in its packages, newest first.
	rows := q("actions", entityList("guest", nil))
	assertIDs(t, "actions guest", rows, "guest/world", "guest/pkg/inpkg", "guest/hello")
	assertJSON(t, "action key", rows[2].Key, `["guest",1700000000000]`)
	assertJSON(t, "action value", rows[2].Value, `{"namespace":"guest","name":"hello","version":"0.0.1","publish":false,
		"annotations":[],"limits":{"timeout":60000,"memory":256,"logs":10,"concurrency":1},"exec":{"binary":false},"updated":1700000000000}`)
	assertJSON(t, "binary action exec", rows[0].Value.(map[string]any)["exec"], `{"binary":true}`)
	assertJSON(t, "package action key", rows[1].Key, `["guest",1700000000100]`)
	assertIDs(t, "actions of package", q("actions", entityList("guest/pkg", nil)), "guest/pkg/inpkg")
	assertIDs(t, "actions skip/limit", q("actions", entityList("guest", map[string]any{"skip": 1, "limit": 1})), "guest/pkg/inpkg")
	assertIDs(t, "actions ascending", q("actions", kivik.Params(map[string]any{
		"startkey": []any{"guest", 0}, "endkey": []any{"guest", top, top}, "reduce": false})),
		"guest/hello", "guest/pkg/inpkg", "guest/world")

	// Counts: _count reduce over the same range.
	count := entityList("guest", map[string]any{"reduce": true})
	rows = q("actions", count)
	if len(rows) != 1 || rows[0].Value != float64(3) || rows[0].Key != nil {
		t.Fatalf("actions count rows = %+v", rows)
	}
	// Default reduce is true for a view with a reduce.
	rows = q("actions", kivik.Params(map[string]any{"startkey": []any{"other"}, "endkey": []any{"other", top}}))
	if len(rows) != 1 || rows[0].Value != float64(1) {
		t.Fatalf("default reduce rows = %+v", rows)
	}
	// Like CouchDB: an empty range reduces to no rows, and skip applies to
	// the reduced rows.
	if rows := q("actions", entityList("nobody", map[string]any{"reduce": true})); len(rows) != 0 {
		t.Fatalf("empty count rows = %+v", rows)
	}
	if rows := q("actions", entityList("guest", map[string]any{"reduce": true, "skip": 1})); len(rows) != 0 {
		t.Fatalf("count with skip rows = %+v", rows)
	}

	rows = q("packages", entityList("guest", nil))
	assertIDs(t, "packages guest", rows, "guest/bound", "guest/pkg")
	assertJSON(t, "binding package value", rows[0].Value, `{"namespace":"guest","name":"bound","version":"0.0.1","publish":false,
		"annotations":[],"updated":1700000000020,"binding":{"namespace":"other","name":"pub"}}`)
	assertJSON(t, "package value", rows[1].Value, `{"namespace":"guest","name":"pkg","version":"0.0.1","publish":true,
		"annotations":[],"updated":1700000000010,"binding":false}`)

	assertIDs(t, "public packages other", q("packages-public", entityList("other", nil)), "other/pub")
	assertIDs(t, "public packages guest", q("packages-public", entityList("guest", nil)), "guest/pkg")

	rows = q("triggers", entityList("guest", nil))
	assertIDs(t, "triggers", rows, "guest/trig")
	assertJSON(t, "trigger value", rows[0].Value, `{"namespace":"guest","name":"trig","version":"0.0.1","publish":false,
		"annotations":[],"updated":1700000000040}`)

	// Rules are listed with include_docs.
	rows = queryRows(t, db.Query(ctx, "whisks.v2.1.0", "rules", entityList("guest", map[string]any{"include_docs": true})), true)
	assertIDs(t, "rules", rows, "guest/rule")
	if rows[0].Value != float64(1) || rows[0].Doc.(map[string]any)["status"] != "active" {
		t.Fatalf("rule row = %+v", rows[0])
	}

	// Updates move rows; deletes remove them.
	var hello map[string]any
	if err := db.Get(ctx, "guest/hello").ScanDoc(&hello); err != nil {
		t.Fatal(err)
	}
	hello["updated"] = 1700000000999
	put(t, db, "guest/hello", hello)
	assertIDs(t, "after update", q("actions", entityList("guest", nil)), "guest/hello", "guest/world", "guest/pkg/inpkg")
	rev, _ := db.Get(ctx, "guest/world").Rev()
	if _, err := db.Delete(ctx, "guest/world", rev); err != nil {
		t.Fatal(err)
	}
	assertIDs(t, "after delete", q("actions", entityList("guest", nil)), "guest/hello", "guest/pkg/inpkg")
	rows = q("actions", entityList("guest", map[string]any{"reduce": true}))
	if len(rows) != 1 || rows[0].Value != float64(2) {
		t.Fatalf("count after delete = %+v", rows)
	}
}

// activation is an upstream-shaped activation record.
func activation(ns, name, id string, start, duration int64, annotations []any) map[string]any {
	end := start + duration
	if duration < 0 {
		end = 0
	}
	return map[string]any{
		"entityType": "activation", "namespace": ns, "name": name, "activationId": id,
		"version": "0.0.1", "publish": false, "subject": ns, "start": start, "end": end,
		"response":    map[string]any{"statusCode": 0, "result": map[string]any{"ok": true}},
		"logs":        []any{"2024-01-01T00:00:00.000Z stdout: hi"},
		"annotations": annotations,
	}
}

func pathAnn(path string) []any {
	return []any{
		map[string]any{"key": "path", "value": path},
		map[string]any{"key": "kind", "value": "nodejs:20"},
		map[string]any{"key": "waitTime", "value": 12},
	}
}

func actID(i int) string { return fmt.Sprintf("%032x", i) }

func TestActivationViews(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "whisk_local_activations")
	const start = int64(1700000000000)
	var docs []any
	for i := range 10 {
		doc := activation("guest", "hello", actID(i), start+int64(i)*1000, 42, pathAnn("guest/hello"))
		doc["_id"] = "guest/" + actID(i)
		docs = append(docs, doc)
	}
	pkgAct := activation("guest", "act", actID(100), start+100000, 5, pathAnn("guest/pkg/act"))
	pkgAct["_id"] = "guest/" + actID(100)
	bindAct := activation("guest", "hello", actID(101), start+101000, 5,
		append(pathAnn("other/pub/hello"), map[string]any{"key": "binding", "value": "guest/mybind"}))
	bindAct["_id"] = "guest/" + actID(101)
	running := activation("guest", "slow", actID(102), start+102000, -1, pathAnn("guest/slow"))
	running["_id"] = "guest/" + actID(102)
	running["cause"] = "cafebabe"
	otherNS := activation("other", "hello", actID(103), start+103000, 5, pathAnn("other/hello"))
	otherNS["_id"] = "other/" + actID(103)
	docs = append(docs, pkgAct, bindAct, running, otherNS)
	results, err := db.BulkDocs(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Error != nil {
			t.Fatalf("bulk %s: %v", r.ID, r.Error)
		}
	}

	list := func(ddoc, key string, extra map[string]any) kivik.Option {
		p := map[string]any{"descending": true, "startkey": []any{key, top}, "endkey": []any{key, 0}, "reduce": false}
		for k, v := range extra {
			p[k] = v
		}
		return kivik.Params(p)
	}
	q := func(ddoc string, opt kivik.Option, docs bool) []resultRow {
		t.Helper()
		return queryRows(t, db.Query(ctx, ddoc, "activations", opt), docs)
	}

	rows := q("whisks.v2.1.0", list("", "guest", map[string]any{"limit": 4}), false)
	assertIDs(t, "newest guest activations", rows,
		"guest/"+actID(102), "guest/"+actID(101), "guest/"+actID(100), "guest/"+actID(9))
	assertJSON(t, "activation key", rows[3].Key, `["guest",1700000009000]`)
	assertJSON(t, "activation value", rows[3].Value, `{"namespace":"guest","name":"hello","version":"0.0.1","publish":false,
		"annotations":[{"key":"path","value":"guest/hello"},{"key":"kind","value":"nodejs:20"},{"key":"waitTime","value":12}],
		"activationId":"`+actID(9)+`","start":1700000009000,"end":1700000009042,"duration":42,"statusCode":0}`)
	// Still running (end 0): no end, duration or statusCode; cause kept.
	assertJSON(t, "running activation value", rows[0].Value, `{"namespace":"guest","name":"slow","version":"0.0.1","publish":false,
		"annotations":[{"key":"path","value":"guest/slow"},{"key":"kind","value":"nodejs:20"},{"key":"waitTime","value":12}],
		"activationId":"`+actID(102)+`","start":1700000102000,"cause":"cafebabe"}`)

	// skip + limit, since/upto in the second key element.
	rows = q("whisks.v2.1.0", kivik.Params(map[string]any{
		"descending": true, "startkey": []any{"guest", start + 8000}, "endkey": []any{"guest", start + 2000},
		"skip": 1, "limit": 3, "reduce": false}), false)
	assertIDs(t, "since/upto skip limit", rows, "guest/"+actID(7), "guest/"+actID(6), "guest/"+actID(5))

	rows = q("whisks.v2.1.0", list("", "guest", map[string]any{"reduce": true}), false)
	if len(rows) != 1 || rows[0].Value != float64(13) {
		t.Fatalf("guest activation count = %+v", rows)
	}

	// include_docs gives the full record.
	rows = q("whisks.v2.1.0", list("", "other", map[string]any{"include_docs": true}), true)
	assertIDs(t, "other activations", rows, "other/"+actID(103))
	if doc := rows[0].Doc.(map[string]any); doc["logs"] == nil || doc["_id"] != "other/"+actID(103) {
		t.Fatalf("include_docs doc = %v", doc)
	}

	// Filtered by name: the key is "<ns>/<name>", or "<ns>/<pkg>/<name>",
	// under upstream's design doc and under the one Brisk installs.
	for _, ddoc := range []string{embedded.DDocWhisksFilters, embedded.DDocWhisksFiltersBrisk} {
		rows = q(ddoc, list("", "guest/hello", map[string]any{"limit": 2}), false)
		assertIDs(t, ddoc+" by name", rows, "guest/"+actID(9), "guest/"+actID(8))
		assertJSON(t, ddoc+" by name key", rows[0].Key, `["guest/hello",1700000009000]`)
		assertIDs(t, ddoc+" by package action", q(ddoc, list("", "guest/pkg/act", nil), false), "guest/"+actID(100))
		assertIDs(t, ddoc+" by binding", q(ddoc, list("", "guest/mybind/hello", nil), false), "guest/"+actID(101))
		rows = q(ddoc, list("", "guest/hello", map[string]any{"reduce": true}), false)
		if len(rows) != 1 || rows[0].Value != float64(10) {
			t.Fatalf("%s by name count = %+v", ddoc, rows)
		}
	}

	// The other shipped activation views.
	rows = queryRows(t, db.Query(ctx, "activations", "byDate", kivik.Params(map[string]any{"limit": 1})), false)
	if len(rows) != 1 || rows[0].Key != float64(start) || rows[0].Value.([]any)[0] != "guest/"+actID(0) {
		t.Fatalf("byDate = %+v", rows)
	}
	rows = queryRows(t, db.Query(ctx, "logCleanup", "byDateWithLogs", kivik.Params(map[string]any{"endkey": start + 1000})), false)
	assertIDs(t, "byDateWithLogs", rows, "guest/"+actID(0), "guest/"+actID(1))
}

func TestSubjectsViews(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "whisk_local_subjects")
	const uuid, key = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502", "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	put(t, db, "guest", map[string]any{"subject": "guest", "namespaces": []any{map[string]any{"name": "guest", "uuid": uuid, "key": key}}})
	put(t, db, "multi", map[string]any{"subject": "multi", "namespaces": []any{
		map[string]any{"name": "ns1", "uuid": "u1", "key": "k1"},
		map[string]any{"name": "ns2", "uuid": "u2", "key": "k2"},
	}})
	put(t, db, "bad", map[string]any{"subject": "bad", "blocked": true, "namespaces": []any{map[string]any{"name": "badns", "uuid": "u3", "key": "k3"}}})
	put(t, db, "guest/limits", map[string]any{"invocationsPerMinute": 100, "concurrentInvocations": 30})
	put(t, db, "throttled/limits", map[string]any{"concurrentInvocations": 0})
	// A subject with a broken namespace list: like a throwing JS map, it
	// contributes no rows at all, not even for its good namespace.
	put(t, db, "broken", map[string]any{"subject": "broken", "namespaces": []any{map[string]any{"name": "fine", "uuid": "u9", "key": "k9"}, nil}})

	identities := func(withDocs bool, opts ...kivik.Option) []resultRow {
		t.Helper()
		return queryRows(t, db.Query(ctx, "_design/subjects.v2.0.0", "identities", opts...), withDocs)
	}
	// Authentication by uuid and key; include_docs follows the value's _id
	// to the namespace's limits doc.
	rows := identities(true, kivik.Params(map[string]any{"startkey": []any{uuid, key}, "endkey": []any{uuid, key}, "include_docs": true}))
	assertIDs(t, "identity by key", rows, "guest")
	assertJSON(t, "identity value", rows[0].Value, `{"_id":"guest/limits","namespace":"guest","uuid":"`+uuid+`","key":"`+key+`"}`)
	if doc := rows[0].Doc.(map[string]any); doc["_id"] != "guest/limits" || doc["invocationsPerMinute"] != float64(100) {
		t.Fatalf("limits doc = %v", doc)
	}
	// By namespace; no limits doc gives a null doc.
	rows = identities(true, kivik.Param("key", []any{"ns2"}), kivik.IncludeDocs(), kivik.Param("limit", 1))
	assertIDs(t, "identity by namespace", rows, "multi")
	if rows[0].Doc != nil {
		t.Fatalf("missing limits doc = %v, want null", rows[0].Doc)
	}
	if rows := identities(false, kivik.Param("key", []any{"badns"})); len(rows) != 0 {
		t.Fatalf("blocked subject rows = %+v", rows)
	}
	if rows := identities(false, kivik.Param("key", []any{"fine"})); len(rows) != 0 {
		t.Fatalf("broken subject rows = %+v", rows)
	}
	// A limits doc written after the index exists is picked up at query time.
	put(t, db, "ns2/limits", map[string]any{"firesPerMinute": 7})
	rows = identities(true, kivik.Param("key", []any{"u2", "k2"}), kivik.IncludeDocs())
	if len(rows) != 1 || rows[0].Doc.(map[string]any)["firesPerMinute"] != float64(7) {
		t.Fatalf("linked doc after write = %+v", rows)
	}
	wantStatus(t, "reduce on map-only view",
		db.Query(ctx, "subjects.v2.0.0", "identities", kivik.Param("reduce", true)).Err(), http.StatusBadRequest)

	blocked := func(opts ...kivik.Option) []resultRow {
		t.Helper()
		return queryRows(t, db.Query(ctx, "namespaceThrottlings", "blockedNamespaces", opts...), false)
	}
	rows = blocked(kivik.Param("reduce", false))
	assertIDs(t, "blocked namespaces", rows, "bad", "throttled/limits")
	assertJSON(t, "blocked keys", []any{rows[0].Key, rows[1].Key}, `["badns","throttled"]`)
	rows = blocked()
	if len(rows) != 1 || rows[0].Value != float64(2) {
		t.Fatalf("blocked _sum = %+v", rows)
	}
	rows = blocked(kivik.Param("group", true))
	if len(rows) != 2 || rows[0].Key != "badns" || rows[1].Value != float64(1) {
		t.Fatalf("blocked grouped = %+v", rows)
	}
	// Unblocking moves the namespace out of the view and into identities.
	var bad map[string]any
	if err := db.Get(ctx, "bad").ScanDoc(&bad); err != nil {
		t.Fatal(err)
	}
	delete(bad, "blocked")
	put(t, db, "bad", bad)
	assertIDs(t, "after unblock", blocked(kivik.Param("reduce", false)), "throttled/limits")
	assertIDs(t, "identity after unblock", identities(false, kivik.Param("key", []any{"badns"})), "bad")
}
