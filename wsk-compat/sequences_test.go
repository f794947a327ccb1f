package wskcompat

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// Test actions of the sequence scenarios.
const (
	seqIncJS    = `function main(p) { console.log('inc ' + p.n); return { n: (p.n || 0) + 1 }; }`
	seqDoublePy = "def main(args):\n    return {'n': args.get('n', 0) * 2}\n"
	seqFailJS   = `function main(p) { return { error: 'boom at ' + p.n }; }`
	// seqConductorJS runs INC twice (by a relative and by a fully qualified
	// name), then ends with {n, done}; a component error is handed back.
	seqConductorJS = `function main(p) {
  if (p.error) return { params: { failed: p.error } };
  if (p.step === undefined) return { action: p.next || 'INC', params: { n: p.n }, state: { step: 1 } };
  if (p.step === 1) return { action: '/_/INC', params: { n: p.n }, state: { step: 2 } };
  return { params: { n: p.n, done: true } };
}`
)

// sequenceAction builds a sequence for Actions.Insert, as `wsk action create
// --sequence` does ("/_/name" components).
func sequenceAction(name string, components ...string) *whisk.Action {
	qualified := make([]string, len(components))
	for i, c := range components {
		qualified[i] = "/_/" + c
	}
	return &whisk.Action{Name: name, Exec: &whisk.Exec{Kind: "sequence", Components: qualified}}
}

