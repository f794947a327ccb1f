package cluster

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// TestStandaloneKilled: `brisk standalone` killed (SIGKILL) right after it
// accepted non-blocking invokes of a 1.5 s action and answered entity
// writes: restarted on the same data directory, every accepted activation
// ends with exactly one record, and every written entity is there.
func TestStandaloneKilled(t *testing.T) {
	bin := harness.Binary(t)
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	api := "http://" + addr
	args := []string{"standalone", "--listen", addr, "--data-dir", dir}
	p := start(t, "standalone", bin, args...)
	waitUp := func(p *proc) {
		eventually(t, startTimeout, func() error {
			p.running()
			st, body, err := get(api + "/ping")
			if err == nil && st != http.StatusOK {
				err = fmt.Errorf("GET /ping: %d %s", st, body)
			}
			return err
		})
	}
	waitUp(p)
	slow := `function main() { return new Promise(r => setTimeout(() => r({ done: true }), 1500)); }`
	if st, b, err := doJSON(http.MethodPut, api+"/api/v1/namespaces/_/actions/slow", harness.GuestAuth,
		map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": slow}}); err != nil || st != http.StatusOK {
		t.Fatalf("create slow: %d %s %v", st, b, err)
	}
	var accepted []string
	for range 20 {
		st, body, err := invokeRaw(api, "slow", false, map[string]any{})
		id, _ := body["activationId"].(string)
		if err != nil || st != http.StatusAccepted || id == "" {
			t.Fatalf("invoke: %d %v %v", st, body, err)
		}
		accepted = append(accepted, id)
	}
	var written []string
	for i := range 5 {
		name := fmt.Sprintf("written%d", i)
		if st, b, err := doJSON(http.MethodPut, api+"/api/v1/namespaces/_/actions/"+name, harness.GuestAuth,
			map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": slow}}); err != nil || st != http.StatusOK {
			t.Fatalf("create %s: %d %s %v", name, st, b, err)
		}
		written = append(written, name)
	}
	p.stop(syscall.SIGKILL)

	p = start(t, "standalone (restarted)", bin, args...)
	waitUp(p)
	client := newClient(t, api)
	eventually(t, 2*time.Minute, func() error {
		recs, _, err := listActivations(client, "slow")
		if err != nil {
			return err
		}
		return checkOneRecordEach(accepted, recs)
	})
	for _, name := range written {
		if _, resp, err := client.Actions.Get(name, false); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("action %s answered 200 before the crash is gone: %v", name, err)
		}
	}
}
