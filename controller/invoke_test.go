package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
)

// The fake invoker's behaviours are keyed by action name, shared by all
// tests: every invoke test uses action names of its own.

func TestInvokeNonBlocking(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("nb-args", silent)
	e.putAction(actionsPath+"nb-args", map[string]any{
		"parameters": []any{
			map[string]any{"key": "a", "value": 1},
			map[string]any{"key": "b", "value": "from action"},
			map[string]any{"key": "secret", "value": "s3", "init": true},
		},
	})
	doc, err := e.store.GetAction(context.Background(), "guest/nb-args")
	if err != nil {
		t.Fatal(err)
	}

	r := e.guest(http.MethodPost, actionsPath+"nb-args", map[string]any{"b": "from payload", "c": true})
	wantStatus(t, r, http.StatusAccepted)
	var body map[string]string
	r.json(t, &body)
	id := body["activationId"]
	if len(body) != 1 || api.CheckActivationID(id) != nil {
		t.Fatalf("202 body = %s, want {\"activationId\":<32 hex>}", r.body)
	}
	if h := r.header.Get("x-openwhisk-activation-id"); h != id {
		t.Errorf("x-openwhisk-activation-id = %q, want %q", h, id)
	}

	m := k.inv.message(t, id)
	if m.Blocking {
		t.Error("message is blocking")
	}
	var content map[string]any
	if err := json.Unmarshal(m.Content, &content); err != nil {
		t.Fatalf("content %s: %v", m.Content, err)
	}
	want := map[string]any{"a": 1.0, "b": "from payload", "c": true, "secret": "s3"}
	if !reflect.DeepEqual(content, want) {
		t.Errorf("content = %v, want action params overlaid by the payload %v", content, want)
	}
	if !reflect.DeepEqual(m.InitArgs, []string{"secret"}) {
		t.Errorf("initArgs = %v, want [secret]", m.InitArgs)
	}
	wantAction := messaging.FullyQualifiedEntityName{Path: "guest", Name: "nb-args", Version: "0.0.1"}
	if m.Action != wantAction {
		t.Errorf("action = %+v, want %+v", m.Action, wantAction)
	}
	if m.Revision != doc.Rev {
		t.Errorf("revision = %q, want the action doc's %q", m.Revision, doc.Rev)
	}
	wantUser := messaging.Identity{Subject: "guest", Namespace: messaging.Namespace{Name: "guest", UUID: guestUUID},
		AuthKey: messaging.AuthKey{APIKey: guestAuth}}
	if m.User.Subject != wantUser.Subject || m.User.Namespace != wantUser.Namespace || m.User.AuthKey != wantUser.AuthKey {
		t.Errorf("user = %+v, want %+v", m.User, wantUser)
	}
	if m.RootControllerIndex.AsString != "0" || m.RootControllerIndex.InstanceType != "controller" {
		t.Errorf("rootControllerIndex = %+v, want controller 0", m.RootControllerIndex)
	}
	if m.TransID.ID != r.header.Get("X-Request-ID") {
		t.Errorf("transid %q != X-Request-ID %q", m.TransID.ID, r.header.Get("X-Request-ID"))
	}
	if age := time.Since(m.TransID.StartTime()); age < 0 || age > time.Minute {
		t.Errorf("transid start %v is not the request time", m.TransID.StartTime())
	}

	// No payload at all: the action's parameters only.
	r = e.guest(http.MethodPost, actionsPath+"nb-args", nil)
	wantStatus(t, r, http.StatusAccepted)
	r.json(t, &body)
	m = k.inv.message(t, body["activationId"])
	content = nil
	if err := json.Unmarshal(m.Content, &content); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(content, map[string]any{"a": 1.0, "b": "from action", "secret": "s3"}) {
		t.Errorf("content without payload = %v", content)
	}
}

func TestInvokeInPackage(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("pk-echo", silent)
	e.putPackage("guest", "pk-utils")
	e.putAction(actionsPath+"pk-utils/pk-echo", nil)
	r := e.guest(http.MethodPost, actionsPath+"pk-utils/pk-echo", map[string]any{})
	wantStatus(t, r, http.StatusAccepted)
	m := k.inv.message(t, r.header.Get("x-openwhisk-activation-id"))
	if m.Action.Path != "guest/pk-utils" || m.Action.Name != "pk-echo" {
		t.Errorf("action = %+v, want path guest/pk-utils", m.Action)
	}
	wantError(t, e.guest(http.MethodPost, actionsPath+"pk-nopkg/pk-echo", nil), http.StatusNotFound, api.MsgNotFound)
}

