package controller_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
)

// Sequence and conductor tests use action names starting with "sq" or "cd"
// (the fake invoker's behaviours are shared by name).

const malformed = "The request content was malformed:\n"

// putSequence writes a sequence and returns the answer.
func (e *env) putSequence(name string, overwrite bool, components ...string) *response {
	e.t.Helper()
	path := actionsPath + name
	if components == nil {
		components = []string{}
	}
	if overwrite {
		path += "?overwrite=true"
	}
	return e.guest(http.MethodPut, path, map[string]any{"exec": map[string]any{"kind": "sequence", "components": components}})
}

// computed answers with the result f computes from the arguments, with a
// limits annotation carrying memory, like the invoker's records.
func computed(memory int, f func(args map[string]any) (int, any)) behaviour {
	return func(m messaging.ActivationMessage) *messaging.AcknowledgementMessage {
		var args map[string]any
		_ = json.Unmarshal(m.Content, &args)
		status, result := f(args)
		raw, err := json.Marshal(result)
		if err != nil {
			panic(err)
		}
		rec := record(m, status, raw)
		rec.Annotations = rec.Annotations.Set("limits", api.ActionLimits{Timeout: 60000, Memory: memory, Logs: 10, Concurrency: 1})
		b, err := json.Marshal(rec)
		if err != nil {
			panic(err)
		}
		ack, err := messaging.NewResultAck(m.TransID, b)
		if err != nil {
			panic(err)
		}
		return &ack
	}
}

// increment answers {"n": n+1}.
func increment(memory int) behaviour {
	return computed(memory, func(args map[string]any) (int, any) {
		n, _ := args["n"].(float64)
		return api.StatusSuccess, map[string]any{"n": n + 1}
	})
}

// activationRecord reads an activation through the API.
func (e *env) activationRecord(id string) map[string]any {
	e.t.Helper()
	r := e.guest(http.MethodGet, activationsPath+"/"+id, nil)
	wantStatus(e.t, r, http.StatusOK)
	return r.object(e.t)
}

