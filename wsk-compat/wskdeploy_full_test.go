package wskcompat

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// Names in wskdeploy/manifest-full.yaml.
const (
	fullPkg     = "compat-full"
	fullBinding = "compat-full-alarms"
	fullTrigger = "full-trigger"
	fullAlarm   = "full-alarm"
	fullRule    = "full-rule"
)

// fullActions are the actions of fullPkg and their kinds.
var fullActions = map[string]string{
	"full-greet": kindNode, "full-shout": kindPython, "full-echo": kindPython,
	"full-page": kindNode, "full-secure": kindNode, "full-sequence": "sequence",
}

// TestWskdeployFull deploys wskdeploy/manifest-full.yaml with the inputs of
// deployment-full.yaml (a package with inputs and annotations, nodejs and
// python actions, a sequence, web actions, a trigger and its rule, a binding
// of /whisk.system/alarms and a trigger on its feed), checks what was
// created through openwhisk-client-go, uses it (invoke the sequence, call the
// web actions over /api/v1/web, fire the trigger and find the rule's
// activation, read the feed), deploys again over it, and undeploys: then
// every entity is gone and the alarm with it.
func TestWskdeployFull(t *testing.T) {
	bin := wskdeployBinary(t)
	t.Setenv("BRISK_INVOCATIONS_PER_MINUTE", "1000")
	t.Setenv("BRISK_FIRES_PER_MINUTE", "1000")
	srv := harness.Start(t)
	c := srv.Client

	out := runWskdeploy(t, bin, srv, "-m", "manifest-full.yaml", "-d", "deployment-full.yaml")
	if !strings.Contains(out, "Deployment completed successfully") {
		t.Fatalf("wskdeploy did not report success")
	}

	t.Run("Entities", func(t *testing.T) { testFullEntities(t, c) })
	t.Run("Sequence", func(t *testing.T) { testFullSequence(t, c) })
	t.Run("Web", func(t *testing.T) { testFullWeb(t, srv) })
	t.Run("Rule", func(t *testing.T) { testFullRule(t, c) })
	t.Run("Feed", func(t *testing.T) {
		res, err := invokeFeed(t, feedClient(t, srv), "interval", "READ", fullAlarm, nil)
		config, _ := res["config"].(map[string]any)
		if err != nil || config["minutes"] != float64(60) || config["name"] != fullAlarm {
			t.Errorf("feed READ of %s = %v (%v), want the interval alarm wskdeploy created (minutes 60)", fullAlarm, res, err)
		}
	})

	// A second deployment of the same manifest updates every entity in place.
	t.Run("Redeploy", func(t *testing.T) {
		out := runWskdeploy(t, bin, srv, "-m", "manifest-full.yaml", "-d", "deployment-full.yaml")
		if !strings.Contains(out, "Deployment completed successfully") {
			t.Errorf("second wskdeploy did not report success")
		}
		a, resp, err := c.Actions.Get(fullPkg+"/full-greet", false)
		if err != nil || a.Version != "0.0.2" {
			t.Errorf("full-greet after redeploy: status %s, %+v (%v), want version 0.0.2", status(resp), a, err)
		}
		if res := invokeResult(t, c, fullPkg+"/full-sequence", nil); res["payload"] != "HELLO, DEPLOYER!!!" {
			t.Errorf("sequence after redeploy = %v", res)
		}
	})

	out = runWskdeploy(t, bin, srv, "undeploy", "-m", "manifest-full.yaml", "-d", "deployment-full.yaml")
	if !strings.Contains(out, "Undeployment completed successfully") {
		t.Errorf("wskdeploy undeploy did not report success")
	}
	checkFullGone(t, srv, c)
}

// kvMap turns the client's key/value list into a map (JSON-decoded values).
func kvMap(t *testing.T, kvs whisk.KeyValueArr) map[string]any {
	t.Helper()
	var list []keyValue
	reshape(t, kvs, &list)
	m := map[string]any{}
	for _, kv := range list {
		m[kv.Key] = kv.Value
	}
	return m
}

