package controller_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/api"
)

// ruleLinks reads the rules map of a trigger from the store.
func ruleLinks(t *testing.T, e *env, trigger string) map[string]api.ReducedRule {
	t.Helper()
	raw, err := e.store.GetEntity(context.Background(), "guest/"+trigger)
	if err != nil {
		t.Fatal(err)
	}
	var doc api.TriggerDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Rules
}

func TestRuleLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.putAction(actionsPath+"ra", nil)
	e.putAction(actionsPath+"rb", nil)
	e.guest(http.MethodPut, triggersPath+"rt1", nil)
	e.guest(http.MethodPut, triggersPath+"rt2", nil)

	r := e.guest(http.MethodPut, rulesPath+"r", map[string]any{"trigger": "/_/rt1", "action": "/guest/ra"})
	wantStatus(t, r, http.StatusOK)
	got := r.object(t)
	want := map[string]any{"namespace": "guest", "name": "r", "version": "0.0.1", "publish": false, "annotations": []any{},
		"status": "active", "trigger": map[string]any{"path": "guest", "name": "rt1"},
		"action": map[string]any{"path": "guest", "name": "ra"}, "updated": got["updated"]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("created = %v, want %v", got, want)
	}
	if l := ruleLinks(t, e, "rt1"); !reflect.DeepEqual(l, map[string]api.ReducedRule{"guest/r": {Action: api.EntityRef{Path: "guest", Name: "ra"}, Status: "active"}}) {
		t.Errorf("trigger rules = %v", l)
	}
	wantError(t, e.guest(http.MethodPut, rulesPath+"r", map[string]any{"trigger": "/_/rt1", "action": "/_/ra"}), http.StatusConflict, api.MsgExists)

	// Disable, same again, enable: bare 200 "OK", status read from the trigger.
	for _, st := range []string{"inactive", "inactive", "active", "inactive"} {
		r = e.guest(http.MethodPost, rulesPath+"r", map[string]any{"status": st, "trigger": nil, "action": nil})
		if r.status != http.StatusOK || string(r.body) != "OK" {
			t.Fatalf("POST status %s = %d %q, want 200 OK", st, r.status, r.body)
		}
		if g := e.guest(http.MethodGet, rulesPath+"r", nil).object(t); g["status"] != st {
			t.Errorf("after POST %s, GET status = %v", st, g["status"])
		}
	}

	// Update: move to rt2 and rb, keeping the (inactive) status.
	r = e.guest(http.MethodPut, rulesPath+"r?overwrite=true", map[string]any{"trigger": "/_/rt2", "action": "/_/rb"})
	wantStatus(t, r, http.StatusOK)
	got = r.object(t)
	if got["status"] != "inactive" || got["version"] != "0.0.2" || !reflect.DeepEqual(got["trigger"], map[string]any{"path": "guest", "name": "rt2"}) {
		t.Errorf("updated = %s", r.body)
	}
	if l := ruleLinks(t, e, "rt1"); len(l) != 0 {
		t.Errorf("old trigger still links the rule: %v", l)
	}
	if l := ruleLinks(t, e, "rt2"); l["guest/r"].Status != "inactive" || l["guest/r"].Action.Name != "rb" {
		t.Errorf("new trigger rules = %v", l)
	}
	if raw, _ := e.store.GetEntity(context.Background(), "guest/rt1"); !strings.Contains(string(raw), `"rules":{}`) {
		t.Errorf("old trigger should keep an empty rules map, as upstream: %s", raw)
	}

	// List: stored rules without status.
	e.guest(http.MethodPut, rulesPath+"r2", map[string]any{"trigger": "/_/rt1", "action": "/_/ra"})
	r = e.guest(http.MethodGet, rulesPath, nil)
	wantStatus(t, r, http.StatusOK)
	var list []map[string]any
	r.json(t, &list)
	if len(list) != 2 || list[0]["name"] != "r2" || list[1]["name"] != "r" {
		t.Fatalf("list = %s", r.body)
	}
	if _, ok := list[0]["status"]; ok {
		t.Errorf("list carries status: %s", r.body)
	}
	if r = e.guest(http.MethodGet, rulesPath+"?count=true", nil); strings.TrimSpace(string(r.body)) != `{"rules":2}` {
		t.Errorf("count = %s", r.body)
	}

	// Delete in any state: the rule says inactive and leaves its trigger.
	r = e.guest(http.MethodDelete, rulesPath+"r2", nil)
	wantStatus(t, r, http.StatusOK)
	if r.object(t)["status"] != "inactive" {
		t.Errorf("DELETE = %s, want status inactive", r.body)
	}
	if l := ruleLinks(t, e, "rt1"); len(l) != 0 {
		t.Errorf("deleted rule still linked: %v", l)
	}

	// A rule whose trigger is gone: inactive; disabling is a no-op,
	// enabling is 404.
	wantStatus(t, e.guest(http.MethodDelete, triggersPath+"rt2", nil), http.StatusOK)
	if g := e.guest(http.MethodGet, rulesPath+"r", nil).object(t); g["status"] != "inactive" {
		t.Errorf("rule without trigger: status %v", g["status"])
	}
	wantStatus(t, e.guest(http.MethodPost, rulesPath+"r", map[string]any{"status": "inactive"}), http.StatusOK)
	wantError(t, e.guest(http.MethodPost, rulesPath+"r", map[string]any{"status": "active"}), http.StatusNotFound, api.MsgRuleTriggerRequired)
	wantStatus(t, e.guest(http.MethodDelete, rulesPath+"r", nil), http.StatusOK)
	wantError(t, e.guest(http.MethodGet, rulesPath+"r", nil), http.StatusNotFound, api.MsgNotFound)
}

func TestRuleBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.putAction(actionsPath+"ba", nil)
	e.guest(http.MethodPut, triggersPath+"bt", nil)
	malformed := api.MsgMalformedPrefix + "requirement failed: " + api.MsgMalformedFQN
	wantError(t, e.guest(http.MethodPut, rulesPath+"x", map[string]any{"trigger": "bt", "action": "/_/ba"}), http.StatusBadRequest, malformed)
	wantError(t, e.guest(http.MethodPut, rulesPath+"x", map[string]any{"trigger": "/_/bt", "action": "ba"}), http.StatusBadRequest, malformed)
	wantError(t, e.guest(http.MethodPut, rulesPath+"x", map[string]any{"trigger": "/_/bt"}), http.StatusBadRequest, api.MsgRuleIncomplete)
	wantError(t, e.guest(http.MethodPut, rulesPath+"x", map[string]any{"trigger": "/_/nope", "action": "/_/ba"}), http.StatusBadRequest,
		"trigger /guest/nope does not exist")
	wantError(t, e.guest(http.MethodPut, rulesPath+"x", map[string]any{"trigger": "/_/bt", "action": "/_/nope"}), http.StatusBadRequest,
		"action /guest/nope does not exist")
	wantError(t, e.guest(http.MethodPut, rulesPath+"x", map[string]any{"trigger": "/whisk.system/t", "action": "/other/a"}), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'other/a, whisk.system/t'.")
	for _, body := range []any{map[string]any{"status": "xxx"}, map[string]any{}, "[]"} {
		r := e.guest(http.MethodPost, rulesPath+"x", body)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "The request content was malformed") {
			t.Errorf("POST %v = %d %s, want 400 malformed", body, r.status, r.body)
		}
	}
	wantError(t, e.guest(http.MethodPost, rulesPath+"x", map[string]any{"status": "xxx"}), http.StatusBadRequest,
		api.MsgMalformedPrefix+"requirement failed: xxx is not a recognized rule state")
	wantError(t, e.guest(http.MethodPost, rulesPath+"x", map[string]any{"status": "active"}), http.StatusNotFound, api.MsgNotFound)
	wantError(t, e.guest(http.MethodGet, rulesPath+"bt", nil), http.StatusConflict, api.MsgWrongCollection)
	wantError(t, e.guest(http.MethodGet, "/api/v1/namespaces/whisk.system/rules", nil), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'whisk.system'.")
}

// TestRuleCount: a count is of what a list from skip would hold, as
// upstream's store counts; the limit does not apply.
func TestRuleCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.putAction(actionsPath+"ca", nil)
	e.guest(http.MethodPut, triggersPath+"ct", nil)
	for _, name := range []string{"c1", "c2", "c3"} {
		wantStatus(t, e.guest(http.MethodPut, rulesPath+name, map[string]any{"trigger": "/_/ct", "action": "/_/ca"}), http.StatusOK)
	}
	for q, want := range map[string]string{
		"?count=true": `{"rules":3}`, "?count=true&skip=2": `{"rules":1}`,
		"?count=true&skip=9": `{"rules":0}`, "?count=true&limit=1": `{"rules":3}`,
	} {
		if got := strings.TrimSpace(string(e.guest(http.MethodGet, rulesPath+q, nil).body)); got != want {
			t.Errorf("count%s = %s, want %s", q, got, want)
		}
	}
	if got := strings.TrimSpace(string(e.guest(http.MethodGet, rulesPath+"?skip=3", nil).body)); got != `[]` {
		t.Errorf("list past the end = %s, want []", got)
	}
}
