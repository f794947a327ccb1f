package store_test

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/internal/metrics"
	"github.com/brisk-serverless/brisk/store"
	_ "github.com/brisk-serverless/brisk/store/embedded"
)

// TestStoreMetrics: every call's time is recorded under its method's name.
func TestStoreMetrics(t *testing.T) {
	m := metrics.New()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Driver: "brisk-embedded", DSN: filepath.Join(t.TempDir(), "brisk.db"), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.GetAction(ctx, "guest/nope"); err == nil {
		t.Fatal("GetAction of a missing action succeeded")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	if want := `brisk_store_request_duration_seconds_count{operation="GetEntity"} 1`; !strings.Contains(string(b), want) {
		t.Errorf("missing %s in\n%s", want, b)
	}
}