func testFullEntities(t *testing.T, c *whisk.Client) {
	p, resp, err := c.Packages.Get(fullPkg)
	if err != nil {
		t.Fatalf("GET package %s: status %s: %v", fullPkg, status(resp), err)
	}
	if p.Version != "1.2.0" || p.Namespace != harness.GuestNamespace {
		t.Errorf("package version %q namespace %q, want the manifest's 1.2.0 in guest", p.Version, p.Namespace)
	}
	if got := kvMap(t, p.Parameters); !reflect.DeepEqual(got, map[string]any{"greeting": "Hello"}) {
		t.Errorf("package parameters = %v, want the manifest's input greeting=Hello", got)
	}
	if got := kvMap(t, p.Annotations); got["owner"] != "wsk-compat" {
		t.Errorf("package annotations = %v, want owner=wsk-compat", got)
	}
	var listed []string
	for _, a := range p.Actions {
		listed = append(listed, a.Name)
	}
	if len(listed) != len(fullActions) {
		t.Errorf("package lists actions %v, want the %d of the manifest", listed, len(fullActions))
	}

	for name, kind := range fullActions {
		a, resp, err := c.Actions.Get(fullPkg+"/"+name, false)
		if err != nil {
			t.Errorf("GET action %s: status %s: %v", name, status(resp), err)
			continue
		}
		if a.Exec == nil || a.Exec.Kind != kind || a.Namespace != "guest/"+fullPkg {
			t.Errorf("%s: namespace %q exec %+v, want kind %s in guest/%s", name, a.Namespace, a.Exec, kind, fullPkg)
		}
	}
	greet, _, err := c.Actions.Get(fullPkg+"/full-greet", false)
	if err == nil {
		if params := kvMap(t, greet.Parameters); params["name"] != "Deployer" {
			t.Errorf("full-greet parameters = %v, want name=Deployer", params)
		}
		if ann := kvMap(t, greet.Annotations); ann["description"] != "greets by name" {
			t.Errorf("full-greet annotations = %v, want the manifest's description", ann)
		}
		if l := greet.Limits; l == nil || l.Timeout == nil || *l.Timeout != 5000 || l.Memory == nil || *l.Memory != 128 {
			t.Errorf("full-greet limits = %+v, want timeout 5000, memory 128", l)
		}
	}
	seq, _, err := c.Actions.Get(fullPkg+"/full-sequence", false)
	if err == nil && seq.Exec != nil {
		want := []string{"/guest/" + fullPkg + "/full-greet", "/guest/" + fullPkg + "/full-shout"}
		if !reflect.DeepEqual(seq.Exec.Components, want) {
			t.Errorf("sequence components = %v, want %v", seq.Exec.Components, want)
		}
	}
	for name, want := range map[string]map[string]any{
		"full-page":     {"web-export": true, "final": true, "raw-http": false},
		"full-sequence": {"web-export": true, "final": true, "raw-http": false},
		"full-secure":   {"web-export": true, "require-whisk-auth": "compat-secret"},
	} {
		a, _, err := c.Actions.Get(fullPkg+"/"+name, false)
		if err != nil {
			continue
		}
		ann := kvMap(t, a.Annotations)
		for k, v := range want {
			if ann[k] != v {
				t.Errorf("%s annotation %s = %v, want %v (all: %v)", name, k, ann[k], v, ann)
			}
		}
	}

	b, resp, err := c.Packages.Get(fullBinding)
	if err != nil {
		t.Errorf("GET binding %s: status %s: %v", fullBinding, status(resp), err)
	} else {
		var binding struct{ Namespace, Name string }
		reshape(t, b.Binding, &binding)
		feeds := map[string]bool{}
		for _, f := range b.Feeds {
			feeds[f.Name] = true
		}
		if binding.Namespace != "whisk.system" || binding.Name != "alarms" || !feeds["interval"] {
			t.Errorf("binding %s = binding %+v feeds %v, want /whisk.system/alarms with its feeds", fullBinding, binding, b.Feeds)
		}
	}

	tr, resp, err := c.Triggers.Get(fullTrigger)
	if err != nil {
		t.Errorf("GET trigger %s: status %s: %v", fullTrigger, status(resp), err)
	} else {
		if params := kvMap(t, tr.Parameters); !reflect.DeepEqual(params, map[string]any{"color": "teal"}) {
			t.Errorf("trigger parameters = %v, want color=teal from deployment-full.yaml", params)
		}
		if ann := kvMap(t, tr.Annotations); ann["purpose"] != "compat" {
			t.Errorf("trigger annotations = %v, want purpose=compat", ann)
		}
		if tr.Rules["guest/"+fullRule] == nil {
			t.Errorf("trigger rules = %v, want guest/%s", tr.Rules, fullRule)
		}
	}
	alarm, resp, err := c.Triggers.Get(fullAlarm)
	if err != nil {
		t.Errorf("GET trigger %s: status %s: %v", fullAlarm, status(resp), err)
	} else if feed, _ := kvMap(t, alarm.Annotations)["feed"].(string); !strings.HasSuffix(feed, fullBinding+"/interval") {
		t.Errorf("%s feed annotation = %q, want the binding's interval feed", fullAlarm, feed)
	}

	r, resp, err := c.Rules.Get(fullRule)
	if err != nil {
		t.Fatalf("GET rule %s: status %s: %v", fullRule, status(resp), err)
	}
	var ends struct {
		Trigger, Action struct{ Path, Name string }
	}
	reshape(t, map[string]any{"trigger": r.Trigger, "action": r.Action}, &ends)
	if r.Status != "active" || ends.Trigger.Path != "guest" || ends.Trigger.Name != fullTrigger ||
		ends.Action.Path != "guest/"+fullPkg || ends.Action.Name != "full-echo" {
		t.Errorf("rule = status %q trigger %+v action %+v, want active guest/%s -> guest/%s/full-echo",
			r.Status, ends.Trigger, ends.Action, fullTrigger, fullPkg)
	}
}