func TestInvokeBlockingSuccess(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	e.putAction(actionsPath+"bl-ok", map[string]any{"parameters": []any{map[string]any{"key": "greeting", "value": "hi"}}})

	r := e.guest(http.MethodPost, actionsPath+"bl-ok?blocking=true", map[string]any{"name": "x"})
	wantStatus(t, r, http.StatusOK)
	var act struct {
		Namespace    string         `json:"namespace"`
		Name         string         `json:"name"`
		Subject      string         `json:"subject"`
		ActivationID string         `json:"activationId"`
		Version      string         `json:"version"`
		Start        int64          `json:"start"`
		End          int64          `json:"end"`
		Duration     *int64         `json:"duration"`
		Response     map[string]any `json:"response"`
		Logs         []string       `json:"logs"`
		Annotations  []any          `json:"annotations"`
	}
	r.json(t, &act)
	if act.Namespace != "guest" || act.Name != "bl-ok" || act.Subject != "guest" || act.Version != "0.0.1" {
		t.Errorf("activation = %s", r.body)
	}
	if h := r.header.Get("x-openwhisk-activation-id"); h != act.ActivationID || api.CheckActivationID(h) != nil {
		t.Errorf("x-openwhisk-activation-id %q, activationId %q", h, act.ActivationID)
	}
	if act.Response["status"] != "success" || act.Response["success"] != true {
		t.Errorf("response = %v, want status success", act.Response)
	}
	if _, ok := act.Response["statusCode"]; ok {
		t.Errorf("response carries the stored statusCode: %v", act.Response)
	}
	if !reflect.DeepEqual(act.Response["result"], map[string]any{"greeting": "hi", "name": "x"}) {
		t.Errorf("result = %v", act.Response["result"])
	}
	if act.Start == 0 || act.End != act.Start+12 || act.Duration == nil || *act.Duration != 12 || act.Logs == nil || len(act.Annotations) == 0 {
		t.Errorf("duration %v logs %v annotations %v", act.Duration, act.Logs, act.Annotations)
	}

	// result=true: the result only.
	r = e.guest(http.MethodPost, actionsPath+"bl-ok?blocking=true&result=true", map[string]any{"name": "y"})
	wantStatus(t, r, http.StatusOK)
	var result map[string]any
	r.json(t, &result)
	if !reflect.DeepEqual(result, map[string]any{"greeting": "hi", "name": "y"}) {
		t.Errorf("result=true body = %s", r.body)
	}
	if api.CheckActivationID(r.header.Get("x-openwhisk-activation-id")) != nil {
		t.Errorf("result=true: no activation id header")
	}
	// result=true without blocking is a plain non-blocking invoke.
	r = e.guest(http.MethodPost, actionsPath+"bl-ok?result=true", map[string]any{})
	wantStatus(t, r, http.StatusAccepted)
}

