package embedded_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
)

// BenchmarkActivationList measures the upstream activation-list queries on a
// db of 100k activation records (90k in namespace guest over 10 actions, 10k
// in another namespace):
//
//	go test -run '^$' -bench ActivationList -benchtime 2s ./store/embedded/
func BenchmarkActivationList(b *testing.B) {
	const total, batch = 100_000, 1000
	ctx := context.Background()
	c, _ := openClient(b)
	db := createDB(b, c, "whisk_local_activations")

	start := time.Now()
	const t0 = int64(1700000000000)
	for i := 0; i < total; i += batch {
		docs := make([]any, 0, batch)
		for j := i; j < i+batch; j++ {
			ns, name := "guest", fmt.Sprintf("action%d", j%10)
			if j%10 == 9 {
				ns = "other"
			}
			doc := activation(ns, name, actID(j), t0+int64(j)*10, 25, pathAnn(ns+"/"+name))
			doc["_id"] = ns + "/" + actID(j)
			docs = append(docs, doc)
		}
		if _, err := db.BulkDocs(ctx, docs); err != nil {
			b.Fatal(err)
		}
	}
	loaded := time.Since(start)
	start = time.Now()
	// First queries build the two activation indexes.
	queryRows(b, db.Query(ctx, "whisks.v2.1.0", "activations", kivik.Param("limit", 1), kivik.Param("reduce", false)), false)
	queryRows(b, db.Query(ctx, "whisks-filters.v2.1.1", "activations", kivik.Param("limit", 1), kivik.Param("reduce", false)), false)
	b.Logf("loaded %d activations in %s (bulk batches of %d); built both activation indexes in %s",
		total, loaded.Round(time.Millisecond), batch, time.Since(start).Round(time.Millisecond))

	newest := func(key string, extra map[string]any) kivik.Option {
		p := map[string]any{"descending": true, "startkey": []any{key, top}, "endkey": []any{key, 0}, "limit": 30, "reduce": false}
		for k, v := range extra {
			if v == nil {
				delete(p, k)
				continue
			}
			p[k] = v
		}
		return kivik.Params(p)
	}
	run := func(name, ddoc string, opt kivik.Option, want int, docs bool) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				rows := queryRows(b, db.Query(ctx, ddoc, "activations", opt), docs)
				if len(rows) != want {
					b.Fatalf("%d rows, want %d", len(rows), want)
				}
			}
		})
	}
	run("newest30", "whisks.v2.1.0", newest("guest", nil), 30, false)
	run("newest30_include_docs", "whisks.v2.1.0", newest("guest", map[string]any{"include_docs": true}), 30, true)
	run("newest30_skip1000", "whisks.v2.1.0", newest("guest", map[string]any{"skip": 1000}), 30, false)
	run("newest30_by_name", "whisks-filters.v2.1.1", newest("guest/action3", nil), 30, false)
	run("count_namespace_90k", "whisks.v2.1.0", newest("guest", map[string]any{"reduce": true, "limit": nil}), 1, false)
	run("newest30_other_ns", "whisks.v2.1.0", newest("other", nil), 30, false)

	b.Run("put_activation_indexed", func(b *testing.B) {
		i := total
		for b.Loop() {
			doc := activation("guest", "action0", actID(i), t0+int64(i)*10, 25, pathAnn("guest/action0"))
			if _, err := db.Put(ctx, "guest/"+actID(i), doc); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