// testFullSequence invokes the nodejs → python sequence and follows its
// component activations.
func testFullSequence(t *testing.T, c *whisk.Client) {
	name := fullPkg + "/full-sequence"
	want := map[string]any{"payload": "HELLO, DEPLOYER!!!", "steps": []any{"nodejs", "python"}}
	if got := invokeResult(t, c, name, nil); !reflect.DeepEqual(got, want) {
		t.Errorf("sequence result = %v, want %v (package input, action inputs, both runtimes)", got, want)
	}
	rec, resp, err := invokeBlocking(t, c, name, map[string]any{"name": "Ada"})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke sequence: status %s: %v", status(resp), err)
	}
	if rec.Response.Result["payload"] != "HELLO, ADA!!!" {
		t.Errorf("sequence result with name=Ada = %v", rec.Response.Result)
	}
	if len(rec.Logs) != 2 {
		t.Fatalf("sequence logs = %v, want its two component activation ids", rec.Logs)
	}
	for i, comp := range []string{"full-greet", "full-shout"} {
		a := waitActivation(t, c, rec.Logs[i], false)
		if a.Name != comp || !a.Response.Success {
			t.Errorf("component %d: activation of %q (success %v), want %s", i, a.Name, a.Response.Success, comp)
		}
	}
}