func TestInvokeBlockingErrors(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	errResult := json.RawMessage(`{"error":"boom"}`)
	k.inv.on("bl-apperr", answer(api.StatusApplicationError, errResult))
	k.inv.on("bl-deverr", answer(api.StatusDeveloperError, json.RawMessage(`{"error":"The action did not initialize."}`)))
	k.inv.on("bl-whiskerr", answer(api.StatusWhiskError, json.RawMessage(`{"error":"internal"}`)))
	k.inv.on("bl-array", answer(api.StatusSuccess, json.RawMessage(`[1,2,{"x":3}]`)))
	cases := []struct {
		action string
		status int
		name   string
	}{
		{"bl-apperr", http.StatusBadGateway, "application error"},
		{"bl-deverr", http.StatusBadGateway, "action developer error"},
		{"bl-whiskerr", http.StatusInternalServerError, "whisk internal error"},
	}
	for _, c := range cases {
		e.putAction(actionsPath+c.action, nil)
		r := e.guest(http.MethodPost, actionsPath+c.action+"?blocking=true", map[string]any{})
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d; body %s", c.action, r.status, c.status, r.body)
			continue
		}
		if h := r.header.Get("x-openwhisk-activation-id"); api.CheckActivationID(h) != nil {
			t.Errorf("%s: x-openwhisk-activation-id = %q", c.action, h)
		}
		resp, _ := r.object(t)["response"].(map[string]any)
		if resp["status"] != c.name || resp["success"] != false {
			t.Errorf("%s: response = %v, want status %q success false", c.action, resp, c.name)
		}
		r = e.guest(http.MethodPost, actionsPath+c.action+"?blocking=true&result=true", map[string]any{})
		if r.status != c.status {
			t.Errorf("%s result=true: status %d, want %d", c.action, r.status, c.status)
		}
		if _, ok := r.object(t)["error"]; !ok {
			t.Errorf("%s result=true: body %s, want the result with its error", c.action, r.body)
		}
	}

	// A combined ack (result and completion at once) completes the wait too.
	k.inv.on("bl-combined", func(m messaging.ActivationMessage) *messaging.AcknowledgementMessage {
		raw, err := json.Marshal(record(m, api.StatusSuccess, json.RawMessage(`{"combined":1}`)))
		if err != nil {
			panic(err)
		}
		ack, err := messaging.NewCombinedAck(m.TransID, raw, false, messaging.NewInvokerInstanceID(0, 2048))
		if err != nil {
			panic(err)
		}
		return &ack
	})
	e.putAction(actionsPath+"bl-combined", nil)
	r := e.guest(http.MethodPost, actionsPath+"bl-combined?blocking=true&result=true", nil)
	wantStatus(t, r, http.StatusOK)
	if got := strings.TrimSpace(string(r.body)); got != `{"combined":1}` {
		t.Errorf("combined ack result = %s", got)
	}

	// An array result is returned as is, with or without result=true.
	e.putAction(actionsPath+"bl-array", nil)
	for _, q := range []string{"?blocking=true", "?blocking=true&result=true"} {
		r := e.guest(http.MethodPost, actionsPath+"bl-array"+q, nil)
		wantStatus(t, r, http.StatusOK)
		var arr []any
		r.json(t, &arr)
		if len(arr) != 3 {
			t.Errorf("array result%s = %s", q, r.body)
		}
	}
}

func TestInvokeBlockingTimeout(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("bl-silent", silent)
	e.putAction(actionsPath+"bl-silent", nil)
	start := time.Now()
	r := e.guest(http.MethodPost, actionsPath+"bl-silent?blocking=true&timeout=200", map[string]any{"q": 1})
	elapsed := time.Since(start)
	wantStatus(t, r, http.StatusAccepted)
	var body map[string]string
	r.json(t, &body)
	if len(body) != 1 || api.CheckActivationID(body["activationId"]) != nil {
		t.Errorf("202 body = %s", r.body)
	}
	if r.header.Get("x-openwhisk-activation-id") != body["activationId"] {
		t.Errorf("header %q != body %q", r.header.Get("x-openwhisk-activation-id"), body["activationId"])
	}
	if elapsed < 200*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("blocking invoke answered after %v, want about the 200 ms timeout", elapsed)
	}
	// The activation was still sent, as blocking.
	if m := k.inv.message(t, body["activationId"]); !m.Blocking {
		t.Error("message is not blocking")
	}
}

func TestInvokeBlockingShrunkAck(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	// The invoker stores the record and acknowledges with the id only (as
	// when the record is too large for the topic): the controller reads the
	// record from the store.
	k.inv.on("bl-shrunk", func(m messaging.ActivationMessage) *messaging.AcknowledgementMessage {
		rec := record(m, api.StatusSuccess, json.RawMessage(`{"stored":true}`))
		if err := e.store.PutActivations(context.Background(), []*api.Activation{rec}); err != nil {
			panic(err)
		}
		raw, _ := json.Marshal(rec)
		ack, err := messaging.NewResultAck(m.TransID, raw)
		if err != nil {
			panic(err)
		}
		shrunk := ack.Shrink()
		return &shrunk
	})
	e.putAction(actionsPath+"bl-shrunk", nil)
	r := e.guest(http.MethodPost, actionsPath+"bl-shrunk?blocking=true&result=true", nil)
	wantStatus(t, r, http.StatusOK)
	if got := strings.TrimSpace(string(r.body)); got != `{"stored":true}` {
		t.Errorf("result = %s", got)
	}
}

