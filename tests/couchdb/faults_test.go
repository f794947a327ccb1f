package couchdb

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/store"
	"github.com/brisk-serverless/brisk/store/storetest"
)

// outageBound bounds how long the tests wait for Brisk to notice that the
// database is back, and for a retried activation record to appear.
const outageBound = 90 * time.Second

// errorBody is upstream's error shape.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// expectUnavailable checks that a call answers 503 with the store's message
// in upstream's error shape.
func expectUnavailable(t *testing.T, what string, status int, body []byte) {
	t.Helper()
	var e errorBody
	if status != http.StatusServiceUnavailable || json.Unmarshal(body, &e) != nil || e.Error != store.MsgUnavailable || e.Code == "" {
		t.Errorf("%s with the database down: %d %s; want 503 {%q, code}", what, status, body, store.MsgUnavailable)
	}
}

// TestDatabaseOutage stops the database under a running Brisk: the API
// answers 503 with a clear message and neither hangs nor dies; an
// activation accepted meanwhile is recorded once the database is back; and
// everything works again without a restart. Then the database hangs
// (stopped processes, sockets open): requests still end, with 503.
func TestDatabaseOutage(t *testing.T) {
	pouch := storetest.StartPouchDB(t, storetest.PouchOptions{Dir: t.TempDir()})
	prefix := storetest.UniquePrefix()
	srv := startBrisk(t, pouch.URL, prefix)
	a := api{t: t, host: srv.APIHost, auth: srv.Auth}

	code := "function main(p) { console.log('run', p.n); return {n: p.n}; }"
	a.json(http.MethodPut, "actions/counter", map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": code}}, nil)
	var res map[string]any
	a.json(http.MethodPost, "actions/counter?blocking=true&result=true", map[string]any{"n": 1}, &res)
	if res["n"] != float64(1) {
		t.Fatalf("invoke before the outage = %v", res)
	}

	pouch.Stop()
	st, b := a.call(http.MethodGet, "actions", nil)
	expectUnavailable(t, "list actions", st, b)
	st, b = a.call(http.MethodPut, "actions/other", map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": code}})
	expectUnavailable(t, "create action", st, b)
	st, b = a.call(http.MethodGet, "activations?limit=5", nil)
	expectUnavailable(t, "list activations", st, b)

	// An invoke either is refused (503) or accepted; an accepted one must
	// not lose its record.
	var accepted []string
	for i := 2; i <= 3; i++ {
		st, b = a.call(http.MethodPost, "actions/counter", map[string]any{"n": i})
		switch st {
		case http.StatusAccepted:
			var r struct{ ActivationID string }
			if err := json.Unmarshal(b, &r); err != nil || r.ActivationID == "" {
				t.Fatalf("202 without an activation id: %s", b)
			}
			accepted = append(accepted, r.ActivationID)
		case http.StatusServiceUnavailable:
			expectUnavailable(t, "invoke", st, b)
		default:
			t.Errorf("invoke with the database down: %d %s; want 202 or 503", st, b)
		}
	}
	t.Logf("activations accepted while the database was down: %d", len(accepted))
	if resp, err := httpClient.Get(srv.APIHost + "/ping"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /ping during the outage: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	pouch.Start()
	eventually(t, outageBound, func() error {
		if st, b := a.call(http.MethodGet, "actions", nil); st != http.StatusOK {
			return errorf("list actions after the database returned: %d %s", st, b)
		}
		return nil
	})
	for _, id := range accepted {
		eventually(t, outageBound, func() error {
			st, b := a.call(http.MethodGet, "activations/"+id, nil)
			if st != http.StatusOK {
				return errorf("activation %s accepted during the outage: %d %s", id, st, b)
			}
			return nil
		})
	}
	a.json(http.MethodPut, "actions/other", map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": code}}, nil)
	a.json(http.MethodPost, "actions/other?blocking=true&result=true", map[string]any{"n": 4}, &res)
	if res["n"] != float64(4) {
		t.Errorf("invoke after the outage = %v", res)
	}

	// A hung database: every store call has a deadline, so requests end
	// with 503 instead of waiting for it.
	pouch.Pause()
	done := make(chan struct{})
	go func() {
		defer close(done)
		st, b := a.call(http.MethodGet, "actions/other?code=false", nil)
		if st == http.StatusOK {
			return // served from the controller's entity cache: fine
		}
		expectUnavailable(t, "get action (hung database)", st, b)
	}()
	st, b = a.call(http.MethodGet, "activations?limit=1", nil)
	expectUnavailable(t, "list activations (hung database)", st, b)
	<-done
	pouch.Resume()
	eventually(t, outageBound, func() error {
		if st, b := a.call(http.MethodGet, "activations?limit=1", nil); st != http.StatusOK {
			return errorf("list activations after the database resumed: %d %s", st, b)
		}
		return nil
	})
}