// TestSequences drives sequences and conductor actions through
// openwhisk-client-go against real nodejs and python actions.
func TestSequences(t *testing.T) {
	srv := harness.Start(t)
	c := srv.Client
	inc, double, fail := uniqueName("seq-inc"), uniqueName("seq-double"), uniqueName("seq-fail")
	mustInsert(t, c, newAction(inc, kindNode, seqIncJS), false)
	mustInsert(t, c, newAction(double, kindPython, seqDoublePy), false)
	mustInsert(t, c, newAction(fail, kindNode, seqFailJS), false)
	seq := uniqueName("seq")

	t.Run("create and get", func(t *testing.T) {
		got := mustInsert(t, c, sequenceAction(seq, inc, double, inc), false)
		want := []string{"/guest/" + inc, "/guest/" + double, "/guest/" + inc}
		if got.Exec == nil || got.Exec.Kind != "sequence" || strings.Join(got.Exec.Components, ",") != strings.Join(want, ",") {
			t.Fatalf("exec = %+v, want kind sequence with components %v", got.Exec, want)
		}
		if got.Exec.Code != nil || got.Exec.Binary != nil {
			t.Errorf("sequence exec has code or binary: %+v", got.Exec)
		}
		if len(got.Parameters) != 1 || got.Parameters[0].Key != "_actions" {
			t.Errorf("parameters = %v, want only _actions", got.Parameters)
		}
		if v, _ := clientAnnotation(got.Annotations, "exec"); v != "sequence" {
			t.Errorf("exec annotation = %v", v)
		}
		read, _, err := c.Actions.Get(seq, false)
		if err != nil || strings.Join(read.Exec.Components, ",") != strings.Join(want, ",") {
			t.Fatalf("GET: %v %+v", err, read)
		}
	})

	t.Run("blocking result pipes results through nodejs and python", func(t *testing.T) {
		got := invokeResult(t, c, seq, map[string]any{"n": 1})
		if got["n"] != 5.0 {
			t.Errorf("result = %v, want n = ((1+1)*2)+1 = 5", got)
		}
	})

	t.Run("activation record", func(t *testing.T) {
		rec, resp, err := invokeBlocking(t, c, seq, map[string]any{"n": 3})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("invoke: %s %v", status(resp), err)
		}
		if rec.Name != seq || rec.Response.Result["n"] != 9.0 || !rec.Response.Success {
			t.Errorf("record %s result %v", rec.Name, rec.Response.Result)
		}
		if len(rec.Logs) != 3 {
			t.Fatalf("logs = %v, want the 3 component ids", rec.Logs)
		}
		for k, v := range map[string]any{"topmost": true, "kind": "sequence", "path": "guest/" + seq} {
			if got, _ := annotation(rec.Annotations, k); got != v {
				t.Errorf("annotation %s = %v, want %v", k, got, v)
			}
		}
		lim, _ := annotation(rec.Annotations, "limits")
		if m, ok := lim.(map[string]any); !ok || m["memory"] != 256.0 {
			t.Errorf("limits annotation = %v, want memory 256", lim)
		}
		var sum int64
		for i, id := range rec.Logs {
			child := waitActivation(t, c, id, false)
			if child.Cause != rec.ActivationID {
				t.Errorf("component %d cause = %q, want %s", i, child.Cause, rec.ActivationID)
			}
			if v, _ := clientAnnotation(child.Annotations, "causedBy"); v != "sequence" {
				t.Errorf("component %d causedBy = %v", i, v)
			}
			sum += child.Duration
		}
		if rec.Duration != sum {
			t.Errorf("sequence duration %d, want the sum of the components' %d", rec.Duration, sum)
		}
		stored := waitActivation(t, c, rec.ActivationID, false)
		if strings.Join(stored.Logs, ",") != strings.Join(rec.Logs, ",") {
			t.Errorf("stored logs %v, answered %v", stored.Logs, rec.Logs)
		}
		logs, _, err := c.Activations.Logs(rec.ActivationID)
		if err != nil || strings.Join(logs.Logs, ",") != strings.Join(rec.Logs, ",") {
			t.Errorf("activation logs = %v (%v), want the component ids", logs, err)
		}
		list, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: seq, Limit: 10})
		if err != nil || len(list) == 0 {
			t.Errorf("activation list by name %s: %v %v", seq, list, err)
		}
	})

	t.Run("stops at the first error", func(t *testing.T) {
		broken := uniqueName("seq-broken")
		mustInsert(t, c, sequenceAction(broken, inc, fail, inc), false)
		rec, resp, err := invokeBlocking(t, c, broken, map[string]any{"n": 1})
		if msg := checkErrorResult(t, rec, resp, err, "application error"); msg != "boom at 2" {
			t.Errorf("error = %q, want the failing component's", msg)
		}
		if len(rec.Logs) != 2 {
			t.Errorf("logs = %v, want 2 ids: the last component never ran", rec.Logs)
		}
	})

	t.Run("non-blocking", func(t *testing.T) {
		res, resp, err := c.Actions.Invoke(seq, map[string]any{"n": 0}, false, false)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("invoke: %s %v", status(resp), err)
		}
		var body struct {
			ActivationID string `json:"activationId"`
		}
		reshape(t, res, &body)
		if !activationIDRe.MatchString(body.ActivationID) || resp.Header.Get("x-openwhisk-activation-id") != body.ActivationID {
			t.Fatalf("202 body %v", res)
		}
		a := waitActivation(t, c, body.ActivationID, true)
		if got := resultOf(t, a); got["n"] != 3.0 || len(a.Logs) != 3 {
			t.Errorf("result %v logs %v", got, a.Logs)
		}
	})

	t.Run("nested", func(t *testing.T) {
		outer := uniqueName("seq-outer")
		mustInsert(t, c, sequenceAction(outer, seq, double), false)
		rec, resp, err := invokeBlocking(t, c, outer, map[string]any{"n": 1})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("invoke: %s %v", status(resp), err)
		}
		if rec.Response.Result["n"] != 10.0 || len(rec.Logs) != 2 {
			t.Fatalf("result %v logs %v, want n=10 and 2 ids", rec.Response.Result, rec.Logs)
		}
		inner := waitActivation(t, c, rec.Logs[0], true)
		if inner.Name != seq || inner.Cause != rec.ActivationID || len(inner.Logs) != 3 {
			t.Errorf("inner record %s cause %q logs %v", inner.Name, inner.Cause, inner.Logs)
		}
		if v, _ := clientAnnotation(inner.Annotations, "topmost"); v != false {
			t.Errorf("inner topmost = %v", v)
		}
	})

	t.Run("validation", func(t *testing.T) {
		put := func(name, body string) rawResponse {
			return rawRequest(t, srv, http.MethodPut, "/api/v1/namespaces/_/actions/"+name, srv.Auth, strings.NewReader(body))
		}
		comps := func(names ...string) string {
			return `{"exec":{"kind":"sequence","components":["` + strings.Join(names, `","`) + `"]}}`
		}
		expectError(t, put(uniqueName("s"), `{"exec":{"kind":"sequence","components":[]}}`), 400, exact, "No component specified for the sequence.")
		expectError(t, put(uniqueName("s"), comps("/_/"+inc, "/_/nope-"+inc)), 400, exact, "Sequence component does not exist.")
		expectError(t, put(uniqueName("s"), `{"exec":{"kind":"sequence"}}`), 400, exact, msgMalformed+"'components' must be defined for sequence kind")
		expectError(t, put(uniqueName("s"), comps(inc)), 400, exact,
			msgMalformed+"The fully qualified name of the entity must contain at least the namespace and the name of the entity.")
		long := make([]string, 51)
		for i := range long {
			long[i] = "/_/" + inc
		}
		expectError(t, put(uniqueName("s"), comps(long...)), 400, exact, "Too many actions in the sequence.")
		fifty := uniqueName("s50")
		if r := put(fifty, comps(long[:50]...)); r.Status != http.StatusOK {
			t.Fatalf("50 components: %d %s", r.Status, r.Body)
		}
		expectError(t, put(uniqueName("s"), comps("/_/"+fifty, "/_/"+inc)), 400, exact, "Too many actions in the sequence.")
		expectError(t, put(seq+"?overwrite=true", comps("/_/"+seq)), 400, exact, "Sequence may not refer to itself.")
	})

	t.Run("component deleted", func(t *testing.T) {
		gone := uniqueName("seq-gone")
		mustInsert(t, c, newAction(gone, kindNode, seqIncJS), false)
		holey := uniqueName("seq-holey")
		mustInsert(t, c, sequenceAction(holey, inc, gone), false)
		if _, err := c.Actions.Delete(gone); err != nil {
			t.Fatal(err)
		}
		rec, resp, err := invokeBlocking(t, c, holey, map[string]any{"n": 1})
		if msg := checkErrorResult(t, rec, resp, err, "application error"); msg != "Sequence component does not exist." {
			t.Errorf("error = %q", msg)
		}
	})

	t.Run("conductor", func(t *testing.T) {
		cond := uniqueName("seq-conductor")
		a := newAction(cond, kindNode, strings.ReplaceAll(seqConductorJS, "INC", inc))
		a.Annotations = whisk.KeyValueArr{{Key: "conductor", Value: true}}
		mustInsert(t, c, a, false)

		rec, resp, err := invokeBlocking(t, c, cond, map[string]any{"n": 1})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("invoke: %s %v", status(resp), err)
		}
		if rec.Response.Result["n"] != 3.0 || rec.Response.Result["done"] != true {
			t.Errorf("result = %v, want {n:3, done:true}", rec.Response.Result)
		}
		if len(rec.Logs) != 5 {
			t.Fatalf("logs = %v, want conductor, %s, conductor, %s, conductor", rec.Logs, inc, inc)
		}
		for k, v := range map[string]any{"topmost": true, "kind": "sequence", "conductor": true} {
			if got, _ := annotation(rec.Annotations, k); got != v {
				t.Errorf("annotation %s = %v, want %v", k, got, v)
			}
		}
		for i, id := range rec.Logs {
			child := waitActivation(t, c, id, false)
			want := cond
			if i%2 == 1 {
				want = inc
			}
			if child.Name != want || child.Cause != rec.ActivationID {
				t.Errorf("activation %d: %s cause %q, want %s cause %s", i, child.Name, child.Cause, want, rec.ActivationID)
			}
		}

		// A name that does not resolve goes back to the conductor as an error.
		got := invokeResult(t, c, cond, map[string]any{"n": 1, "next": "nope"})
		if want := fmt.Sprintf("Failed to resolve action with name '%s/nope' during composition.", harness.GuestNamespace); got["failed"] != want {
			t.Errorf("result = %v, want failed = %q", got, want)
		}
	})
}