// testFullWeb calls the web actions the manifest exported.
func testFullWeb(t *testing.T, srv *harness.Server) {
	base := "/api/v1/web/" + harness.GuestNamespace + "/" + fullPkg + "/"

	r := webDo(t, srv, http.MethodGet, base+"full-page?name=Ada", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || string(r.Body) != "<p>Hello Ada via get</p>" {
		t.Errorf("GET full-page: %d %q %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	r = webDo(t, srv, http.MethodPost, base+"full-page", []byte(`{"name":"Bo"}`), "Content-Type", "application/json")
	if r.Status != http.StatusOK || string(r.Body) != "<p>Hello Bo via post</p>" {
		t.Errorf("POST full-page: %d %s", r.Status, r.Body)
	}
	// final: the package's input cannot be overridden from the request.
	webError(t, "full-page overriding greeting", webDo(t, srv, http.MethodGet, base+"full-page?greeting=Bye", nil), http.StatusBadRequest, msgReserved)

	got := webJSON(t, webDo(t, srv, http.MethodGet, base+"full-sequence.json?name=Bob", nil))
	if want := map[string]any{"payload": "HELLO, BOB!!!", "steps": []any{"nodejs", "python"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("web sequence = %v, want %v", got, want)
	}

	webError(t, "full-secure without the secret", webDo(t, srv, http.MethodGet, base+"full-secure.http", nil),
		http.StatusUnauthorized, "Authentication is possible but has failed or not yet been provided.")
	r = webDo(t, srv, http.MethodGet, base+"full-secure.http?name=Sec", nil, "X-Require-Whisk-Auth", "compat-secret")
	if r.Status != http.StatusOK || string(r.Body) != "<p>Hello Sec via get</p>" {
		t.Errorf("full-secure with the secret: %d %s", r.Status, r.Body)
	}

	webError(t, "full-greet (not web-exported)", webDo(t, srv, http.MethodGet, base+"full-greet.json", nil),
		http.StatusNotFound, "The requested resource does not exist.")
}

// testFullRule fires the trigger and finds the rule's activation of
// full-echo with trigger parameters (deployment file), fire payload and the
// action's own inputs.
func testFullRule(t *testing.T, c *whisk.Client) {
	res, resp, err := c.Triggers.Fire(fullTrigger, map[string]any{"size": 3})
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("fire %s: status %s: %v", fullTrigger, status(resp), err)
	}
	var fired struct {
		ActivationID string `json:"activationId"`
	}
	reshape(t, res, &fired)
	ta := waitActivation(t, c, fired.ActivationID, true)
	var ruleLog struct {
		Success      bool   `json:"success"`
		ActivationID string `json:"activationId"`
		Rule         string `json:"rule"`
		Action       string `json:"action"`
	}
	if err := json.Unmarshal([]byte(ta.Logs[0]), &ruleLog); err != nil {
		t.Fatalf("trigger activation log %q: %v", ta.Logs[0], err)
	}
	if !ruleLog.Success || ruleLog.Rule != "guest/"+fullRule || ruleLog.Action != "guest/"+fullPkg+"/full-echo" {
		t.Errorf("trigger activation log = %+v", ruleLog)
	}
	a := waitActivation(t, c, ruleLog.ActivationID, false)
	got := resultOf(t, a)
	for k, v := range map[string]any{"color": "teal", "size": float64(3), "source": "rule", "greeting": "Hello"} {
		if got[k] != v {
			t.Errorf("rule's activation of full-echo: %s = %v, want %v (result %v)", k, got[k], v, got)
		}
	}
}

// checkFullGone checks that undeploy removed every entity of the manifest
// and deleted the alarm through the feed.
func checkFullGone(t *testing.T, srv *harness.Server, c *whisk.Client) {
	t.Helper()
	notFound := func(what string, resp *http.Response, err error) {
		t.Helper()
		if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s after undeploy: status %s, want 404", what, status(resp))
		}
	}
	for name := range fullActions {
		_, resp, err := c.Actions.Get(fullPkg+"/"+name, false)
		notFound("action "+name, resp, err)
	}
	for _, name := range []string{fullPkg, fullBinding} {
		_, resp, err := c.Packages.Get(name)
		notFound("package "+name, resp, err)
	}
	for _, name := range []string{fullTrigger, fullAlarm} {
		_, resp, err := c.Triggers.Get(name)
		notFound("trigger "+name, resp, err)
	}
	_, resp, err := c.Rules.Get(fullRule)
	notFound("rule "+fullRule, resp, err)

	// On a shared external server the other tests' entities stay in the
	// namespace: there the 404s above are the check.
	for _, coll := range []string{"actions", "packages", "triggers", "rules"} {
		if harness.External() {
			break
		}
		r := rawRequest(t, srv, http.MethodGet, "/api/v1/namespaces/_/"+coll, srv.Auth, nil)
		if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "[]" {
			t.Errorf("GET %s after undeploy: %d %s, want an empty list", coll, r.Status, r.Body)
		}
	}
	if res, err := invokeFeed(t, feedClient(t, srv), "interval", "READ", fullAlarm, nil); err == nil {
		t.Errorf("feed READ after undeploy = %v, want an error (the alarm is deleted)", res)
	}
}
