package store_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/store"
	_ "github.com/brisk-serverless/brisk/store/embedded" // the "brisk-embedded" kivik driver
	"github.com/brisk-serverless/brisk/store/storetest"
)

// TestConformanceEmbedded runs the store conformance suite on the embedded
// bbolt driver.
func TestConformanceEmbedded(t *testing.T) {
	storetest.Run(t, storetest.Driver{Open: func(t testing.TB) *store.Store {
		st, err := store.Open(context.Background(), store.Config{Driver: "brisk-embedded", DSN: filepath.Join(t.TempDir(), "brisk.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}})
}

// TestConformanceCouchDB runs the store conformance suite on kivik's
// couchdb driver against pouchdb-server (or $BRISK_COUCHDB_URL).
func TestConformanceCouchDB(t *testing.T) {
	url := storetest.CouchURL(t)
	var mu sync.Mutex
	prefixes := map[*store.Store]string{}
	storetest.Run(t, storetest.Driver{
		Open: func(t testing.TB) *store.Store {
			st, prefix := storetest.OpenCouch(t, url)
			mu.Lock()
			prefixes[st] = prefix
			mu.Unlock()
			return st
		},
		PutAttachment: func(t testing.TB, st *store.Store, docID, rev, name, contentType string, body []byte) {
			mu.Lock()
			prefix := prefixes[st]
			mu.Unlock()
			c := storetest.Client(t, url)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := c.DB(prefix+"whisks").PutAttachment(ctx, docID, &kivik.Attachment{
				Filename: name, ContentType: contentType, Content: nopCloser{bytes.NewReader(body)}}, kivik.Rev(rev))
			if err != nil {
				t.Fatalf("put attachment %s of %s: %v", name, docID, err)
			}
		},
	})
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// TestCouchDBUnavailable: with nothing listening, every call fails fast with
// ErrUnavailable, and Open says so.
func TestCouchDBUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	_ = l.Close()
	cfg, err := store.CouchConfig(url, "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = store.Open(context.Background(), cfg)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open with the database down: err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Open took %s to fail", d)
	}
}

// TestCouchDBOutage: a store opened while the database was up answers
// ErrUnavailable while it is down (reads, views, writes), and works again
// once it is back, without reopening.
func TestCouchDBOutage(t *testing.T) {
	pouch := storetest.StartPouchDB(t, storetest.PouchOptions{Dir: t.TempDir()})
	st, _ := storetest.OpenCouch(t, pouch.URL)
	ctx := context.Background()
	code := "function main() {}"
	doc := map[string]any{"entityType": "action", "namespace": "guest", "name": "a", "version": "0.0.1",
		"exec": map[string]any{"kind": "nodejs:20", "code": code}, "parameters": []any{}, "annotations": []any{},
		"limits": map[string]any{"timeout": 1000, "memory": 256, "logs": 10, "concurrency": 1}, "updated": 1}
	if _, err := st.PutEntity(ctx, "guest/a", "", doc); err != nil {
		t.Fatal(err)
	}

	pouch.Stop()
	calls := map[string]func() error{
		"GetEntity":       func() error { _, err := st.GetEntity(ctx, "guest/a"); return err },
		"ListActions":     func() error { _, err := st.ListActions(ctx, "guest", store.ListQuery{Limit: 1}); return err },
		"PutEntity":       func() error { _, err := st.PutEntity(ctx, "guest/b", "", doc); return err },
		"GetIdentity":     func() error { _, err := st.GetIdentity(ctx, "u", "k"); return err },
		"ListActivations": func() error { _, err := st.ListActivations(ctx, "guest", store.ActivationQuery{Limit: 1}); return err },
		"PutActivations":  func() error { return st.PutActivations(ctx, nil) },
	}
	for name, call := range calls {
		if name == "PutActivations" {
			continue // an empty batch makes no request
		}
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the database down: err = %v, want ErrUnavailable", name, err)
		}
	}

	pouch.Start()
	for name, call := range calls {
		if err := call(); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after the database returned: %v", name, err)
		}
	}
	if raw, err := st.GetEntity(ctx, "guest/a"); err != nil || !bytes.Contains(raw, []byte(code)) {
		t.Errorf("document written before the outage: %s, %v", raw, err)
	}
}
