package invoker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
	_ "github.com/brisk-serverless/brisk/store/embedded" // the "brisk-embedded" kivik driver
)

// outageStore is a real embedded store behind a switch that makes every
// write fail as an unreachable database does.
type outageStore struct {
	*store.Store
	down     atomic.Bool
	attempts atomic.Int64
}

func (s *outageStore) PutActivations(ctx context.Context, acts []*api.Activation) error {
	s.attempts.Add(1)
	if s.down.Load() {
		return fmt.Errorf("write %d activations: %w", len(acts), store.ErrUnavailable)
	}
	return s.Store.PutActivations(ctx, acts)
}

func newOutageStore(t *testing.T) *outageStore {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Driver: "brisk-embedded", DSN: filepath.Join(t.TempDir(), "brisk.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &outageStore{Store: st}
}

func testRecord(i int) *api.Activation {
	return &api.Activation{Namespace: "guest", Name: "a", Subject: "guest", ActivationID: api.NewActivationID(),
		Version: "0.0.1", Start: int64(1000 + i), End: int64(1001 + i), Logs: []string{}, Annotations: api.KeyValues{}}
}

// TestRecordWriterKeepsRecordsThroughOutage: records queued while the
// database is unavailable are retried past the bounded retry count for
// other errors, and all written once it returns.
func TestRecordWriterKeepsRecordsThroughOutage(t *testing.T) {
	st := newOutageStore(t)
	st.down.Store(true)
	w := newRecordWriter(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.start()
	var recs []*api.Activation
	var stored atomic.Int32
	for i := range 10 {
		recs = append(recs, testRecord(i))
		w.add(recs[i], func() { stored.Add(1) })
	}
	// Wait until the writer has failed more often than it would for a
	// non-transient error.
	deadline := time.Now().Add(2 * time.Minute)
	for st.attempts.Load() <= recordMaxRetries {
		if time.Now().After(deadline) {
			t.Fatalf("only %d write attempts while the database was down", st.attempts.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := stored.Load(); n != 0 {
		t.Fatalf("%d records reported stored while the database was down", n)
	}
	st.down.Store(false)
	for _, r := range recs {
		for {
			_, err := st.GetActivation(context.Background(), "guest", r.ActivationID)
			if err == nil {
				break
			}
			if !errors.Is(err, store.ErrNotFound) || time.Now().After(deadline) {
				t.Fatalf("record %s after the database returned: %v", r.ActivationID, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	w.close() // waits for the writer
	if n := stored.Load(); n != 10 {
		t.Fatalf("%d of 10 records reported stored", n)
	}
}

// TestRecordWriterCloseIsBounded: closing while the database is down gives
// up after recordCloseGrace (logging the ids) instead of hanging shutdown.
func TestRecordWriterCloseIsBounded(t *testing.T) {
	st := newOutageStore(t)
	st.down.Store(true)
	logs := &lockedBuffer{}
	w := newRecordWriter(st, slog.New(slog.NewTextHandler(logs, nil)))
	w.start()
	r := testRecord(1)
	w.add(r, nil)
	w.add(testRecord(2), nil)
	closed := make(chan struct{})
	go func() { w.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(recordCloseGrace + time.Minute):
		t.Fatal("close did not return while the database was down")
	}
	if out := logs.String(); !strings.Contains(out, "activation records lost") || !strings.Contains(out, r.ActivationID) {
		t.Errorf("records given up at close are not logged with their ids:\n%s", out)
	}
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
