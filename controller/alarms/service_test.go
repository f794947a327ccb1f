package alarms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/controller/alarms"
	"github.com/brisk-serverless/brisk/loadbalancer"
	"github.com/brisk-serverless/brisk/store"
	_ "github.com/brisk-serverless/brisk/store/embedded" // the "brisk-embedded" kivik driver
)

const (
	guestUUID = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"
	guestKey  = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	guestAuth = guestUUID + ":" + guestKey
	otherAuth = "11111111-71f6-4ed5-8c54-816aa4f8c502:000zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
)

// world is a controller (without invokers: rules' actions fail to start,
// which the trigger activation records) and the alarms service on one
// embedded store.
type world struct {
	t     *testing.T
	dir   string
	store *store.Store
	h     http.Handler
	ctl   *controller.Server
	svc   *alarms.Service
}

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Driver: "brisk-embedded", DSN: filepath.Join(dir, "brisk.db")})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// start runs a controller and the alarms service on the store in dir.
func start(t *testing.T, dir string) *world {
	t.Helper()
	st := openStore(t, dir)
	ctx := context.Background()
	for _, s := range []api.SubjectDoc{
		{ID: "guest", Subject: "guest", Namespaces: []api.NamespaceKey{{Name: "guest", UUID: guestUUID, Key: guestKey}}},
		{ID: "other", Subject: "other", Namespaces: []api.NamespaceKey{{Name: "other", UUID: strings.Split(otherAuth, ":")[0], Key: strings.Split(otherAuth, ":")[1]}}},
	} {
		if err := st.EnsureSubject(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	srv := controller.New(controller.Config{Manifest: api.DefaultManifest(), Limits: api.DefaultLimits()},
		st, loadbalancer.New(loadbalancer.Config{Log: quiet()}), quiet())
	svc, err := alarms.Start(ctx, alarms.Config{Store: st, Controller: srv, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, dir: dir, store: st, h: srv.Handler(), ctl: srv, svc: svc}
	t.Cleanup(w.stop)
	return w
}

func (w *world) stop() {
	if w.svc != nil {
		w.svc.Close()
		_ = w.store.Close()
		w.svc = nil
	}
}

// do sends a request as auth and decodes a JSON answer (nil for none).
func (w *world) do(method, path, auth string, body any) (int, map[string]any) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	u, p, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(u, p)
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// feed invokes a feed action blocking as guest and returns the result.
func (w *world) feed(feed string, params map[string]any) (int, map[string]any) {
	w.t.Helper()
	status, rec := w.do(http.MethodPost, "/api/v1/namespaces/whisk.system/actions/alarms/"+feed+"?blocking=true", guestAuth, params)
	resp, _ := rec["response"].(map[string]any)
	result, _ := resp["result"].(map[string]any)
	if result == nil {
		w.t.Fatalf("invoke of feed %s: %d %v", feed, status, rec)
	}
	return status, result
}

func (w *world) lifecycle(feed, event, trigger string, extra map[string]any) (int, map[string]any) {
	w.t.Helper()
	p := map[string]any{"lifecycleEvent": event, "triggerName": "/_/" + trigger, "authKey": guestAuth}
	for k, v := range extra {
		p[k] = v
	}
	return w.feed(feed, p)
}

// triggerWithRule creates trigger name with a rule to an action.
func (w *world) triggerWithRule(name string) {
	w.t.Helper()
	ns := "/api/v1/namespaces/_/"
	if s, b := w.do(http.MethodPut, ns+"actions/"+name+"-action", guestAuth, map[string]any{"exec": map[string]any{"kind": "nodejs:default", "code": "function main(p) { return p }"}}); s != 200 {
		w.t.Fatalf("create action: %d %v", s, b)
	}
	if s, b := w.do(http.MethodPut, ns+"triggers/"+name, guestAuth, map[string]any{"annotations": []any{map[string]any{"key": "feed", "value": "/whisk.system/alarms/alarm"}}}); s != 200 {
		w.t.Fatalf("create trigger: %d %v", s, b)
	}
	if s, b := w.do(http.MethodPut, ns+"rules/"+name+"-rule", guestAuth, map[string]any{"trigger": "/_/" + name, "action": "/_/" + name + "-action"}); s != 200 {
		w.t.Fatalf("create rule: %d %v", s, b)
	}
}

// fires lists the trigger's activations that started at or after since.
func (w *world) fires(trigger string, since time.Time) []*api.Activation {
	w.t.Helper()
	acts, err := w.store.ListActivations(context.Background(), "guest", store.ActivationQuery{Name: trigger, Since: since.UnixMilli(), Limit: 100, Docs: true})
	if err != nil {
		w.t.Fatal(err)
	}
	return acts
}

// waitFires waits until the trigger has at least n activations since since.
func (w *world) waitFires(trigger string, since time.Time, n int) []*api.Activation {
	w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if acts := w.fires(trigger, since); len(acts) >= n {
			return acts
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatalf("trigger %s: fewer than %d fires since %v", trigger, n, since)
	return nil
}

// waitRead waits until READ of the trigger's schedule satisfies ok.
func (w *world) waitRead(feed, trigger string, ok func(map[string]any) bool) map[string]any {
	w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, res := w.lifecycle(feed, "READ", trigger, nil)
		if ok(res) || time.Now().After(deadline) {
			return res
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func statusOf(res map[string]any) map[string]any { s, _ := res["status"].(map[string]any); return s }

func TestFeedActionsInstalled(t *testing.T) {
	w := start(t, t.TempDir())
	status, pkg := w.do(http.MethodGet, "/api/v1/namespaces/whisk.system/packages/alarms", guestAuth, nil)
	if status != http.StatusOK || pkg["publish"] != true {
		t.Fatalf("GET /whisk.system/alarms as guest = %d %v", status, pkg)
	}
	feeds, _ := pkg["feeds"].([]any)
	if len(feeds) != 3 {
		t.Errorf("feeds = %v, want alarm, interval, once", pkg["feeds"])
	}
}

func TestFeedLifecycleOnce(t *testing.T) {
	w := start(t, t.TempDir())
	w.triggerWithRule("once-t")
	since := time.Now()
	date := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	status, res := w.lifecycle("once", "CREATE", "once-t", map[string]any{"date": date, "trigger_payload": map[string]any{"k": "v"}})
	if status != http.StatusOK || res["status"] != "success" {
		t.Fatalf("CREATE = %d %v", status, res)
	}
	_, res = w.lifecycle("once", "READ", "once-t", nil)
	config, _ := res["config"].(map[string]any)
	if config["date"] != date || config["name"] != "once-t" || config["namespace"] != "guest" || statusOf(res)["active"] != true {
		t.Errorf("READ = %v", res)
	}

	acts := w.waitFires("once-t", since, 1)
	var payload map[string]any
	_ = json.Unmarshal(acts[0].Response.Result, &payload)
	if payload["k"] != "v" || len(acts[0].Logs) != 1 || !strings.Contains(acts[0].Logs[0], `"rule":"guest/once-t-rule"`) {
		t.Errorf("trigger activation = result %s logs %q", acts[0].Response.Result, acts[0].Logs)
	}
	res = w.waitRead("once", "once-t", func(r map[string]any) bool { return statusOf(r)["active"] == false })
	reason, _ := statusOf(res)["reason"].(map[string]any)
	if reason["message"] != "Automatically disabled after firing once" || reason["kind"] != "AUTO" {
		t.Errorf("after firing once: %v", res)
	}

	_, res = w.lifecycle("once", "DELETE", "once-t", nil)
	if res["status"] != "success" {
		t.Errorf("DELETE = %v", res)
	}
	_, res = w.lifecycle("once", "READ", "once-t", nil)
	if inner, _ := res["error"].(map[string]any); inner["error"] != "could not find trigger /guest/once-t in the database" {
		t.Errorf("READ after DELETE = %v", res)
	}
}

func TestFeedLifecycleErrors(t *testing.T) {
	w := start(t, t.TempDir())
	w.triggerWithRule("err-t")
	for _, tc := range []struct {
		params map[string]any
		want   any
	}{
		{map[string]any{"lifecycleEvent": "BOGUS", "triggerName": "/_/err-t", "authKey": guestAuth}, "unsupported lifecycleEvent"},
		{map[string]any{"lifecycleEvent": "CREATE", "authKey": guestAuth, "cron": "* * * * *"},
			map[string]any{"error": "no trigger name parameter was provided"}},
		{map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/_/err-t", "authKey": guestAuth, "cron": "61 * * * *"},
			map[string]any{"error": "cron pattern '61 * * * *' is not valid"}},
		{map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/_/err-t", "authKey": otherAuth, "cron": "* * * * *"},
			map[string]any{"error": "Trigger authentication request failed."}},
		{map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/_/missing", "authKey": guestAuth, "cron": "* * * * *"},
			map[string]any{"error": "Trigger authentication request failed."}},
		{map[string]any{"lifecycleEvent": "READ", "triggerName": "/_/err-t", "authKey": guestAuth},
			map[string]any{"error": "could not find trigger /guest/err-t in the database"}},
	} {
		status, res := w.feed("alarm", tc.params)
		if status != http.StatusBadGateway {
			t.Errorf("%v: HTTP %d, want 502 (application error)", tc.params, status)
		}
		b1, _ := json.Marshal(res["error"])
		b2, _ := json.Marshal(tc.want)
		if string(b1) != string(b2) {
			t.Errorf("%v: error = %s, want %s", tc.params, b1, b2)
		}
	}
}

func TestAlarmSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	w := start(t, dir)
	w.triggerWithRule("cron-t")
	since := time.Now()
	if _, res := w.lifecycle("alarm", "CREATE", "cron-t", map[string]any{"cron": "* * * * * *"}); res["status"] != "success" {
		t.Fatalf("CREATE = %v", res)
	}
	w.waitFires("cron-t", since, 1)
	w.stop()

	restarted := time.Now()
	w = start(t, dir)
	acts := w.waitFires("cron-t", restarted, 2)
	for _, a := range acts {
		if a.Start < restarted.UnixMilli() {
			t.Errorf("fire at %d is before the restart", a.Start)
		}
	}

	// PAUSE stops the fires; UNPAUSE resumes them.
	if _, res := w.lifecycle("alarm", "PAUSE", "cron-t", nil); res["status"] != "success" {
		t.Fatalf("PAUSE = %v", res)
	}
	_, res := w.lifecycle("alarm", "READ", "cron-t", nil)
	if reason, _ := statusOf(res)["reason"].(map[string]any); statusOf(res)["active"] != false || reason["kind"] != "USER" {
		t.Errorf("READ after PAUSE = %v", res)
	}
	time.Sleep(1200 * time.Millisecond) // a fire in progress at PAUSE may still land
	paused := time.Now()
	time.Sleep(2 * time.Second) // a negative observation: no fire within 2 s (the cron fires every second)
	if n := len(w.fires("cron-t", paused)); n != 0 {
		t.Errorf("%d fires while paused", n)
	}
	if _, res := w.lifecycle("alarm", "UNPAUSE", "cron-t", nil); res["status"] != "success" {
		t.Fatalf("UNPAUSE = %v", res)
	}
	w.waitFires("cron-t", time.Now(), 1)
}

func TestAlarmDisabledWhenTriggerGone(t *testing.T) {
	w := start(t, t.TempDir())
	w.triggerWithRule("gone-t")
	if _, res := w.lifecycle("alarm", "CREATE", "gone-t", map[string]any{"cron": "* * * * * *"}); res["status"] != "success" {
		t.Fatalf("CREATE = %v", res)
	}
	if s, _ := w.do(http.MethodDelete, "/api/v1/namespaces/_/triggers/gone-t", guestAuth, nil); s != http.StatusOK {
		t.Fatalf("delete trigger: %d", s)
	}
	// READ needs the trigger; the schedule document tells the outcome.
	deadline := time.Now().Add(10 * time.Second)
	for {
		raw, err := w.store.GetEntity(context.Background(), "alarms:guest/gone-t")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Status struct {
				Active bool
				Reason struct {
					StatusCode int
					Message    string
				}
			}
		}
		_ = json.Unmarshal(raw, &doc)
		if !doc.Status.Active {
			if doc.Status.Reason.StatusCode != 404 || doc.Status.Reason.Message != "Trigger automatically disabled: Received a 404 status code when firing the trigger" {
				t.Errorf("disabled with %+v", doc.Status.Reason)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("schedule of a deleted trigger still active: %s", raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOnceDeleteAfterFireRules(t *testing.T) {
	w := start(t, t.TempDir())
	w.triggerWithRule("dafr-t")
	date := time.Now().Add(time.Second).UnixMilli()
	if _, res := w.lifecycle("once", "CREATE", "dafr-t", map[string]any{"date": date, "deleteAfterFire": "rules"}); res["status"] != "success" {
		t.Fatalf("CREATE = %v", res)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		s1, _ := w.do(http.MethodGet, "/api/v1/namespaces/_/triggers/dafr-t", guestAuth, nil)
		s2, _ := w.do(http.MethodGet, "/api/v1/namespaces/_/rules/dafr-t-rule", guestAuth, nil)
		_, err := w.store.GetEntity(context.Background(), "alarms:guest/dafr-t")
		if s1 == http.StatusNotFound && s2 == http.StatusNotFound && err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after firing with deleteAfterFire=rules: trigger %d, rule %d, schedule err %v", s1, s2, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s, _ := w.do(http.MethodGet, "/api/v1/namespaces/_/actions/dafr-t-action", guestAuth, nil); s != http.StatusOK {
		t.Errorf("the rule's action was deleted too: %d", s)
	}
}