func TestInvokeFinalParameters(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("fin-act", silent)
	e.putAction(actionsPath+"fin-act", map[string]any{
		"parameters": []any{
			map[string]any{"key": "fixed", "value": "v"},
			map[string]any{"key": "open", "value": nil},
		},
		"annotations": []any{map[string]any{"key": "final", "value": true}},
	})
	wantError(t, e.guest(http.MethodPost, actionsPath+"fin-act", map[string]any{"fixed": "override"}),
		http.StatusBadRequest, api.MsgReservedParams)
	wantError(t, e.guest(http.MethodPost, actionsPath+"fin-act?blocking=true", map[string]any{"x": 1, "fixed": nil}),
		http.StatusBadRequest, api.MsgReservedParams)
	// A parameter without a value, and new keys, may be given.
	r := e.guest(http.MethodPost, actionsPath+"fin-act", map[string]any{"open": 1, "other": 2})
	wantStatus(t, r, http.StatusAccepted)
	m := k.inv.message(t, r.header.Get("x-openwhisk-activation-id"))
	var content map[string]any
	if err := json.Unmarshal(m.Content, &content); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(content, map[string]any{"fixed": "v", "open": 1.0, "other": 2.0}) {
		t.Errorf("content = %v", content)
	}

	// Without final, the payload overrides.
	k.inv.on("fin-not", silent)
	e.putAction(actionsPath+"fin-not", map[string]any{"parameters": []any{map[string]any{"key": "fixed", "value": "v"}}})
	wantStatus(t, e.guest(http.MethodPost, actionsPath+"fin-not", map[string]any{"fixed": "override"}), http.StatusAccepted)
}

func TestInvokeBadRequests(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("bad-req", silent)
	e.putAction(actionsPath+"bad-req", nil)

	for _, body := range []string{`[1,2]`, `"text"`, `42`, `null`, `{"a":`} {
		r := e.guest(http.MethodPost, actionsPath+"bad-req", body)
		if r.status != http.StatusBadRequest {
			t.Errorf("payload %s: status %d, want 400", body, r.status)
			continue
		}
		var eb map[string]string
		r.json(t, &eb)
		if !strings.HasPrefix(eb["error"], api.MsgMalformedPrefix) || eb["code"] != r.header.Get("X-Request-ID") {
			t.Errorf("payload %s: error body %s", body, r.body)
		}
	}
	// An empty body is no payload.
	wantStatus(t, e.guest(http.MethodPost, actionsPath+"bad-req", ""), http.StatusAccepted)
	wantStatus(t, e.guest(http.MethodPost, actionsPath+"bad-req", "  \n"), http.StatusAccepted)

	for _, q := range []string{"timeout=0", "timeout=70000", "timeout=-5", "timeout=abc", "timeout=60001"} {
		wantError(t, e.guest(http.MethodPost, actionsPath+"bad-req?blocking=true&"+q, nil), http.StatusBadRequest, api.MsgInvokeTimeoutQuery)
	}
	wantStatus(t, e.guest(http.MethodPost, actionsPath+"bad-req?timeout=60000", nil), http.StatusAccepted)
	wantError(t, e.guest(http.MethodPost, actionsPath+"bad-req?blocking=sure", nil), http.StatusBadRequest,
		"The query parameter 'blocking' was malformed:\n'sure' is not a valid Boolean value")

	wantError(t, e.guest(http.MethodPost, actionsPath+"bad-missing", map[string]any{}), http.StatusNotFound, api.MsgNotFound)
}

func TestInvokePayloadTooLarge(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("big", silent)
	e.putAction(actionsPath+"big", nil)

	payload := func(n int) []byte {
		// {"v":"xxx..."} of exactly n bytes
		return []byte(`{"v":"` + strings.Repeat("x", n-8) + `"}`)
	}
	big := payload(1<<20 + 1)
	r := e.guest(http.MethodPost, actionsPath+"big", big)
	wantError(t, r, http.StatusRequestEntityTooLarge, "Request larger than allowed: 1048577 > 1048576 bytes.")
	if r.header.Get("x-openwhisk-activation-id") != "" {
		t.Error("refused invoke has an activation id")
	}

	// Without Content-Length (chunked) the limit holds too.
	req := httptest.NewRequest(http.MethodPost, actionsPath+"big", struct{ *bytes.Reader }{bytes.NewReader(payload(3 << 20))})
	req.ContentLength = -1
	req.SetBasicAuth(guestUUID, guestKey)
	r = e.serve(req)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 3 MB payload: status %d, want 413", r.status)
	}

	// Exactly 1 MB is allowed (the limit is inclusive).
	wantStatus(t, e.guest(http.MethodPost, actionsPath+"big", payload(1<<20)), http.StatusAccepted)
}

