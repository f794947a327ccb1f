package controller_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
)

const (
	triggersPath = "/api/v1/namespaces/_/triggers/"
	rulesPath    = "/api/v1/namespaces/_/rules/"
)

func TestTriggerCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	r := e.guest(http.MethodPut, triggersPath+"t1", map[string]any{
		"parameters":  []any{map[string]any{"key": "p", "value": 1}},
		"annotations": []any{map[string]any{"key": "feed", "value": "/whisk.system/alarms/alarm"}},
		"namespace":   "ignored", "rules": map[string]any{"guest/x": map[string]any{"status": "active"}},
	})
	wantStatus(t, r, http.StatusOK)
	created := r.object(t)
	for k, want := range map[string]any{"namespace": "guest", "name": "t1", "version": "0.0.1", "publish": false,
		"limits": map[string]any{}, "parameters": []any{map[string]any{"key": "p", "value": 1.0}}} {
		if !reflect.DeepEqual(created[k], want) {
			t.Errorf("created %s = %v, want %v", k, created[k], want)
		}
	}
	if _, ok := created["rules"]; ok {
		t.Errorf("a PUT set rules: %s", r.body)
	}

	wantError(t, e.guest(http.MethodPut, triggersPath+"t1", map[string]any{}), http.StatusConflict, api.MsgExists)
	r = e.guest(http.MethodPut, triggersPath+"t1?overwrite=true", map[string]any{"publish": true})
	wantStatus(t, r, http.StatusOK)
	updated := r.object(t)
	if updated["version"] != "0.0.2" || updated["publish"] != true || !reflect.DeepEqual(updated["parameters"], created["parameters"]) {
		t.Errorf("update = %s, want version 0.0.2, publish, parameters kept", r.body)
	}
	if v, _ := annotation(t, updated, "feed"); v != "/whisk.system/alarms/alarm" {
		t.Errorf("update lost the feed annotation: %s", r.body)
	}

	r = e.guest(http.MethodGet, triggersPath+"t1", nil)
	wantStatus(t, r, http.StatusOK)
	if got := r.object(t); !reflect.DeepEqual(got, updated) {
		t.Errorf("GET = %v, want %v", got, updated)
	}
	e.guest(http.MethodPut, triggersPath+"t2", nil)
	r = e.guest(http.MethodGet, "/api/v1/namespaces/guest/triggers", nil)
	wantStatus(t, r, http.StatusOK)
	var list []map[string]any
	r.json(t, &list)
	if len(list) != 2 || list[0]["name"] != "t2" || list[1]["name"] != "t1" {
		t.Fatalf("list = %s, want t2 then t1 (newest first)", r.body)
	}
	if _, ok := list[0]["parameters"]; ok {
		t.Errorf("list entries carry parameters: %s", r.body)
	}
	r = e.guest(http.MethodGet, triggersPath+"?count=true", nil)
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"triggers":2}` {
		t.Errorf("count = %d %s", r.status, r.body)
	}

	r = e.guest(http.MethodDelete, triggersPath+"t1", nil)
	wantStatus(t, r, http.StatusOK)
	if r.object(t)["name"] != "t1" {
		t.Errorf("DELETE body = %s, want the trigger", r.body)
	}
	wantError(t, e.guest(http.MethodGet, triggersPath+"t1", nil), http.StatusNotFound, api.MsgNotFound)
	wantError(t, e.guest(http.MethodDelete, triggersPath+"t1", nil), http.StatusNotFound, api.MsgNotFound)
}

func TestTriggerBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, feed := range []any{"", "a,b", 42} {
		r := e.guest(http.MethodPut, triggersPath+"bad-feed", map[string]any{"annotations": []any{map[string]any{"key": "feed", "value": feed}}})
		wantError(t, r, http.StatusBadRequest, api.MsgFeedInvalid)
	}
	wantStatus(t, e.guest(http.MethodPut, triggersPath+"ok-feed", map[string]any{"annotations": []any{map[string]any{"key": "feed", "value": "xyz"}}}), http.StatusOK)
	r := e.guest(http.MethodPut, triggersPath+"bad", `{"parameters": {"a": 1}}`)
	wantError(t, r, http.StatusBadRequest, api.MsgMalformedPrefix+"'parameters' must be an array of key-value pairs")
	wantError(t, e.guest(http.MethodGet, "/api/v1/namespaces/whisk.system/triggers/x", nil), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'whisk.system/x'.")
	wantError(t, e.guest(http.MethodGet, "/api/v1/namespaces/whisk.system/triggers", nil), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'whisk.system'.")
	e.putAction(actionsPath+"an-action", nil)
	wantError(t, e.guest(http.MethodGet, triggersPath+"an-action", nil), http.StatusConflict, api.MsgWrongCollection)
	wantError(t, e.guest(http.MethodPut, triggersPath+"an-action?overwrite=true", nil), http.StatusConflict, api.MsgWrongCollection)
	wantError(t, e.guest(http.MethodPost, triggersPath+"an-action", nil), http.StatusConflict, api.MsgWrongCollection)
	wantError(t, e.guest(http.MethodPost, triggersPath+"missing", nil), http.StatusNotFound, api.MsgNotFound)
	wantError(t, e.guest(http.MethodPost, triggersPath+"ok-feed", `[1]`), http.StatusBadRequest,
		api.MsgMalformedPrefix+"the request body must be a JSON object")
	wantError(t, e.guest(http.MethodPatch, triggersPath+"ok-feed", nil), http.StatusMethodNotAllowed,
		"HTTP method not allowed, supported methods: PUT, GET, DELETE, POST")
	wantError(t, e.guest(http.MethodGet, triggersPath+"?limit=201", nil), http.StatusBadRequest,
		"The query parameter 'limit' was malformed:\nThe value '201' is not in the range of 0 to 200 for triggers.")
}

// triggerRecord waits for a trigger activation record.
func triggerRecord(t *testing.T, e *env, id string) *api.Activation {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if act, err := e.store.GetActivation(context.Background(), "guest", id); err == nil {
			return act
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no trigger activation %s", id)
	return nil
}

func TestTriggerFire(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("fire-target", silent)
	e.putAction(actionsPath+"fire-target", map[string]any{"parameters": []any{map[string]any{"key": "fromAction", "value": true}}})
	wantStatus(t, e.guest(http.MethodPut, triggersPath+"fire-t", map[string]any{"parameters": []any{
		map[string]any{"key": "fromTrigger", "value": "t"}, map[string]any{"key": "x", "value": "trigger"}}}), http.StatusOK)

	// No rule: 204 and nothing recorded.
	r := e.guest(http.MethodPost, triggersPath+"fire-t", map[string]any{"x": 1})
	wantStatus(t, r, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 body = %q", r.body)
	}

	wantStatus(t, e.guest(http.MethodPut, rulesPath+"fire-r1", map[string]any{"trigger": "/_/fire-t", "action": "/_/fire-target"}), http.StatusOK)
	wantStatus(t, e.guest(http.MethodPut, rulesPath+"fire-r2", map[string]any{"trigger": "/guest/fire-t", "action": "/guest/fire-target"}), http.StatusOK)
	wantStatus(t, e.guest(http.MethodPost, rulesPath+"fire-r2", map[string]any{"status": "inactive"}), http.StatusOK)
	e.putAction(actionsPath+"fire-gone", nil)
	wantStatus(t, e.guest(http.MethodPut, rulesPath+"fire-r3", map[string]any{"trigger": "/_/fire-t", "action": "/_/fire-gone"}), http.StatusOK)
	wantStatus(t, e.guest(http.MethodDelete, actionsPath+"fire-gone", nil), http.StatusOK)

	req := e.guest(http.MethodPost, triggersPath+"fire-t", map[string]any{"x": "payload", "y": 2})
	wantStatus(t, req, http.StatusAccepted)
	var body map[string]string
	req.json(t, &body)
	id := body["activationId"]
	if api.CheckActivationID(id) != nil || req.header.Get("x-openwhisk-activation-id") != id {
		t.Fatalf("202 = %s, header %q", req.body, req.header.Get("x-openwhisk-activation-id"))
	}

	act := triggerRecord(t, e, id)
	if act.Name != "fire-t" || act.End != 0 || len(act.Annotations) != 0 || act.Response.StatusCode != 0 {
		t.Errorf("trigger activation = %+v, want name fire-t, end 0, no annotations, success", act)
	}
	var result map[string]any
	if err := json.Unmarshal(act.Response.Result, &result); err != nil || !reflect.DeepEqual(result, map[string]any{"x": "payload", "y": 2.0}) {
		t.Errorf("trigger activation result = %s, want the fire payload", act.Response.Result)
	}
	if len(act.Logs) != 3 {
		t.Fatalf("logs = %q, want one line per rule", act.Logs)
	}
	var logs []map[string]any
	for _, l := range act.Logs {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON", l)
		}
		logs = append(logs, m)
	}
	if l := logs[0]; l["rule"] != "guest/fire-r1" || l["action"] != "guest/fire-target" || l["statusCode"] != 0.0 || l["success"] != true {
		t.Errorf("active rule log = %v", l)
	}
	want := map[string]any{"statusCode": 1.0, "success": false, "rule": "guest/fire-r2", "action": "guest/fire-target",
		"error": "Rule 'guest/fire-r2' is inactive, action 'guest/fire-target' was not activated."}
	if !reflect.DeepEqual(logs[1], want) {
		t.Errorf("inactive rule log = %v, want %v", logs[1], want)
	}
	want = map[string]any{"statusCode": 1.0, "success": false, "rule": "guest/fire-r3", "action": "guest/fire-gone",
		"error": api.MsgNotFound}
	if !reflect.DeepEqual(logs[2], want) {
		t.Errorf("missing action log = %v, want %v", logs[2], want)
	}

	// The action ran through the invoke path with trigger parameters <
	// __ow_headers < payload, over the action's own parameters.
	aid, _ := logs[0]["activationId"].(string)
	m := k.inv.message(t, aid)
	if m.Blocking || m.Action.Name != "fire-target" || m.User.Namespace.Name != "guest" {
		t.Errorf("rule activation message = %+v", m)
	}
	var args map[string]any
	if err := json.Unmarshal(m.Content, &args); err != nil {
		t.Fatal(err)
	}
	headers, _ := args["__ow_headers"].(map[string]any)
	delete(args, "__ow_headers")
	if want := map[string]any{"fromAction": true, "fromTrigger": "t", "x": "payload", "y": 2.0}; !reflect.DeepEqual(args, want) {
		t.Errorf("action arguments = %v, want %v", args, want)
	}
	if _, ok := headers["authorization"]; !ok || headers["content-type"] != nil {
		t.Errorf("__ow_headers = %v, want the request headers without the entity's", headers)
	}
}

// TestTriggerCount: a count is of what a list from skip would hold, as
// upstream's store counts; the limit does not apply.
func TestTriggerCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{"c1", "c2", "c3"} {
		wantStatus(t, e.guest(http.MethodPut, triggersPath+name, nil), http.StatusOK)
	}
	for q, want := range map[string]string{
		"?count=true": `{"triggers":3}`, "?count=true&skip=1": `{"triggers":2}`,
		"?count=true&skip=3": `{"triggers":0}`, "?count=true&skip=9": `{"triggers":0}`,
		"?count=true&limit=1": `{"triggers":3}`,
	} {
		if got := strings.TrimSpace(string(e.guest(http.MethodGet, triggersPath+q, nil).body)); got != want {
			t.Errorf("count%s = %s, want %s", q, got, want)
		}
	}
	if got := strings.TrimSpace(string(e.guest(http.MethodGet, triggersPath+"?skip=3", nil).body)); got != `[]` {
		t.Errorf("list past the end = %s, want []", got)
	}
}
