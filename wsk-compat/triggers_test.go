package wskcompat

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// TestTriggersRulesFeeds drives triggers, rules and the built-in alarms feeds
// through openwhisk-client-go the way the wsk CLI does.
func TestTriggersRulesFeeds(t *testing.T) {
	srv := harness.Start(t)
	c := srv.Client
	t.Run("FireThroughRules", func(t *testing.T) { testFireThroughRules(t, c) })
	t.Run("RuleErrors", func(t *testing.T) { testRuleErrors(t, srv, c) })
	t.Run("OnceFeedLifecycle", func(t *testing.T) { testOnceFeedLifecycle(t, srv, c) })
}

// feedClient is a client addressing /whisk.system, as the CLI switches its
// namespace to the feed's to invoke it.
func feedClient(t *testing.T, srv *harness.Server) *whisk.Client {
	fc := srv.NewClient(srv.Auth)
	fc.Namespace = "whisk.system"
	return fc
}

// invokeFeed invokes a feed action blocking with a lifecycle event, as the
// CLI does, and returns the result object and the client error.
func invokeFeed(t *testing.T, fc *whisk.Client, feed, event, trigger string, params map[string]any) (map[string]any, error) {
	t.Helper()
	p := map[string]any{"lifecycleEvent": event, "triggerName": "/guest/" + trigger, "authKey": harness.GuestAuth}
	for k, v := range params {
		p[k] = v
	}
	res, resp, err := fc.Actions.Invoke("alarms/"+feed, p, true, false)
	if resp == nil {
		t.Fatalf("invoke feed %s %s: no response: %v", feed, event, err)
	}
	var rec record
	reshape(t, res, &rec)
	if rec.Name != feed || !activationIDRe.MatchString(rec.ActivationID) {
		t.Errorf("feed activation = %+v, want a record of %s", rec, feed)
	}
	return rec.Response.Result, err
}

// waitTriggerActivations waits for at least n activations of the trigger
// since since (epoch ms), with their full records.
func waitTriggerActivations(t *testing.T, c *whisk.Client, trigger string, since int64, n int) []whisk.Activation {
	t.Helper()
	var got []whisk.Activation
	ctx, cancel := context.WithTimeout(context.Background(), activationWait)
	defer cancel()
	err := harness.WaitFor(ctx, 200*time.Millisecond, func() bool {
		acts, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: trigger, Since: since, Docs: true, Limit: 50})
		if err != nil {
			t.Fatalf("list activations of %s: %v", trigger, err)
		}
		got = acts
		return len(acts) >= n
	})
	if err != nil {
		t.Fatalf("trigger %s: %d activations since %d, want at least %d", trigger, len(got), since, n)
	}
	return got
}