func TestInvokeWithoutInvokers(t *testing.T) {
	e := newEnv(t) // a balancer with 0 invokers
	e.putAction(actionsPath+"noinv", nil)
	wantError(t, e.guest(http.MethodPost, actionsPath+"noinv", map[string]any{}), http.StatusServiceUnavailable, "No invokers available: no invoker has registered yet.")
}

func TestBalancerHandleAck(t *testing.T) {
	// HandleAck ignores completion acks and acks nobody waits for, and
	// rejects what is not an acknowledgement.
	k := startKafka(t)
	ctx := context.Background()
	completion, err := json.Marshal(messaging.NewCompletionAck(messaging.NewTransactionID("x", time.Now()),
		api.NewActivationID(), false, messaging.NewInvokerInstanceID(0, 2048)))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.balancer.HandleAck(ctx, completion); err != nil {
		t.Errorf("completion ack: %v", err)
	}
	stray, err := json.Marshal(answer(api.StatusSuccess, nil)(messaging.ActivationMessage{ActivationID: api.NewActivationID()}))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.balancer.HandleAck(ctx, stray); err != nil {
		t.Errorf("ack without waiter: %v", err)
	}
	if err := k.balancer.HandleAck(ctx, []byte(`not json`)); err == nil {
		t.Error("garbage ack accepted")
	}
	if got := k.balancer.CompletedTopic(); got != "completed0" {
		t.Errorf("CompletedTopic = %q", got)
	}
}

func TestInvokeSeesActionUpdates(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("upd-act", silent)
	e.putAction(actionsPath+"upd-act", map[string]any{"parameters": []any{map[string]any{"key": "v", "value": 1}}})

	invoke := func() messaging.ActivationMessage {
		t.Helper()
		r := e.guest(http.MethodPost, actionsPath+"upd-act", nil)
		wantStatus(t, r, http.StatusAccepted)
		return k.inv.message(t, r.header.Get("x-openwhisk-activation-id"))
	}
	content := func(m messaging.ActivationMessage) string { return string(m.Content) }

	m1 := invoke()
	if content(m1) != `{"v":1}` || m1.Action.Version != "0.0.1" {
		t.Fatalf("first invoke: content %s version %s", m1.Content, m1.Action.Version)
	}
	invoke() // served from the controller's action cache, if any

	// An update is seen by the next invoke: new parameters, version, revision.
	e.guest(http.MethodPut, actionsPath+"upd-act?overwrite=true", map[string]any{
		"parameters": []any{map[string]any{"key": "v", "value": 2}}})
	doc, err := e.store.GetAction(context.Background(), "guest/upd-act")
	if err != nil {
		t.Fatal(err)
	}
	m2 := invoke()
	if content(m2) != `{"v":2}` || m2.Action.Version != "0.0.2" || m2.Revision != doc.Rev || m2.Revision == m1.Revision {
		t.Errorf("invoke after update: content %s version %s revision %s (doc %s, before %s)",
			m2.Content, m2.Action.Version, m2.Revision, doc.Rev, m1.Revision)
	}

	// A deleted action cannot be invoked; a re-created one runs its new code.
	wantStatus(t, e.guest(http.MethodDelete, actionsPath+"upd-act", nil), http.StatusOK)
	wantError(t, e.guest(http.MethodPost, actionsPath+"upd-act", nil), http.StatusNotFound, api.MsgNotFound)
	e.putAction(actionsPath+"upd-act", map[string]any{"parameters": []any{map[string]any{"key": "v", "value": 3}}})
	if m3 := invoke(); content(m3) != `{"v":3}` || m3.Action.Version != "0.0.1" {
		t.Errorf("invoke after re-create: content %s version %s", m3.Content, m3.Action.Version)
	}
}
