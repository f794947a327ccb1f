package wskcompat

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// TestThrottles drives upstream's per-namespace throttles through the API:
// invocationsPerMinute and concurrentInvocations, with their 429 messages.
func TestThrottles(t *testing.T) {
	harness.RequireOwnServer(t, "it sets its own throttles through the environment")
	if s := time.Now().Second(); s >= 45 { // keep the counts in one wall-clock minute
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	t.Setenv("BRISK_INVOCATIONS_PER_MINUTE", "4")
	t.Setenv("BRISK_CONCURRENT_INVOCATIONS", "1")
	srv := harness.Start(t)
	call := func(method, path string, body any) rawResponse {
		b, _ := json.Marshal(body)
		return rawRequest(t, srv, method, path, srv.Auth, bytes.NewReader(b))
	}
	code := `function main(p) { return new Promise(r => setTimeout(() => r({}), p.ms || 0)); }`
	if r := call(http.MethodPut, "/api/v1/namespaces/_/actions/sleepy",
		map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": code}}); r.Status != http.StatusOK {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	const invoke = "/api/v1/namespaces/_/actions/sleepy?blocking=true"

	// 1: a non-blocking invoke that stays in flight for 3 s.
	first := call(http.MethodPost, "/api/v1/namespaces/_/actions/sleepy", map[string]any{"ms": 3000})
	if first.Status != http.StatusAccepted {
		t.Fatalf("first invoke: %d %s", first.Status, first.Body)
	}
	var accepted struct{ ActivationID string }
	_ = json.Unmarshal(first.Body, &accepted)
	// 2: the namespace already has one activation in flight.
	expectError(t, call(http.MethodPost, invoke, map[string]any{}), http.StatusTooManyRequests, exact,
		"Too many concurrent requests in flight (count: 1, allowed: 1).")
	// 3: once the first completed (its record is there; reads are not
	// throttled), the next one runs: 3 of 4 this minute.
	var r rawResponse
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if r = rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/activations/"+accepted.ActivationID, srv.Auth, nil); r.Status == http.StatusOK {
			break
		}
	}
	if r.Status != http.StatusOK {
		t.Fatalf("first activation never recorded: %d %s", r.Status, r.Body)
	}
	if r = call(http.MethodPost, invoke, map[string]any{}); r.Status != http.StatusOK {
		t.Fatalf("after the first completed: %d %s", r.Status, r.Body)
	}
	// Past 4 invocations in the minute: rejected. (A blocking invoke frees its
	// slot only when the invoker's completion arrives, just after the result,
	// so a back-to-back call may still meet the concurrency limit: retry those.)
	for range 50 {
		r = call(http.MethodPost, invoke, map[string]any{})
		if r.Status != http.StatusOK && !bytes.Contains(r.Body, []byte("concurrent")) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	e := expectError(t, r, http.StatusTooManyRequests, prefix, "Too many requests in the last minute (count: ")
	if !regexp.MustCompile(`^Too many requests in the last minute \(count: \d+, allowed: 4\)\.$`).MatchString(e.Error) {
		t.Errorf("rate limit message %q", e.Error)
	}
}