func testFireThroughRules(t *testing.T, c *whisk.Client) {
	action := uniqueName("rule-echo")
	mustInsert(t, c, newAction(action, kindNode, actionSource(t, "nodejs/echo.js")), false)
	trigger := uniqueName("trig")
	tr, resp, err := c.Triggers.Insert(&whisk.Trigger{Name: trigger,
		Parameters: whisk.KeyValueArr{{Key: "fromTrigger", Value: "yes"}}}, false)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("create trigger: %s: %v", status(resp), err)
	}
	if tr.Namespace != "guest" || tr.Version != "0.0.1" || len(tr.Rules) != 0 {
		t.Errorf("created trigger = %+v", tr)
	}

	// Without a rule, a fire is 204 and leaves no record.
	_, resp, err = c.Triggers.Fire(trigger, map[string]any{"a": 1})
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("fire without rules: %s: %v", status(resp), err)
	}

	rule := uniqueName("rule")
	r, resp, err := c.Rules.Insert(&whisk.Rule{Name: rule, Trigger: "/_/" + trigger, Action: "/_/" + action}, false)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("create rule: %s: %v", status(resp), err)
	}
	if r.Status != "active" {
		t.Errorf("created rule status = %q, want active", r.Status)
	}
	tr, _, err = c.Triggers.Get(trigger)
	if err != nil || tr.Rules["guest/"+rule] == nil {
		t.Fatalf("trigger rules after rule create = %v (%v)", tr.Rules, err)
	}

	// Disable and enable as `wsk rule disable/enable` do.
	for _, state := range []string{"inactive", "active"} {
		if _, resp, err := c.Rules.SetState(rule, state); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("set rule %s: %s: %v", state, status(resp), err)
		}
		got, _, err := c.Rules.Get(rule)
		if err != nil || got.Status != state {
			t.Fatalf("rule status after %s = %+v (%v)", state, got, err)
		}
	}

	fired, resp, err := c.Triggers.Fire(trigger, map[string]any{"payload": "hi"})
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("fire: %s: %v", status(resp), err)
	}
	if !activationIDRe.MatchString(fired.ActivationId) || resp.Header.Get("x-openwhisk-activation-id") != fired.ActivationId {
		t.Fatalf("fire answer = %+v, header %q", fired, resp.Header.Get("x-openwhisk-activation-id"))
	}
	ta := waitActivation(t, c, fired.ActivationId, true)
	if ta.Name != trigger || ta.End != 0 || len(ta.Logs) != 1 {
		t.Fatalf("trigger activation = %+v, want name %s, end 0, one log line", ta, trigger)
	}
	var line struct {
		StatusCode   int    `json:"statusCode"`
		Success      bool   `json:"success"`
		ActivationID string `json:"activationId"`
		Rule, Action string
	}
	if err := json.Unmarshal([]byte(ta.Logs[0]), &line); err != nil {
		t.Fatalf("log line %q: %v", ta.Logs[0], err)
	}
	if !line.Success || line.Rule != "guest/"+rule || line.Action != "guest/"+action {
		t.Fatalf("log line = %+v", line)
	}
	aa := waitActivation(t, c, line.ActivationID, false)
	result := resultOf(t, aa)
	if result["payload"] != "hi" || result["fromTrigger"] != "yes" {
		t.Errorf("rule's action got %v, want the trigger parameters and the payload", result)
	}
	if headers, _ := result["__ow_headers"].(map[string]any); headers["user-agent"] == nil {
		t.Errorf("__ow_headers = %v, want the fire's request headers", result["__ow_headers"])
	}

	if resp, err := c.Rules.Delete(rule); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("delete rule: %s: %v", status(resp), err)
	}
	if _, resp, err := c.Triggers.Delete(trigger); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("delete trigger: %s: %v", status(resp), err)
	}
	if _, resp, _ := c.Triggers.Get(trigger); resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("get deleted trigger: %s", status(resp))
	}
}

func testRuleErrors(t *testing.T, srv *harness.Server, c *whisk.Client) {
	trigger := uniqueName("trig")
	if _, _, err := c.Triggers.Insert(&whisk.Trigger{Name: trigger}, false); err != nil {
		t.Fatal(err)
	}
	body := `{"trigger":"` + trigger + `","action":"/_/x"}`
	r := rawRequest(t, srv, http.MethodPut, "/api/v1/namespaces/_/rules/"+uniqueName("r"), srv.Auth, strings.NewReader(body))
	checkAPIError(t, r, http.StatusBadRequest, "The request content was malformed:\nrequirement failed: The fully qualified name of the entity must contain at least the namespace and the name of the entity.")
	body = `{"trigger":"/_/` + trigger + `","action":"/_/nope"}`
	r = rawRequest(t, srv, http.MethodPut, "/api/v1/namespaces/_/rules/"+uniqueName("r"), srv.Auth, strings.NewReader(body))
	checkAPIError(t, r, http.StatusBadRequest, "action /guest/nope does not exist")
	r = rawRequest(t, srv, http.MethodPost, "/api/v1/namespaces/_/triggers/"+uniqueName("missing"), srv.Auth, nil)
	checkAPIError(t, r, http.StatusNotFound, "The requested resource does not exist.")
	r = rawRequest(t, srv, http.MethodPut, "/api/v1/namespaces/_/triggers/"+uniqueName("t"), srv.Auth,
		strings.NewReader(`{"annotations":[{"key":"feed","value":""}]}`))
	checkAPIError(t, r, http.StatusBadRequest, "Feed name is not valid")
}

// checkAPIError checks upstream's error shape and message.
func checkAPIError(t *testing.T, r rawResponse, wantStatus int, wantMsg string) {
	t.Helper()
	var e apiError
	if r.Status != wantStatus || json.Unmarshal(r.Body, &e) != nil || e.Error != wantMsg || e.Code == "" {
		t.Errorf("got %d %s, want %d {\"error\":%q}", r.Status, r.Body, wantStatus, wantMsg)
	}
}

