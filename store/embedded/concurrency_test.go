package embedded_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	kivik "github.com/go-kivik/kivik/v4"
)

func TestConcurrentPutsOneWinnerPerRev(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "whisks")
	rev := put(t, db, "guest/hot", map[string]any{"n": -1})

	const writers, rounds = 8, 20
	for round := range rounds {
		var wg sync.WaitGroup
		revs := make(chan string, writers)
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				r, err := db.Put(ctx, "guest/hot", map[string]any{"_rev": rev, "n": round, "writer": w})
				if err != nil {
					errs <- err
					return
				}
				revs <- r
			})
		}
		wg.Wait()
		close(revs)
		close(errs)
		if len(revs) != 1 {
			t.Fatalf("round %d: %d writers won with rev %s, want exactly 1", round, len(revs), rev)
		}
		for err := range errs {
			wantStatus(t, "losing writer", err, http.StatusConflict)
		}
		rev = <-revs
		revN(t, rev, fmt.Sprint(round+2))
	}
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	ctx := context.Background()
	c, _ := openClient(t)
	db := createDB(t, c, "activations")
	// Build the index first so writers maintain it while readers query.
	queryRows(t, db.Query(ctx, "whisks.v2.1.0", "activations", kivik.Param("reduce", false)), false)

	const writers, perWriter = 6, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				n := w*perWriter + i
				doc := activation("guest", "hello", actID(n), int64(1700000000000+n), 10, pathAnn("guest/hello"))
				var err error
				if i%5 == 0 {
					doc["_id"] = "guest/" + actID(n)
					_, err = db.BulkDocs(ctx, []any{doc})
				} else {
					_, err = db.Put(ctx, "guest/"+actID(n), doc)
				}
				if err != nil {
					t.Errorf("write %d: %v", n, err)
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 30 {
				rs := db.Query(ctx, "whisks.v2.1.0", "activations", kivik.Params(map[string]any{
					"descending": true, "startkey": []any{"guest", top}, "endkey": []any{"guest", 0}, "limit": 30, "reduce": false}))
				prev := int64(1 << 62)
				for rs.Next() {
					var key []any
					if err := rs.ScanKey(&key); err != nil {
						t.Errorf("scan: %v", err)
						return
					}
					start := int64(key[1].(float64))
					if start >= prev {
						t.Errorf("rows out of order: %d after %d", start, prev)
					}
					prev = start
				}
				if err := rs.Err(); err != nil {
					t.Errorf("query: %v", err)
				}
			}
		})
	}
	wg.Wait()
	rows := queryRows(t, db.Query(ctx, "whisks.v2.1.0", "activations"), false)
	if len(rows) != 1 || rows[0].Value != float64(writers*perWriter) {
		t.Fatalf("count = %+v, want %d", rows, writers*perWriter)
	}
}