// waitRecord polls for an activation record written in the background.
func (e *env) waitRecord(id string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.guest(http.MethodGet, activationsPath+"/"+id, nil)
		if r.status == http.StatusOK {
			return r.object(e.t)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("activation %s not stored: %d %s", id, r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func logsOf(t *testing.T, rec map[string]any) []string {
	t.Helper()
	raw, ok := rec["logs"].([]any)
	if !ok {
		t.Fatalf("logs = %v, want an array", rec["logs"])
	}
	out := make([]string, len(raw))
	for i, v := range raw {
		out[i], _ = v.(string)
	}
	return out
}

func resultMap(t *testing.T, rec map[string]any) map[string]any {
	t.Helper()
	resp, _ := rec["response"].(map[string]any)
	res, ok := resp["result"].(map[string]any)
	if !ok {
		t.Fatalf("response.result = %v, want an object", rec["response"])
	}
	return res
}

// wantAnnotations checks annotation values (JSON-decoded form).
func wantAnnotations(t *testing.T, rec map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, ok := annotation(t, rec, k)
		if !ok {
			t.Errorf("annotation %q missing; annotations %v", k, rec["annotations"])
			continue
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("annotation %q = %#v, want %#v", k, got, v)
		}
	}
}

// causeOf returns the cause of the activation message with id.
func causeOf(t *testing.T, k *kafkaEnv, id string) string {
	t.Helper()
	return k.inv.message(t, id).Cause
}

// noMessageFor fails if the invoker ever got a message for the action name.
func noMessageFor(t *testing.T, k *kafkaEnv, name string) {
	t.Helper()
	k.inv.mu.Lock()
	defer k.inv.mu.Unlock()
	for _, m := range k.inv.got {
		if m.Action.Name == name {
			t.Errorf("invoker received an activation for %s", name)
		}
	}
}

func TestSequencePut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.putAction(actionsPath+"sqa", nil)
	e.putAction(actionsPath+"sqb", nil)

	r := e.putSequence("sqab", false, "/_/sqa", "/guest/sqb")
	wantStatus(t, r, http.StatusOK)
	var got struct {
		Exec        json.RawMessage `json:"exec"`
		Parameters  json.RawMessage `json:"parameters"`
		Annotations json.RawMessage `json:"annotations"`
		Limits      api.ActionLimits
	}
	r.json(t, &got)
	if want := `{"kind":"sequence","components":["/guest/sqa","/guest/sqb"]}`; string(got.Exec) != want {
		t.Errorf("exec = %s, want %s", got.Exec, want)
	}
	if want := `[{"key":"_actions","value":["/guest/sqa","/guest/sqb"]}]`; string(got.Parameters) != want {
		t.Errorf("parameters = %s, want %s", got.Parameters, want)
	}
	obj := r.object(t)
	wantAnnotations(t, obj, map[string]any{"exec": "sequence", "provide-api-key": false})
	if got.Limits != api.DefaultLimits().Defaults() {
		t.Errorf("limits = %+v, want the defaults", got.Limits)
	}
	// GET answers the same exec, with or without code.
	for _, q := range []string{"", "?code=false"} {
		r := e.guest(http.MethodGet, actionsPath+"sqab"+q, nil)
		wantStatus(t, r, http.StatusOK)
		var g struct {
			Exec json.RawMessage `json:"exec"`
		}
		r.json(t, &g)
		if string(g.Exec) != string(got.Exec) {
			t.Errorf("GET%s exec = %s, want %s", q, g.Exec, got.Exec)
		}
	}

	t.Run("update keeps the _actions parameter", func(t *testing.T) {
		r := e.guest(http.MethodPut, actionsPath+"sqab?overwrite=true", map[string]any{
			"parameters":  []any{map[string]any{"key": "x", "value": 1}},
			"annotations": []any{map[string]any{"key": "note", "value": "n"}},
		})
		wantStatus(t, r, http.StatusOK)
		var g struct {
			Exec       json.RawMessage `json:"exec"`
			Parameters json.RawMessage `json:"parameters"`
			Version    string          `json:"version"`
		}
		r.json(t, &g)
		if want := `[{"key":"_actions","value":["/guest/sqa","/guest/sqb"]}]`; string(g.Parameters) != want || g.Version != "0.0.2" {
			t.Errorf("after update: parameters %s version %s, want %s and 0.0.2", g.Parameters, g.Version, want)
		}
		// Turning the sequence into code drops _actions.
		e.putSequence("sqtocode", false, "/_/sqa")
		r = e.guest(http.MethodPut, actionsPath+"sqtocode?overwrite=true", map[string]any{"exec": map[string]any{"kind": "nodejs:default", "code": nodeCode}})
		wantStatus(t, r, http.StatusOK)
		if p := r.object(t)["parameters"].([]any); len(p) != 0 {
			t.Errorf("code action made from a sequence has parameters %v", p)
		}
		// And code into a sequence replaces the parameters.
		e.putAction(actionsPath+"sqtoseq", map[string]any{"parameters": []any{map[string]any{"key": "p", "value": 1}}})
		r = e.putSequence("sqtoseq", true, "/_/sqa")
		wantStatus(t, r, http.StatusOK)
		r.json(t, &g)
		if want := `[{"key":"_actions","value":["/guest/sqa"]}]`; string(g.Parameters) != want {
			t.Errorf("sequence made from code: parameters %s, want %s", g.Parameters, want)
		}
	})

	t.Run("validation", func(t *testing.T) {
		wantError(t, e.putSequence("sqempty", false), http.StatusBadRequest, "No component specified for the sequence.")
		wantError(t, e.putSequence("sqmissing", false, "/_/sqa", "/_/sqnope"), http.StatusBadRequest, "Sequence component does not exist.")
		wantError(t, e.putSequence("sqdeep", false, "/_/a/b/c"), http.StatusBadRequest, "Sequence component does not exist.")
		wantError(t, e.putSequence("sqself", false, "/_/sqself"), http.StatusBadRequest, "Sequence component does not exist.")
		long := make([]string, 51)
		for i := range long {
			long[i] = "/_/sqa"
		}
		wantError(t, e.putSequence("sqlong", false, long...), http.StatusBadRequest, "Too many actions in the sequence.")
		wantStatus(t, e.putSequence("sq50", false, long[:50]...), http.StatusOK)
		// Nested sequences are inlined for the count: 50 + 1 > 50.
		wantError(t, e.putSequence("sqnested", false, "/_/sq50", "/_/sqa"), http.StatusBadRequest, "Too many actions in the sequence.")
		wantStatus(t, e.putSequence("sq25", false, long[:25]...), http.StatusOK)
		wantStatus(t, e.putSequence("sq25x2", false, "/_/sq25", "/_/sq25"), http.StatusOK)

		// Cycles, direct and through another sequence.
		wantStatus(t, e.putSequence("sqx", false, "/_/sqa"), http.StatusOK)
		wantStatus(t, e.putSequence("sqy", false, "/_/sqx"), http.StatusOK)
		wantError(t, e.putSequence("sqx", true, "/_/sqx"), http.StatusBadRequest, "Sequence may not refer to itself.")
		wantError(t, e.putSequence("sqx", true, "/_/sqy"), http.StatusBadRequest, "Sequence may not refer to itself.")
		// An action may not become a sequence of itself either.
		wantError(t, e.putSequence("sqa", true, "/_/sqb", "/_/sqa"), http.StatusBadRequest, "Sequence may not refer to itself.")

		// Another namespace's action outside a package is not the caller's to use.
		r := e.do(http.MethodPut, "/api/v1/namespaces/_/actions/sysa", systemAuth, map[string]any{"exec": map[string]any{"kind": "nodejs:default", "code": nodeCode}})
		wantStatus(t, r, http.StatusOK)
		r = e.putSequence("sqforeign", false, "/whisk.system/sysa")
		if r.status != http.StatusForbidden {
			t.Errorf("sequence of another namespace's action: status %d %s, want 403", r.status, r.body)
		}

		// Malformed execs.
		for body, msg := range map[string]string{
			`{"exec":{"kind":"sequence"}}`:                           malformed + "'components' must be defined for sequence kind",
			`{"exec":{"kind":"sequence","components":"/_/sqa"}}`:     malformed + "'components' must be an array",
			`{"exec":{"kind":"sequence","components":null}}`:         malformed + "'components' must be an array",
			`{"exec":{"kind":"sequence","components":["sqa"]}}`:      malformed + api.MsgMalformedFQN,
			`{"exec":{"kind":"sequence","components":["/_/a$b"]}}`:   malformed + api.MsgIllegalName,
			`{"exec":{"kind":"sequence","components":[42]}}`:         malformed + "fully qualified name malformed",
			`{"exec":{"kind":" Sequence ","components":["/_/sqz"]}}`: "Sequence component does not exist.",
		} {
			wantError(t, e.guest(http.MethodPut, actionsPath+"sqbad", []byte(body)), http.StatusBadRequest, msg)
		}
		// The {"path","name"} form is accepted too.
		r = e.guest(http.MethodPut, actionsPath+"sqobj", []byte(`{"exec":{"kind":"sequence","components":[{"path":"_","name":"sqa"}]}}`))
		wantStatus(t, r, http.StatusOK)
		if c := r.object(t)["exec"].(map[string]any)["components"]; !reflect.DeepEqual(c, []any{"/guest/sqa"}) {
			t.Errorf("components = %v", c)
		}
	})
}

func TestSequenceInvoke(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("sqinc", increment(256))
	k.inv.on("sqbig", increment(512))
	k.inv.on("sqfail", computed(128, func(map[string]any) (int, any) {
		return api.StatusApplicationError, map[string]any{"error": "boom"}
	}))
	for _, name := range []string{"sqinc", "sqbig", "sqfail"} {
		e.putAction(actionsPath+name, nil)
	}
	wantStatus(t, e.putSequence("sqthree", false, "/_/sqinc", "/_/sqbig", "/_/sqinc"), http.StatusOK)

	t.Run("blocking result pipes each result to the next", func(t *testing.T) {
		r := e.guest(http.MethodPost, actionsPath+"sqthree?blocking=true&result=true", map[string]any{"n": 1})
		wantStatus(t, r, http.StatusOK)
		if got := string(r.body); got != `{"n":4}` {
			t.Errorf("result = %s, want {\"n\":4}", got)
		}
	})

	t.Run("record", func(t *testing.T) {
		r := e.guest(http.MethodPost, actionsPath+"sqthree?blocking=true", map[string]any{"n": 10})
		wantStatus(t, r, http.StatusOK)
		rec := r.object(t)
		id, _ := rec["activationId"].(string)
		if api.CheckActivationID(id) != nil || r.header.Get("x-openwhisk-activation-id") != id {
			t.Fatalf("activationId %q, header %q", id, r.header.Get("x-openwhisk-activation-id"))
		}
		if rec["name"] != "sqthree" || rec["namespace"] != "guest" || rec["subject"] != "guest" {
			t.Errorf("record names %v %v %v", rec["name"], rec["namespace"], rec["subject"])
		}
		if _, ok := rec["cause"]; ok {
			t.Errorf("topmost sequence has a cause: %v", rec["cause"])
		}
		if got := resultMap(t, rec); got["n"] != 13.0 {
			t.Errorf("result = %v, want n=13", got)
		}
		resp := rec["response"].(map[string]any)
		if resp["status"] != "success" || resp["success"] != true {
			t.Errorf("response = %v", resp)
		}
		logs := logsOf(t, rec)
		if len(logs) != 3 {
			t.Fatalf("logs = %v, want the 3 component activation ids", logs)
		}
		var firstArgs map[string]any
		for i, child := range logs {
			m := k.inv.message(t, child)
			if m.Cause != id || !m.Blocking {
				t.Errorf("component %d: cause %q blocking %v, want cause %s and blocking", i, m.Cause, m.Blocking, id)
			}
			if want := []string{"sqinc", "sqbig", "sqinc"}[i]; m.Action.Name != want {
				t.Errorf("component %d ran %s, want %s", i, m.Action.Name, want)
			}
			if i == 0 {
				_ = json.Unmarshal(m.Content, &firstArgs)
			}
		}
		if !reflect.DeepEqual(firstArgs, map[string]any{"n": 10.0}) {
			t.Errorf("first component got %v, want the payload alone (not the sequence's _actions)", firstArgs)
		}
		if d, _ := rec["duration"].(float64); d != 36 {
			t.Errorf("duration = %v, want the sum of the components' (3 x 12)", rec["duration"])
		}
		wantAnnotations(t, rec, map[string]any{
			"topmost": true, "path": "guest/sqthree", "kind": "sequence",
			"limits": map[string]any{"timeout": 60000.0, "memory": 512.0, "logs": 10.0, "concurrency": 1.0},
		})
		if _, ok := annotation(t, rec, "waitTime"); !ok {
			t.Error("no waitTime annotation")
		}
		if _, ok := annotation(t, rec, "causedBy"); ok {
			t.Error("topmost sequence has causedBy")
		}
		stored := e.activationRecord(id)
		if !reflect.DeepEqual(stored["logs"], rec["logs"]) || !reflect.DeepEqual(stored["response"], rec["response"]) ||
			!reflect.DeepEqual(stored["annotations"], rec["annotations"]) {
			t.Errorf("stored record %v differs from the answer %v", stored, rec)
		}
		noMessageFor(t, k, "sqthree")
	})

	t.Run("stops at the first error", func(t *testing.T) {
		wantStatus(t, e.putSequence("sqstop", false, "/_/sqinc", "/_/sqfail", "/_/sqinc"), http.StatusOK)
		r := e.guest(http.MethodPost, actionsPath+"sqstop?blocking=true", map[string]any{"n": 1})
		wantStatus(t, r, http.StatusBadGateway)
		rec := r.object(t)
		if got := resultMap(t, rec); !reflect.DeepEqual(got, map[string]any{"error": "boom"}) {
			t.Errorf("result = %v, want the failing component's", got)
		}
		if resp := rec["response"].(map[string]any); resp["status"] != "application error" {
			t.Errorf("status = %v", resp["status"])
		}
		if logs := logsOf(t, rec); len(logs) != 2 {
			t.Errorf("logs = %v, want 2 ids (the third component never ran)", logs)
		}
		r = e.guest(http.MethodPost, actionsPath+"sqstop?blocking=true&result=true", map[string]any{"n": 1})
		wantStatus(t, r, http.StatusBadGateway)
		if string(r.body) != `{"error":"boom"}` {
			t.Errorf("result = %s", r.body)
		}
	})

	t.Run("non-blocking answers 202 and runs to the end", func(t *testing.T) {
		r := e.guest(http.MethodPost, actionsPath+"sqthree", map[string]any{"n": 0})
		wantStatus(t, r, http.StatusAccepted)
		var body map[string]string
		r.json(t, &body)
		id := body["activationId"]
		if api.CheckActivationID(id) != nil || r.header.Get("x-openwhisk-activation-id") != id {
			t.Fatalf("202 body %s", r.body)
		}
		rec := e.waitRecord(id)
		if got := resultMap(t, rec); got["n"] != 3.0 || len(logsOf(t, rec)) != 3 {
			t.Errorf("record result %v logs %v", got, rec["logs"])
		}
		for _, child := range logsOf(t, rec) {
			if c := causeOf(t, k, child); c != id {
				t.Errorf("component cause %q, want %s", c, id)
			}
		}
	})

	t.Run("nested sequences", func(t *testing.T) {
		wantStatus(t, e.putSequence("sqinner", false, "/_/sqinc", "/_/sqinc"), http.StatusOK)
		wantStatus(t, e.putSequence("sqouter", false, "/_/sqinner", "/_/sqbig"), http.StatusOK)
		r := e.guest(http.MethodPost, actionsPath+"sqouter?blocking=true", map[string]any{"n": 0})
		wantStatus(t, r, http.StatusOK)
		outer := r.object(t)
		if got := resultMap(t, outer); got["n"] != 3.0 {
			t.Errorf("result = %v, want n=3", got)
		}
		logs := logsOf(t, outer)
		if len(logs) != 2 {
			t.Fatalf("outer logs = %v, want the inner sequence's id and one action's", logs)
		}
		inner := e.activationRecord(logs[0])
		if inner["name"] != "sqinner" || inner["cause"] != outer["activationId"] {
			t.Errorf("inner record name %v cause %v, want sqinner caused by %v", inner["name"], inner["cause"], outer["activationId"])
		}
		wantAnnotations(t, inner, map[string]any{"topmost": false, "causedBy": "sequence", "kind": "sequence", "path": "guest/sqinner"})
		innerLogs := logsOf(t, inner)
		if len(innerLogs) != 2 {
			t.Fatalf("inner logs = %v", innerLogs)
		}
		for _, child := range innerLogs {
			if c := causeOf(t, k, child); c != logs[0] {
				t.Errorf("inner component cause %q, want the inner sequence %s", c, logs[0])
			}
		}
		if c := causeOf(t, k, logs[1]); c != outer["activationId"] {
			t.Errorf("outer component cause %q", c)
		}
		if d, _ := outer["duration"].(float64); d != 36 {
			t.Errorf("outer duration = %v, want 24 (inner) + 12", outer["duration"])
		}
		if lim, _ := annotation(t, outer, "limits"); lim.(map[string]any)["memory"] != 512.0 {
			t.Errorf("outer limits = %v, want memory 512", lim)
		}
		noMessageFor(t, k, "sqinner")
	})

	t.Run("component deleted after create", func(t *testing.T) {
		e.putAction(actionsPath+"sqgone", nil)
		wantStatus(t, e.putSequence("sqholes", false, "/_/sqinc", "/_/sqgone"), http.StatusOK)
		wantStatus(t, e.guest(http.MethodDelete, actionsPath+"sqgone", nil), http.StatusOK)
		r := e.guest(http.MethodPost, actionsPath+"sqholes?blocking=true", map[string]any{"n": 0})
		wantStatus(t, r, http.StatusBadGateway)
		rec := r.object(t)
		if got := resultMap(t, rec); got["error"] != "Sequence component does not exist." {
			t.Errorf("result = %v", got)
		}
		if resp := rec["response"].(map[string]any); resp["status"] != "application error" {
			t.Errorf("status = %v", resp["status"])
		}
		if logs := logsOf(t, rec); len(logs) != 1 {
			t.Errorf("logs = %v, want the first component's id", logs)
		}
	})

	t.Run("atomic action limit at run time", func(t *testing.T) {
		// 50 one-action sequences pass the check; then each grows to three:
		// the 17th stops inside, at its third action (16*3 + 2 = 50).
		wantStatus(t, e.putSequence("sqone", false, "/_/sqinc"), http.StatusOK)
		fifty := make([]string, 50)
		for i := range fifty {
			fifty[i] = "/_/sqone"
		}
		wantStatus(t, e.putSequence("sqfifty", false, fifty...), http.StatusOK)
		wantStatus(t, e.putSequence("sqone", true, "/_/sqinc", "/_/sqinc", "/_/sqinc"), http.StatusOK)
		r := e.guest(http.MethodPost, actionsPath+"sqfifty?blocking=true", map[string]any{"n": 0})
		wantStatus(t, r, http.StatusBadGateway)
		rec := r.object(t)
		if got := resultMap(t, rec); got["error"] != "Too many actions in the sequence." {
			t.Errorf("result = %v", got)
		}
		logs := logsOf(t, rec)
		if len(logs) != 17 {
			t.Fatalf("logs = %d ids, want 17 (16 full inner sequences and the one that hit the limit)", len(logs))
		}
		last := e.activationRecord(logs[16])
		if got := resultMap(t, last); got["error"] != "Too many actions in the sequence." || len(logsOf(t, last)) != 2 {
			t.Errorf("last inner sequence: result %v logs %v", got, last["logs"])
		}
	})

	t.Run("blocking wait runs out", func(t *testing.T) {
		k.inv.on("sqslow", func(m messaging.ActivationMessage) *messaging.AcknowledgementMessage {
			time.Sleep(400 * time.Millisecond)
			return increment(256)(m)
		})
		e.putAction(actionsPath+"sqslow", nil)
		wantStatus(t, e.putSequence("sqwait", false, "/_/sqslow"), http.StatusOK)
		r := e.guest(http.MethodPost, actionsPath+"sqwait?blocking=true&timeout=50", map[string]any{"n": 0})
		wantStatus(t, r, http.StatusAccepted)
		var body map[string]string
		r.json(t, &body)
		rec := e.waitRecord(body["activationId"])
		if got := resultMap(t, rec); got["n"] != 1.0 {
			t.Errorf("result = %v", got)
		}
	})

	t.Run("final parameters of the sequence", func(t *testing.T) {
		wantStatus(t, e.putSequence("sqfinal", false, "/_/sqinc"), http.StatusOK)
		r := e.guest(http.MethodPut, actionsPath+"sqfinal?overwrite=true", map[string]any{"annotations": []any{map[string]any{"key": "final", "value": true}}})
		wantStatus(t, r, http.StatusOK)
		wantError(t, e.guest(http.MethodPost, actionsPath+"sqfinal?blocking=true", map[string]any{"_actions": []string{}}),
			http.StatusBadRequest, api.MsgReservedParams)
	})
}

// conductorSteps is a conductor: run sqinc twice (once by a relative, once by
// a fully qualified name), then end with {n, done: true}.
func conductorSteps(args map[string]any) (int, any) {
	n := args["n"]
	switch args["step"] {
	case nil:
		return api.StatusSuccess, map[string]any{"action": "cdinc", "params": map[string]any{"n": n}, "state": map[string]any{"step": 1}}
	case 1.0:
		return api.StatusSuccess, map[string]any{"action": "/_/cdinc", "params": map[string]any{"n": n}, "state": map[string]any{"step": 2}}
	default:
		return api.StatusSuccess, map[string]any{"params": map[string]any{"n": n, "done": true}}
	}
}

func TestConductor(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("cdinc", increment(512))
	k.inv.on("cdsteps", computed(256, conductorSteps))
	conductor := map[string]any{"annotations": []any{map[string]any{"key": "conductor", "value": true}}}
	e.putAction(actionsPath+"cdinc", nil)
	e.putAction(actionsPath+"cdsteps", conductor)

	t.Run("composition", func(t *testing.T) {
		r := e.guest(http.MethodPost, actionsPath+"cdsteps?blocking=true", map[string]any{"n": 1})
		wantStatus(t, r, http.StatusOK)
		rec := r.object(t)
		id := rec["activationId"].(string)
		if got := resultMap(t, rec); !reflect.DeepEqual(got, map[string]any{"n": 3.0, "done": true}) {
			t.Errorf("result = %v, want {n:3, done:true}", got)
		}
		logs := logsOf(t, rec)
		want := []string{"cdsteps", "cdinc", "cdsteps", "cdinc", "cdsteps"}
		if len(logs) != len(want) {
			t.Fatalf("logs = %v, want %d ids (conductor, component, ...)", logs, len(want))
		}
		for i, child := range logs {
			m := k.inv.message(t, child)
			if m.Action.Name != want[i] || m.Cause != id {
				t.Errorf("activation %d: %s caused by %q, want %s caused by %s", i, m.Action.Name, m.Cause, want[i], id)
			}
			if i == 2 { // the state of the previous conductor run is merged into the component's result
				var args map[string]any
				_ = json.Unmarshal(m.Content, &args)
				if !reflect.DeepEqual(args, map[string]any{"n": 2.0, "step": 1.0}) {
					t.Errorf("second conductor run got %v, want {n:2, step:1}", args)
				}
			}
		}
		if d, _ := rec["duration"].(float64); d != 60 {
			t.Errorf("duration = %v, want 5 x 12", rec["duration"])
		}
		wantAnnotations(t, rec, map[string]any{
			"topmost": true, "path": "guest/cdsteps", "kind": "sequence", "conductor": true,
			"limits": map[string]any{"timeout": 60000.0, "memory": 512.0, "logs": 10.0, "concurrency": 1.0},
		})
		stored := e.activationRecord(id)
		if !reflect.DeepEqual(stored["logs"], rec["logs"]) {
			t.Errorf("stored logs %v", stored["logs"])
		}
	})

	t.Run("errors go back to the conductor", func(t *testing.T) {
		// This conductor names what its input says and returns what it is told.
		k.inv.on("cdecho", computed(256, func(args map[string]any) (int, any) {
			if next, ok := args["next"]; ok {
				return api.StatusSuccess, map[string]any{"action": next}
			}
			return api.StatusSuccess, map[string]any{"params": args}
		}))
		e.putAction(actionsPath+"cdecho", conductor)
		for next, msg := range map[any]string{
			"cdnope":          "Failed to resolve action with name 'guest/cdnope' during composition.",
			42:                "Failed to parse action name from json value 42 during composition.",
			"/cdinc":          `Failed to parse action name from json value "/cdinc" during composition.`,
			"/whisk.system/x": "Failed entitlement check for action with name 'whisk.system/x' during composition.",
		} {
			r := e.guest(http.MethodPost, actionsPath+"cdecho?blocking=true&result=true", map[string]any{"next": next})
			wantStatus(t, r, http.StatusOK)
			var got map[string]any
			r.json(t, &got)
			if got["error"] != msg {
				t.Errorf("next %v: conductor got %v, want error %q", next, got, msg)
			}
		}
	})

	t.Run("result without params ends with the whole result", func(t *testing.T) {
		k.inv.on("cdplain", computed(256, func(map[string]any) (int, any) {
			return api.StatusApplicationError, map[string]any{"error": "done badly"}
		}))
		e.putAction(actionsPath+"cdplain", conductor)
		r := e.guest(http.MethodPost, actionsPath+"cdplain?blocking=true", nil)
		wantStatus(t, r, http.StatusBadGateway)
		rec := r.object(t)
		if got := resultMap(t, rec); got["error"] != "done badly" || len(logsOf(t, rec)) != 1 {
			t.Errorf("result %v logs %v", got, rec["logs"])
		}
	})

	t.Run("too many components", func(t *testing.T) {
		// Always asks for one more component; after 50 it is told to stop.
		k.inv.on("cdloop", computed(256, func(args map[string]any) (int, any) {
			if e, ok := args["error"]; ok {
				return api.StatusSuccess, map[string]any{"params": map[string]any{"stopped": e}}
			}
			return api.StatusSuccess, map[string]any{"action": "cdinc"}
		}))
		e.putAction(actionsPath+"cdloop", conductor)
		r := e.guest(http.MethodPost, actionsPath+"cdloop?blocking=true", map[string]any{})
		wantStatus(t, r, http.StatusOK)
		rec := r.object(t)
		if got := resultMap(t, rec); got["stopped"] != "Too many actions in the composition." {
			t.Errorf("result = %v", got)
		}
		// 50 components, each after a conductor run; the 51st conductor run
		// asks for one more and the 52nd is told it is too many.
		if logs := logsOf(t, rec); len(logs) != 50+52 {
			t.Errorf("logs = %d ids, want 50 components and 52 conductor runs", len(logs))
		}
	})

	t.Run("sequence components and conductors in sequences", func(t *testing.T) {
		k.inv.on("cdcallseq", computed(256, func(args map[string]any) (int, any) {
			if args["step"] == nil {
				return api.StatusSuccess, map[string]any{"action": "cdseq", "params": map[string]any{"n": args["n"]}, "state": map[string]any{"step": 1}}
			}
			return api.StatusSuccess, map[string]any{"params": map[string]any{"n": args["n"]}}
		}))
		e.putAction(actionsPath+"cdcallseq", conductor)
		wantStatus(t, e.putSequence("cdseq", false, "/_/cdinc", "/_/cdinc"), http.StatusOK)
		wantStatus(t, e.putSequence("cdwrap", false, "/_/cdcallseq", "/_/cdinc"), http.StatusOK)
		r := e.guest(http.MethodPost, actionsPath+"cdwrap?blocking=true", map[string]any{"n": 0})
		wantStatus(t, r, http.StatusOK)
		wrap := r.object(t)
		if got := resultMap(t, wrap); got["n"] != 3.0 {
			t.Errorf("result = %v, want n=3", got)
		}
		logs := logsOf(t, wrap)
		if len(logs) != 2 {
			t.Fatalf("sequence logs %v", logs)
		}
		comp := e.activationRecord(logs[0])
		if comp["name"] != "cdcallseq" || comp["cause"] != wrap["activationId"] {
			t.Errorf("composition record %v caused by %v", comp["name"], comp["cause"])
		}
		wantAnnotations(t, comp, map[string]any{"topmost": false, "conductor": true, "causedBy": "sequence"})
		compLogs := logsOf(t, comp)
		if len(compLogs) != 3 {
			t.Fatalf("composition logs %v, want conductor, sequence, conductor", compLogs)
		}
		inner := e.activationRecord(compLogs[1])
		if inner["name"] != "cdseq" || inner["cause"] != comp["activationId"] {
			t.Errorf("inner sequence %v caused by %v", inner["name"], inner["cause"])
		}
		noMessageFor(t, k, "cdseq")
	})

	t.Run("non-blocking", func(t *testing.T) {
		r := e.guest(http.MethodPost, actionsPath+"cdsteps", map[string]any{"n": 5})
		wantStatus(t, r, http.StatusAccepted)
		var body map[string]string
		r.json(t, &body)
		rec := e.waitRecord(body["activationId"])
		if got := resultMap(t, rec); got["n"] != 7.0 {
			t.Errorf("result = %v", got)
		}
	})
}

// TestSequenceThroughPackages runs a packaged sequence through a binding:
// components in packages resolve, the record names the real path and the
// binding, and parameters of the package reach the components (not the
// sequence).
func TestSequenceThroughPackages(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("sqpkginc", increment(256))
	const pkgs = "/api/v1/namespaces/_/packages/"
	wantStatus(t, e.guest(http.MethodPut, pkgs+"sqpkg", map[string]any{
		"parameters": []any{map[string]any{"key": "fromPackage", "value": true}},
	}), http.StatusOK)
	wantStatus(t, e.guest(http.MethodPut, pkgs+"sqbind", map[string]any{
		"binding": map[string]any{"namespace": "_", "name": "sqpkg"},
	}), http.StatusOK)
	e.putAction(actionsPath+"sqpkg/sqpkginc", nil)
	wantStatus(t, e.putSequence("sqpkg/sqpkgseq", false, "/_/sqpkg/sqpkginc", "/_/sqbind/sqpkginc"), http.StatusOK)

	r := e.guest(http.MethodPost, actionsPath+"sqbind/sqpkgseq?blocking=true", map[string]any{"n": 1})
	wantStatus(t, r, http.StatusOK)
	rec := r.object(t)
	if got := resultMap(t, rec); got["n"] != 3.0 {
		t.Errorf("result = %v, want n=3", got)
	}
	wantAnnotations(t, rec, map[string]any{"path": "guest/sqpkg/sqpkgseq", "binding": "guest/sqbind"})
	logs := logsOf(t, rec)
	if len(logs) != 2 {
		t.Fatalf("logs = %v", logs)
	}
	m := k.inv.message(t, logs[0])
	var args map[string]any
	_ = json.Unmarshal(m.Content, &args)
	if args["fromPackage"] != true || args["_actions"] != nil {
		t.Errorf("first component got %v, want the package's parameter and no _actions", args)
	}
	if m2 := k.inv.message(t, logs[1]); m2.Action.Binding != "guest/sqbind" || m2.Action.Path != "guest/sqpkg" {
		t.Errorf("second component ran as %+v, want sqpkg/sqpkginc through the binding", m2.Action)
	}
}

// TestSequencePipesArrays: a component's array result is the next
// component's whole input, without that component's parameters (upstream's
// rule), through nested sequences too.
func TestSequencePipesArrays(t *testing.T) {
	t.Parallel()
	e := newInvokeEnv(t)
	k := startKafka(t)
	k.inv.on("sqarray", computed(256, func(map[string]any) (int, any) {
		return api.StatusSuccess, []any{1, "two", map[string]any{"three": 3}}
	}))
	e.putAction(actionsPath+"sqarray", nil)
	e.putAction(actionsPath+"sqecho", map[string]any{"parameters": []map[string]any{{"key": "param", "value": "not merged into an array"}}})
	wantStatus(t, e.putSequence("sqarrinner", false, "/_/sqecho"), http.StatusOK)
	wantStatus(t, e.putSequence("sqarrays", false, "/_/sqarray", "/_/sqecho", "/_/sqarrinner"), http.StatusOK)

	r := e.guest(http.MethodPost, actionsPath+"sqarrays?blocking=true", map[string]any{"n": 1})
	wantStatus(t, r, http.StatusOK)
	// A blocking invoke answers an array result as is (upstream's rule).
	if got := string(r.body); got != `[1,"two",{"three":3}]` {
		t.Errorf("sequence result %s, want the array passed through", got)
	}
	rec := e.waitRecord(r.header.Get("x-openwhisk-activation-id"))
	logs := logsOf(t, rec)
	if len(logs) != 3 {
		t.Fatalf("logs %v, want 3 component ids", logs)
	}
	if m := k.inv.message(t, logs[1]); string(m.Content) != `[1,"two",{"three":3}]` {
		t.Errorf("the component after an array result got %s, want the array alone", m.Content)
	}
}