func testOnceFeedLifecycle(t *testing.T, srv *harness.Server, c *whisk.Client) {
	fc := feedClient(t, srv)
	action := uniqueName("alarm-echo")
	mustInsert(t, c, newAction(action, kindNode, actionSource(t, "nodejs/echo.js")), false)
	trigger := uniqueName("once")
	// As `wsk trigger create T --feed /whisk.system/alarms/once -p date D`.
	if _, _, err := c.Triggers.Insert(&whisk.Trigger{Name: trigger,
		Annotations: whisk.KeyValueArr{{Key: "feed", Value: "/whisk.system/alarms/once"}}}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Rules.Insert(&whisk.Rule{Name: uniqueName("r"), Trigger: "/_/" + trigger, Action: "/_/" + action}, false); err != nil {
		t.Fatal(err)
	}
	since := time.Now().UnixMilli()
	date := time.Now().Add(2 * time.Second).UTC().Format("2006-01-02T15:04:05.000Z")
	res, err := invokeFeed(t, fc, "once", "CREATE", trigger, map[string]any{"date": date, "trigger_payload": map[string]any{"name": "Odin"}})
	if err != nil || res["status"] != "success" {
		t.Fatalf("feed CREATE = %v (%v)", res, err)
	}
	res, err = invokeFeed(t, fc, "once", "READ", trigger, nil)
	config, _ := res["config"].(map[string]any)
	if err != nil || config["date"] != date || config["name"] != trigger {
		t.Errorf("feed READ = %v (%v)", res, err)
	}
	// A bad parameter fails the feed the way upstream's does.
	res, err = invokeFeed(t, fc, "once", "CREATE", trigger, map[string]any{"date": "yesterday"})
	if inner, _ := res["error"].(map[string]any); err == nil || inner["error"] != "date parameter 'yesterday' is not a valid Date" {
		t.Errorf("feed CREATE with a bad date = %v (%v)", res, err)
	}

	acts := waitTriggerActivations(t, c, trigger, since, 1)
	var payload map[string]any
	reshape(t, acts[0].Response.Result, &payload)
	if payload["name"] != "Odin" || len(acts[0].Logs) != 1 {
		t.Errorf("alarm fire = result %v logs %v", payload, acts[0].Logs)
	}

	// As `wsk trigger delete T`: the feed's DELETE, then the trigger.
	if res, err := invokeFeed(t, fc, "once", "DELETE", trigger, nil); err != nil || res["status"] != "success" {
		t.Errorf("feed DELETE = %v (%v)", res, err)
	}
	if _, _, err := c.Triggers.Delete(trigger); err != nil {
		t.Errorf("delete trigger: %v", err)
	}
}

// TestAlarmSurvivesRestart checks that a cron alarm keeps firing after the
// server restarts, and stops when its feed is deleted.
func TestAlarmSurvivesRestart(t *testing.T) {
	harness.RequireOwnServer(t, "it restarts the server")
	srv := harness.Start(t)
	c := srv.Client
	fc := feedClient(t, srv)
	trigger := uniqueName("cron")
	if _, _, err := c.Triggers.Insert(&whisk.Trigger{Name: trigger,
		Annotations: whisk.KeyValueArr{{Key: "feed", Value: "/whisk.system/alarms/alarm"}}}, false); err != nil {
		t.Fatal(err)
	}
	action := uniqueName("cron-echo")
	mustInsert(t, c, newAction(action, kindNode, actionSource(t, "nodejs/echo.js")), false)
	if _, _, err := c.Rules.Insert(&whisk.Rule{Name: uniqueName("r"), Trigger: "/_/" + trigger, Action: "/_/" + action}, false); err != nil {
		t.Fatal(err)
	}
	if res, err := invokeFeed(t, fc, "alarm", "CREATE", trigger, map[string]any{"cron": "*/2 * * * * *"}); err != nil || res["status"] != "success" {
		t.Fatalf("feed CREATE = %v (%v)", res, err)
	}
	waitTriggerActivations(t, c, trigger, time.Now().UnixMilli(), 1)

	srv.Restart()
	restarted := time.Now().UnixMilli()
	waitTriggerActivations(t, c, trigger, restarted, 2)

	if res, err := invokeFeed(t, fc, "alarm", "DELETE", trigger, nil); err != nil || res["status"] != "success" {
		t.Fatalf("feed DELETE = %v (%v)", res, err)
	}
	time.Sleep(time.Second) // a fire already under way may still land
	after := time.Now().UnixMilli()
	time.Sleep(4 * time.Second) // a negative observation: no fire within 4 s (the alarm fires every second)
	if acts, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: trigger, Since: after, Limit: 10}); err != nil || len(acts) != 0 {
		t.Errorf("fires after the feed was deleted: %d (%v)", len(acts), err)
	}
}
