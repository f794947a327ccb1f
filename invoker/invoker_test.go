package invoker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
	"github.com/brisk-serverless/brisk/store/embedded"
)

const (
	testAPIKey  = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	testAPIHost = "http://api.brisk.test"
)

// ackRouter hands the acknowledgements read from completed0 to the test
// waiting for their activation.
type ackRouter struct {
	mu    sync.Mutex
	chans map[string]chan messaging.AcknowledgementMessage
	bad   []string
}

func (r *ackRouter) expect(id string) <-chan messaging.AcknowledgementMessage {
	ch := make(chan messaging.AcknowledgementMessage, 16)
	r.mu.Lock()
	r.chans[id] = ch
	r.mu.Unlock()
	return ch
}

func (r *ackRouter) handle(_ context.Context, value []byte) error {
	a, err := messaging.ParseAcknowledgement(value)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.bad = append(r.bad, fmt.Sprintf("unparsable ack %.200s: %v", value, err))
		return err
	}
	ch, ok := r.chans[a.ActivationID]
	if !ok {
		r.bad = append(r.bad, fmt.Sprintf("ack for unknown activation %s", a.ActivationID))
		return nil
	}
	select {
	case ch <- a:
	default:
		r.bad = append(r.bad, fmt.Sprintf("too many acks for %s", a.ActivationID))
	}
	return nil
}

// rig is one invoker wired to real parts: the embedded store, the embedded
// Kafka broker and the process container backend.
type rig struct {
	st        *store.Store
	inv       *invoker.Invoker
	acks      *ackRouter
	closeOnce sync.Once
}

// close closes the invoker (once; the rig's cleanup calls it too).
func (r *rig) close() { r.closeOnce.Do(r.inv.Close) }

func newRig(t *testing.T, configure ...func(*invoker.Config)) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := quietLogger()

	st, err := store.Open(ctx, store.Config{Driver: "brisk-embedded", DSN: filepath.Join(t.TempDir(), "brisk.db"),
		Options: []kivik.Option{embedded.OptionNoSync()}})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })

	broker, err := messaging.StartEmbedded(messaging.EmbeddedConfig{Logger: log})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { _ = broker.Close() })
	brokers := broker.Addrs()
	if err := messaging.EnsureTopics(ctx, brokers, []messaging.TopicSpec{
		messaging.InvokerTopicSpec(0), messaging.CompletedTopicSpec("0"),
	}); err != nil {
		t.Fatalf("ensure topics: %v", err)
	}
	producer := messaging.NewProducer(brokers, messaging.ProducerOptions{Logger: log})
	t.Cleanup(func() { _ = producer.Close() })

	cfg := invoker.Config{Instance: 0, UserMemoryMB: 2048, APIHost: testAPIHost, Manifest: api.DefaultManifest(), Limits: api.DefaultLimits()}
	for _, c := range configure {
		c(&cfg)
	}
	inv := invoker.New(cfg, newFactory(t), producer, st, log)
	runCtx, stop := context.WithCancel(context.Background())
	inv.Start(runCtx)

	r := &rig{st: st, inv: inv, acks: &ackRouter{chans: map[string]chan messaging.AcknowledgementMessage{}}}
	consumer := messaging.NewConsumer(brokers, "completed0", messaging.CompletedTopic("0"),
		messaging.ConsumerOptions{Logger: log, MaxWait: 50 * time.Millisecond})
	consumed := make(chan error, 1)
	go func() { consumed <- consumer.Run(runCtx, r.acks.handle) }()

	// Cleanups run last-in first-out: this one runs before the producer,
	// broker and store are closed.
	t.Cleanup(func() {
		r.close()
		stop()
		if err := <-consumed; err != nil {
			t.Errorf("ack consumer: %v", err)
		}
		_ = consumer.Close()
		r.acks.mu.Lock()
		defer r.acks.mu.Unlock()
		for _, b := range r.acks.bad {
			t.Error(b)
		}
	})
	return r
}

type actionOpts struct {
	timeoutMs   int
	logsMB      int
	annotations api.KeyValues
	kind        string
	noCode      bool
	concurrency int
}

// putAction stores a nodejs:20 action guest/<name> and returns its revision.
func (r *rig) putAction(t *testing.T, name, code string, o actionOpts) string {
	t.Helper()
	if o.timeoutMs == 0 {
		o.timeoutMs = 60000
	}
	if o.logsMB == 0 {
		o.logsMB = 10
	}
	if o.annotations == nil {
		o.annotations = api.KeyValues{}.Set("provide-api-key", false)
	}
	if o.kind == "" {
		o.kind = "nodejs:20"
	}
	exec := api.Exec{Kind: o.kind}
	if !o.noCode {
		exec.Code = &code
	}
	rev, err := r.st.PutEntity(context.Background(), "guest/"+name, "", api.ActionDoc{EntityType: "action", Action: api.Action{
		Namespace: "guest", Name: name, Version: "0.0.1", Exec: exec,
		Limits:      api.ActionLimits{Timeout: o.timeoutMs, Memory: 256, Logs: o.logsMB, Concurrency: max(o.concurrency, 1)},
		Annotations: o.annotations, Parameters: api.KeyValues{},
	}})
	if err != nil {
		t.Fatalf("put action %s: %v", name, err)
	}
	return rev
}

func message(name, rev string, blocking bool, content string) messaging.ActivationMessage {
	m := messaging.ActivationMessage{
		TransID:  messaging.NewTransactionID(api.NewTransactionID(), time.Now()),
		Action:   messaging.FullyQualifiedEntityName{Path: "guest", Name: name, Version: "0.0.1"},
		Revision: rev,
		User: messaging.Identity{Subject: "guest", Namespace: messaging.Namespace{Name: "guest", UUID: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"},
			AuthKey: messaging.AuthKey{APIKey: testAPIKey}, Rights: []string{"READ", "PUT", "DELETE", "ACTIVATE"}},
		ActivationID:        api.NewActivationID(),
		RootControllerIndex: messaging.NewControllerInstanceID("0"),
		Blocking:            blocking,
	}
	if content != "" {
		m.Content = json.RawMessage(content)
	}
	return m
}

// invoke hands msg to the invoker and returns the acks up to and including
// the one that frees the slot.
func (r *rig) invoke(t *testing.T, msg messaging.ActivationMessage) []messaging.AcknowledgementMessage {
	t.Helper()
	ch := r.acks.expect(msg.ActivationID)
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.inv.Handle(context.Background(), b); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	var acks []messaging.AcknowledgementMessage
	timeout := time.After(20 * time.Second)
	for {
		select {
		case a := <-ch:
			acks = append(acks, a)
			if a.FreesSlot() {
				return acks
			}
		case <-timeout:
			t.Fatalf("activation %s: no completion ack; got %+v", msg.ActivationID, acks)
		}
	}
}

// blocking runs a blocking activation and checks the upstream ack sequence:
// a Result ack carrying the record, then a Completion ack. It returns the
// record from the Result ack.
func (r *rig) blocking(t *testing.T, msg messaging.ActivationMessage) *api.Activation {
	t.Helper()
	msg.Blocking = true
	acks := r.invoke(t, msg)
	if len(acks) != 2 || acks[0].Kind != messaging.AckResult || acks[1].Kind != messaging.AckCompletion {
		kinds := make([]string, len(acks))
		for i, a := range acks {
			kinds[i] = a.Kind.String()
		}
		t.Fatalf("acks %v, want result then completion", kinds)
	}
	res, done := acks[0], acks[1]
	if res.TransID.ID != msg.TransID.ID || done.TransID.ID != msg.TransID.ID {
		t.Errorf("ack transids %q/%q, want %q", res.TransID.ID, done.TransID.ID, msg.TransID.ID)
	}
	if done.Instance.Instance != 0 || done.Instance.InstanceType != "invoker" || done.Instance.UserMemory != r.inv.ID().UserMemory {
		t.Errorf("completion ack instance %+v", done.Instance)
	}
	if res.Shrunk() {
		t.Fatalf("result ack carries only the id")
	}
	var act api.Activation
	if err := json.Unmarshal(res.Activation, &act); err != nil {
		t.Fatalf("result ack activation %s: %v", res.Activation, err)
	}
	if act.ActivationID != msg.ActivationID {
		t.Errorf("result ack activation id %q, want %q", act.ActivationID, msg.ActivationID)
	}
	if len(act.Logs) != 0 {
		t.Errorf("result ack has logs %q; it is sent before logs are collected", act.Logs)
	}
	if done.IsSystemError != (act.Response.StatusCode == api.StatusWhiskError) {
		t.Errorf("completion isSystemError %v for status %d", done.IsSystemError, act.Response.StatusCode)
	}
	return &act
}

// fallback runs a blocking activation that fails before running. Upstream
// acks it with one Combined ack; a Result ack followed by a
// Completion ack gives the controller the same information. It returns the
// record from the acks and the ack that frees the slot.
func (r *rig) fallback(t *testing.T, msg messaging.ActivationMessage) (*api.Activation, messaging.AcknowledgementMessage) {
	t.Helper()
	msg.Blocking = true
	acks := r.invoke(t, msg)
	var withRecord messaging.AcknowledgementMessage
	switch {
	case len(acks) == 1 && acks[0].Kind == messaging.AckCombined:
		withRecord = acks[0]
	case len(acks) == 2 && acks[0].Kind == messaging.AckResult && acks[1].Kind == messaging.AckCompletion:
		withRecord = acks[0]
	default:
		t.Fatalf("acks %+v, want a combined ack, or a result then a completion", acks)
	}
	if withRecord.Shrunk() {
		t.Fatal("the ack carries only the activation id")
	}
	var act api.Activation
	if err := json.Unmarshal(withRecord.Activation, &act); err != nil {
		t.Fatalf("ack activation %s: %v", withRecord.Activation, err)
	}
	done := acks[len(acks)-1]
	if done.IsSystemError != (act.Response.StatusCode == api.StatusWhiskError) {
		t.Errorf("isSystemError %v for status %d", done.IsSystemError, act.Response.StatusCode)
	}
	return &act, done
}

// record waits for the stored activation record.
func (r *rig) record(t *testing.T, id string) *api.Activation {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		act, err := r.st.GetActivation(context.Background(), "guest", id)
		if err == nil {
			return act
		}
		if !errors.Is(err, store.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("activation record %s: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func annotation(t *testing.T, act *api.Activation, key string, into any) bool {
	t.Helper()
	raw := act.Annotations.Get(key)
	if raw == nil {
		return false
	}
	if err := json.Unmarshal(raw, into); err != nil {
		t.Errorf("annotation %s = %s: %v", key, raw, err)
	}
	return true
}

func wantResult(t *testing.T, act *api.Activation, status int, result string) {
	t.Helper()
	if act.Response.StatusCode != status {
		t.Errorf("status %d, want %d (result %s)", act.Response.StatusCode, status, act.Response.Result)
	}
	var got, want any
	if err := json.Unmarshal(act.Response.Result, &got); err != nil {
		t.Fatalf("result %s: %v", act.Response.Result, err)
	}
	if err := json.Unmarshal([]byte(result), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("result\n got %s\nwant %s", act.Response.Result, result)
	}
	if act.Response.Size == nil || *act.Response.Size != len(act.Response.Result) {
		t.Errorf("response size %v, want %d", act.Response.Size, len(act.Response.Result))
	}
}

func hasInitTime(t *testing.T, act *api.Activation) bool {
	t.Helper()
	var ms int64
	if !annotation(t, act, "initTime", &ms) {
		return false
	}
	if ms < 0 || ms > act.Duration {
		t.Errorf("initTime %d outside the duration %d", ms, act.Duration)
	}
	return true
}

var logLineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr): (.*)$`)

// logTexts checks the stored format of each line and returns "stream: text".
func logTexts(t *testing.T, logs []string) []string {
	t.Helper()
	out := make([]string, len(logs))
	for i, l := range logs {
		m := logLineRE.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("log line %q is not in the stored format", l)
			continue
		}
		out[i] = m[1] + ": " + m[2]
	}
	return out
}

const helloAction = `
let runs = 0;
function main(params) {
  runs++;
  console.log('hello from stdout ' + runs);
  console.error('and from stderr');
  return {
    greeting: 'Hello, ' + params.name, runs,
    apiHost: process.env.__OW_API_HOST || null,
    namespace: process.env.__OW_NAMESPACE,
    actionName: process.env.__OW_ACTION_NAME,
    activationId: process.env.__OW_ACTIVATION_ID,
    deadline: process.env.__OW_DEADLINE,
  };
}
`

func TestInvoker(t *testing.T) {
	requireBin(t, "node")
	r := newRig(t)

	t.Run("cold then warm", func(t *testing.T) {
		t.Parallel()
		rev := r.putAction(t, "hello", helloAction, actionOpts{})
		var prevContainerRuns int
		for i, cold := range []bool{true, false} {
			msg := message("hello", rev, true, `{"name":"Ada"}`)
			msg.TransID.Start = time.Now().Add(-300 * time.Millisecond).UnixMilli()
			before := time.Now()
			act := r.blocking(t, msg)
			var res struct {
				Greeting, APIHost, Namespace, ActionName, ActivationID, Deadline string
				Runs                                                             int
			}
			if act.Response.StatusCode != api.StatusSuccess || json.Unmarshal(act.Response.Result, &res) != nil {
				t.Fatalf("run %d: status %d result %s", i, act.Response.StatusCode, act.Response.Result)
			}
			if res.Greeting != "Hello, Ada" || res.APIHost != testAPIHost || res.Namespace != "guest" ||
				res.ActionName != "/guest/hello" || res.ActivationID != msg.ActivationID {
				t.Errorf("run %d: result %s", i, act.Response.Result)
			}
			if dl, err := strconv.ParseInt(res.Deadline, 10, 64); err != nil ||
				dl < before.Add(59*time.Second).UnixMilli() || dl > time.Now().Add(60*time.Second).UnixMilli() {
				t.Errorf("run %d: __OW_DEADLINE %q is not about now + 60 s", i, res.Deadline)
			}
			// The warm run reuses the container (module state survives).
			if cold && res.Runs != 1 || !cold && res.Runs != prevContainerRuns+1 {
				t.Errorf("run %d: the container has run %d times", i, res.Runs)
			}
			prevContainerRuns = res.Runs

			stored := r.record(t, msg.ActivationID)
			wantResult(t, stored, api.StatusSuccess, string(act.Response.Result))
			if stored.Namespace != "guest" || stored.Name != "hello" || stored.Subject != "guest" || stored.Version != "0.0.1" {
				t.Errorf("run %d: record identity %+v", i, stored)
			}
			if stored.Start > stored.End || stored.Duration != stored.End-stored.Start ||
				stored.Start < before.Add(-time.Second).UnixMilli() || stored.End > time.Now().UnixMilli() {
				t.Errorf("run %d: start %d end %d duration %d", i, stored.Start, stored.End, stored.Duration)
			}
			// stdout and stderr are separate pipes: their lines may
			// interleave either way.
			got := logTexts(t, stored.Logs)
			slices.Sort(got)
			wantLogs := []string{"stderr: and from stderr", fmt.Sprintf("stdout: hello from stdout %d", res.Runs)}
			if !reflect.DeepEqual(got, wantLogs) {
				t.Errorf("run %d: logs %q, want %q", i, stored.Logs, wantLogs)
			}
			var path, kind string
			var timeout bool
			var waitTime int64
			var limits api.ActionLimits
			if !annotation(t, stored, "path", &path) || path != "guest/hello" {
				t.Errorf("run %d: path annotation %q", i, path)
			}
			if !annotation(t, stored, "kind", &kind) || kind != "nodejs:20" {
				t.Errorf("run %d: kind annotation %q", i, kind)
			}
			if !annotation(t, stored, "limits", &limits) || limits != (api.ActionLimits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}) {
				t.Errorf("run %d: limits annotation %+v", i, limits)
			}
			if !annotation(t, stored, "timeout", &timeout) || timeout {
				t.Errorf("run %d: timeout annotation %v", i, stored.Annotations.Get("timeout"))
			}
			// waitTime runs from the transaction start (300 ms before Handle).
			if !annotation(t, stored, "waitTime", &waitTime) || waitTime < 300 || waitTime > 10000 {
				t.Errorf("run %d: waitTime annotation %d", i, waitTime)
			}
			if got := hasInitTime(t, stored); got != cold {
				t.Errorf("run %d: initTime annotation present %v, want %v (cold %v)", i, got, cold, cold)
			}
			if stored.Annotations.Has("causedBy") || stored.Annotations.Has("binding") {
				t.Errorf("run %d: unexpected annotations %s", i, stored.Annotations.Get("causedBy"))
			}
		}
	})

	t.Run("timeout destroys the container", func(t *testing.T) {
		t.Parallel()
		rev := r.putAction(t, "sleepy", `
let runs = 0;
function main(params) {
  runs++;
  console.log('run ' + runs);
  if (params.sleep) return new Promise((resolve) => setTimeout(() => resolve({slept: true}), 2000));
  return {runs};
}`, actionOpts{timeoutMs: 300})
		// Warm the container up, so the timed-out run is a warm one.
		first := r.blocking(t, message("sleepy", rev, true, `{}`))
		wantResult(t, first, api.StatusSuccess, `{"runs":1}`)

		start := time.Now()
		msg := message("sleepy", rev, true, `{"sleep":true}`)
		act := r.blocking(t, msg)
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("the timed-out activation took %v to answer", d)
		}
		wantResult(t, act, api.StatusDeveloperError, `{"error":"The action exceeded its time limits of 300 milliseconds."}`)
		stored := r.record(t, msg.ActivationID)
		wantResult(t, stored, api.StatusDeveloperError, `{"error":"The action exceeded its time limits of 300 milliseconds."}`)
		var timeout bool
		if !annotation(t, stored, "timeout", &timeout) || !timeout {
			t.Errorf("timeout annotation %s, want true", stored.Annotations.Get("timeout"))
		}
		if stored.Duration < 300 || stored.Duration > 1500 {
			t.Errorf("duration %d ms, want about the 300 ms limit", stored.Duration)
		}
		if hasInitTime(t, stored) {
			t.Error("the timed-out warm run has an initTime")
		}
		logs := logTexts(t, stored.Logs)
		if len(logs) == 0 || logs[0] != "stdout: run 2" ||
			logs[len(logs)-1] != "stderr: The action did not initialize or run as expected. Log data might be missing." {
			t.Errorf("logs %q", stored.Logs)
		}

		// The container was destroyed: the next run starts cold.
		next := r.blocking(t, message("sleepy", rev, true, `{}`))
		wantResult(t, next, api.StatusSuccess, `{"runs":1}`)
		if !hasInitTime(t, r.record(t, next.ActivationID)) {
			t.Error("the run after a timeout was warm; the timed-out container was reused")
		}
	})

	t.Run("init timeout", func(t *testing.T) {
		t.Parallel()
		rev := r.putAction(t, "slowload", `
const t0 = Date.now();
while (Date.now() - t0 < 3000) {}
function main() { return {}; }`, actionOpts{timeoutMs: 300})
		msg := message("slowload", rev, true, `{}`)
		start := time.Now()
		act := r.blocking(t, msg)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the init timeout took %v to answer", d)
		}
		const want = `{"error":"The action exceeded its time limits of 300 milliseconds during initialization."}`
		wantResult(t, act, api.StatusDeveloperError, want)
		stored := r.record(t, msg.ActivationID)
		wantResult(t, stored, api.StatusDeveloperError, want)
		var timeout bool
		if !annotation(t, stored, "timeout", &timeout) || !timeout || !hasInitTime(t, stored) {
			t.Errorf("annotations timeout %s initTime %s", stored.Annotations.Get("timeout"), stored.Annotations.Get("initTime"))
		}
	})

	t.Run("malformed message", func(t *testing.T) {
		t.Parallel()
		if err := r.inv.Handle(context.Background(), []byte(`not json`)); err == nil {
			t.Error("Handle accepted a message that is not JSON")
		}
		m := `{"activationId":"","action":{"path":"guest","name":"x"},"rootControllerIndex":{"asString":"0"}}`
		if err := r.inv.Handle(context.Background(), []byte(m)); !errors.Is(err, messaging.ErrMalformed) {
			t.Errorf("Handle without an activation id: %v, want ErrMalformed", err)
		}
	})

	t.Run("updated action gets a new container", func(t *testing.T) {
		t.Parallel()
		rev1 := r.putAction(t, "versioned", `function main() { return {v: 1}; }`, actionOpts{})
		for i := range 2 {
			act := r.blocking(t, message("versioned", rev1, true, `{}`))
			wantResult(t, act, api.StatusSuccess, `{"v":1}`)
			if got := hasInitTime(t, r.record(t, act.ActivationID)); got != (i == 0) {
				t.Errorf("run %d of the first revision: initTime present %v", i, got)
			}
		}
		code := `function main() { return {v: 2}; }`
		rev2, err := r.st.PutEntity(context.Background(), "guest/versioned", rev1, api.ActionDoc{EntityType: "action", Action: api.Action{
			Namespace: "guest", Name: "versioned", Version: "0.0.2", Exec: api.Exec{Kind: "nodejs:20", Code: &code},
			Limits:      api.ActionLimits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1},
			Annotations: api.KeyValues{}.Set("provide-api-key", false), Parameters: api.KeyValues{},
		}})
		if err != nil {
			t.Fatal(err)
		}
		act := r.blocking(t, message("versioned", rev2, true, `{}`))
		wantResult(t, act, api.StatusSuccess, `{"v":2}`)
		stored := r.record(t, act.ActivationID)
		if !hasInitTime(t, stored) || stored.Version != "0.0.2" {
			t.Errorf("the new revision ran warm (initTime %s) or as version %q", stored.Annotations.Get("initTime"), stored.Version)
		}
	})

	t.Run("missing action", func(t *testing.T) {
		t.Parallel()
		msg := message("nope", "", true, `{}`)
		act, _ := r.fallback(t, msg)
		wantResult(t, act, api.StatusApplicationError, `{"error":"Action could not be found or may have been deleted."}`)
		stored := r.record(t, msg.ActivationID)
		wantResult(t, stored, api.StatusApplicationError, `{"error":"Action could not be found or may have been deleted."}`)
		var path, kind string
		if !annotation(t, stored, "path", &path) || path != "guest/nope" || !annotation(t, stored, "kind", &kind) || kind != "unknown" {
			t.Errorf("annotations %+v", stored.Annotations)
		}
		if stored.Start != stored.End || stored.Name != "nope" || stored.Namespace != "guest" || len(stored.Logs) != 0 {
			t.Errorf("fallback record %+v", stored)
		}
	})

	t.Run("not an executable action", func(t *testing.T) {
		t.Parallel()
		rev := r.putAction(t, "seq", "", actionOpts{kind: "sequence", noCode: true})
		if _, err := r.st.PutEntity(context.Background(), "guest/trig", "", map[string]any{
			"entityType": "trigger", "namespace": "guest", "name": "trig", "version": "0.0.1", "parameters": []any{},
		}); err != nil {
			t.Fatal(err)
		}
		for _, m := range []messaging.ActivationMessage{message("seq", rev, true, `{}`), message("trig", "", true, `{}`)} {
			act, _ := r.fallback(t, m)
			wantResult(t, act, api.StatusWhiskError, `{"error":"Action version is not compatible and cannot be invoked."}`)
			wantResult(t, r.record(t, m.ActivationID), api.StatusWhiskError, `{"error":"Action version is not compatible and cannot be invoked."}`)
		}
	})

	t.Run("api key only when provide-api-key is true", func(t *testing.T) {
		t.Parallel()
		const code = `
const atInit = process.env.__OW_API_KEY || null;
function main() { return {atInit, atRun: process.env.__OW_API_KEY || null}; }`
		for _, tt := range []struct {
			name        string
			annotations api.KeyValues
			want        string
		}{
			{"nokey", api.KeyValues{}.Set("provide-api-key", false), `{"atInit":null,"atRun":null}`},
			{"withkey", api.KeyValues{}.Set("provide-api-key", true), fmt.Sprintf(`{"atInit":%q,"atRun":%q}`, testAPIKey, testAPIKey)},
			{"legacy", api.KeyValues{}.Set("web-export", true), fmt.Sprintf(`{"atInit":%q,"atRun":%q}`, testAPIKey, testAPIKey)},
		} {
			rev := r.putAction(t, "key-"+tt.name, code, actionOpts{annotations: tt.annotations})
			act := r.blocking(t, message("key-"+tt.name, rev, true, `{}`))
			wantResult(t, act, api.StatusSuccess, tt.want)
		}
	})

	t.Run("init params reach the action as environment", func(t *testing.T) {
		t.Parallel()
		rev := r.putAction(t, "initargs", `
const atInit = {secret: process.env.secret, cfg: process.env.cfg, empty: process.env.empty};
function main(params) { return {atInit, params}; }`, actionOpts{})
		msg := message("initargs", rev, true, `{"secret":"s3cr3t","cfg":{"a":[1,2]},"empty":null,"name":"x"}`)
		msg.InitArgs = []string{"secret", "cfg", "empty"}
		act := r.blocking(t, msg)
		wantResult(t, act, api.StatusSuccess, `{"atInit":{"secret":"s3cr3t","cfg":"{\"a\":[1,2]}","empty":""},"params":{"name":"x"}}`)
	})

	t.Run("application error keeps the container", func(t *testing.T) {
		t.Parallel()
		rev := r.putAction(t, "apperr", `
let runs = 0;
function main() { runs++; return {error: {message: 'nope', runs}, extra: 'dropped'}; }`, actionOpts{})
		for i := 1; i <= 2; i++ {
			act := r.blocking(t, message("apperr", rev, true, `{}`))
			wantResult(t, act, api.StatusApplicationError, fmt.Sprintf(`{"error":{"message":"nope","runs":%d}}`, i))
			if got := hasInitTime(t, r.record(t, act.ActivationID)); got != (i == 1) {
				t.Errorf("run %d: initTime present %v", i, got)
			}
		}
	})

	t.Run("init failure", func(t *testing.T) {
		t.Parallel()
		rev := r.putAction(t, "broken", `function main( {`, actionOpts{})
		msg := message("broken", rev, true, `{}`)
		act := r.blocking(t, msg)
		if act.Response.StatusCode != api.StatusDeveloperError || !strings.Contains(string(act.Response.Result), "SyntaxError") {
			t.Errorf("status %d result %s, want a developer error naming the SyntaxError", act.Response.StatusCode, act.Response.Result)
		}
		stored := r.record(t, msg.ActivationID)
		logs := logTexts(t, stored.Logs)
		if len(logs) == 0 || logs[len(logs)-1] != "stderr: The action did not initialize or run as expected. Log data might be missing." {
			t.Errorf("logs %q", stored.Logs)
		}
		if !strings.Contains(strings.Join(logs, "\n"), "SyntaxError") {
			t.Errorf("logs %q do not show the init error", stored.Logs)
		}
	})

	t.Run("non-blocking sends only a completion", func(t *testing.T) {
		t.Parallel()
		rev := r.putAction(t, "async", `function main() { console.log('async'); return {done: true}; }`, actionOpts{})
		msg := message("async", rev, false, `{}`)
		acks := r.invoke(t, msg)
		if len(acks) != 1 || acks[0].Kind != messaging.AckCompletion || acks[0].IsSystemError {
			t.Fatalf("acks %+v, want one completion", acks)
		}
		stored := r.record(t, msg.ActivationID)
		wantResult(t, stored, api.StatusSuccess, `{"done":true}`)
		if got := logTexts(t, stored.Logs); !reflect.DeepEqual(got, []string{"stdout: async"}) {
			t.Errorf("logs %q", stored.Logs)
		}
	})

	t.Run("log limit", func(t *testing.T) {
		t.Parallel()
		// The action waits until node has flushed stdout before it returns
		// (see TestHeavyLogsStayWithTheirActivation for why).
		rev := r.putAction(t, "chatty", `
function main() {
  for (let i = 0; i < 3000; i++) console.log('line ' + i + ' ' + 'x'.repeat(400));
  return new Promise((resolve) => process.stdout.write('flushed\n', () => resolve({})));
}`, actionOpts{logsMB: 1})
		msg := message("chatty", rev, true, `{}`)
		wantResult(t, r.blocking(t, msg), api.StatusSuccess, `{}`)
		stored := r.record(t, msg.ActivationID)
		logs := logTexts(t, stored.Logs)
		// Each line has 400 + len("line N ") bytes; 1 MiB holds lines 0..2557.
		size, n := 0, 0
		for ; n < 3000; n++ {
			text := fmt.Sprintf("line %d %s", n, strings.Repeat("x", 400))
			if size+len(text) > 1<<20 {
				break
			}
			size += len(text)
		}
		if len(logs) != n+1 {
			t.Fatalf("%d log lines, want %d and the truncation notice; last %.100q", len(logs), n, logs[max(len(logs)-2, 0):])
		}
		for i := range n {
			if want := fmt.Sprintf("stdout: line %d %s", i, strings.Repeat("x", 400)); logs[i] != want {
				t.Fatalf("line %d is %.40q", i, logs[i])
			}
		}
		if logs[n] != "stderr: Logs were truncated because the total bytes size exceeds the limit of 1048576 bytes." {
			t.Errorf("last line %q", logs[n])
		}
	})

	t.Run("result larger than the limit", func(t *testing.T) {
		t.Parallel()
		// 1.1 million quotes: a 2200010-byte JSON reply, in which every
		// quote is escaped once more in the error message of the record.
		rev := r.putAction(t, "big", `function main() { return {big: '"'.repeat(1100000)}; }`, actionOpts{})
		msg := message("big", rev, true, `{}`)
		acks := r.invoke(t, msg)
		// The record (2 MB with the truncated reply) does not fit the
		// topic, so the result ack is resent shrunk to the activation id.
		if len(acks) != 2 || acks[0].Kind != messaging.AckResult || !acks[0].Shrunk() ||
			acks[0].ActivationID != msg.ActivationID || acks[1].Kind != messaging.AckCompletion {
			t.Fatalf("acks %+v, want a shrunk result then a completion", acks)
		}
		stored := r.record(t, msg.ActivationID)
		var res struct{ Error string }
		if err := json.Unmarshal(stored.Response.Result, &res); err != nil {
			t.Fatal(err)
		}
		const prefix = "The action produced a response that exceeded the allowed length: 2200010 > 1048576 bytes. The truncated response was: "
		truncated := strings.TrimPrefix(res.Error, prefix)
		if stored.Response.StatusCode != api.StatusApplicationError || truncated == res.Error {
			t.Fatalf("status %d error %.200s", stored.Response.StatusCode, res.Error)
		}
		if want := `{"big":"` + strings.Repeat(`\"`, (1048576-8)/2); truncated != want {
			t.Errorf("the truncated reply (%d bytes) is not the first 1048576 bytes of the reply", len(truncated))
		}
	})
}

// TestInvokerCapacity runs an invoker with room for one 256 MB container
// and two activation slots.
func TestInvokerCapacity(t *testing.T) {
	requireBin(t, "node")
	// 256 / 128 MB = 2 slots (with no action allowed to share a container).
	r := newRig(t, func(c *invoker.Config) { c.UserMemoryMB, c.Limits.MaxConcurrency = 256, 1 })
	const sleeper = `function main(p) { return new Promise((resolve) => setTimeout(() => resolve({slept: p.ms}), p.ms)); }`
	slow := r.putAction(t, "slow", sleeper, actionOpts{})
	other := r.putAction(t, "other", sleeper, actionOpts{timeoutMs: 300})

	// slow holds the only container's memory for 1.5 s; other cannot get a
	// container within its 300 ms timeout.
	slowMsg := message("slow", slow, true, `{"ms":1500}`)
	slowAcks := r.acks.expect(slowMsg.ActivationID)
	b, _ := json.Marshal(slowMsg)
	if err := r.inv.Handle(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "slow holds the only container's memory", func() bool { return r.inv.Pool().UsedMB() == 256 })
	otherMsg := message("other", other, true, `{"ms":1}`)
	start := time.Now()
	act, done := r.fallback(t, otherMsg)
	if d := time.Since(start); d > 1200*time.Millisecond {
		t.Errorf("the activation without memory waited %v, longer than its timeout", d)
	}
	if !done.IsSystemError {
		t.Error("completion without isSystemError for a whisk error")
	}
	const noMemory = `{"error":"Failed to provision resources to run the action."}`
	wantResult(t, act, api.StatusWhiskError, noMemory)
	wantResult(t, r.record(t, otherMsg.ActivationID), api.StatusWhiskError, noMemory)

	// Back-pressure: with both slots busy Handle does not take a message.
	fill := message("slow", slow, false, `{"ms":10}`)
	fillAcks := r.acks.expect(fill.ActivationID)
	b, _ = json.Marshal(fill)
	if err := r.inv.Handle(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	third := message("slow", slow, false, `{"ms":10}`)
	thirdAcks := r.acks.expect(third.ActivationID)
	b, _ = json.Marshal(third)
	err := r.inv.Handle(ctx, b)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Handle with every slot busy: %v, want the context's deadline error", err)
	}
	for _, ch := range []<-chan messaging.AcknowledgementMessage{slowAcks, fillAcks} {
		select {
		case a := <-ch:
			for !a.FreesSlot() {
				a = <-ch
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no completion")
		}
	}
	// A slot is free again.
	if err := r.inv.Handle(context.Background(), b); err != nil {
		t.Fatalf("Handle after the slots freed up: %v", err)
	}
	select {
	case a := <-thirdAcks:
		if a.Kind != messaging.AckCompletion || a.IsSystemError {
			t.Errorf("ack %+v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no completion for the third activation")
	}
	wantResult(t, r.record(t, third.ActivationID), api.StatusSuccess, `{"slept":10}`)
}

func TestInvokerPrewarm(t *testing.T) {
	requireBin(t, "node")
	r := newRig(t, func(c *invoker.Config) { c.Prewarm = true })
	p := r.inv.Pool()
	sk := invoker.StemKey{Kind: "nodejs:20", MemoryMB: 256}
	stems := p.StemIDs(sk)
	if len(stems) != 1 {
		t.Fatalf("stem cells after Start: %v, want the manifest's one nodejs:20 256 MB", stems)
	}
	rev := r.putAction(t, "hello", helloAction, actionOpts{})
	msg := message("hello", rev, true, `{"name":"Stem"}`)
	act := r.blocking(t, msg)
	if act.Response.StatusCode != api.StatusSuccess || !hasInitTime(t, r.record(t, msg.ActivationID)) {
		t.Errorf("status %d; a stem cell still needs /init", act.Response.StatusCode)
	}
	eventually(t, 5*time.Second, "the stem cell is replaced", func() bool {
		got := p.StemIDs(sk)
		return len(got) == 1 && got[0] != stems[0]
	})
	if idle := p.IdleIDs(); !slices.Equal(idle, stems) {
		t.Errorf("idle containers %v, want the used stem cell %v", idle, stems)
	}
}

// TestInitTimeDoesNotShortenRun: upstream's ContainerProxy gives /init the
// action timeout and then /run the action timeout again (the run deadline is
// computed after init). An action that needs 600 ms to load and 600 ms to run
// fits a 1000 ms limit.
func TestInitTimeDoesNotShortenRun(t *testing.T) {
	requireBin(t, "node")
	r := newRig(t)
	rev := r.putAction(t, "slowinit", `
const t0 = Date.now();
while (Date.now() - t0 < 600) {}
function main() { return new Promise((resolve) => setTimeout(() => resolve({ok: true}), 600)); }`,
		actionOpts{timeoutMs: 1000})
	act := r.blocking(t, message("slowinit", rev, true, `{}`))
	wantResult(t, act, api.StatusSuccess, `{"ok":true}`)
}

// TestHeavyLogsStayWithTheirActivation: everything an activation prints
// belongs to its own record, however much it prints.
func TestHeavyLogsStayWithTheirActivation(t *testing.T) {
	requireBin(t, "node")
	r := newRig(t)
	rev := r.putAction(t, "heavy", `
let runs = 0;
function main() {
  runs++;
  if (runs === 1) for (let i = 0; i < 3000; i++) console.log('line ' + i + ' ' + 'x'.repeat(400));
  else console.log('second run');
  return {runs};
}`, actionOpts{})
	first := message("heavy", rev, true, `{}`)
	r.blocking(t, first)
	second := message("heavy", rev, true, `{}`)
	wantResult(t, r.blocking(t, second), api.StatusSuccess, `{"runs":2}`)
	if logs := r.record(t, first.ActivationID).Logs; len(logs) != 3000 {
		t.Errorf("the first activation has %d of its 3000 log lines", len(logs))
	}
	if logs := logTexts(t, r.record(t, second.ActivationID).Logs); !reflect.DeepEqual(logs, []string{"stdout: second run"}) {
		t.Errorf("the second activation has %d log lines, want only its own; first %.60q", len(logs), logs[:min(len(logs), 1)])
	}
}

// TestInvokerCloseAbortsAfterGrace: Close lets running activations finish
// for Config.ShutdownGrace, then aborts them; they are recorded as failed and the
// controller is told, so its slot and any blocking caller are released.
func TestInvokerCloseAbortsAfterGrace(t *testing.T) {
	requireBin(t, "node")
	r := newRig(t, func(c *invoker.Config) { c.ShutdownGrace = 300 * time.Millisecond })
	rev := r.putAction(t, "forever", `function main(p) {
  require('fs').writeFileSync(p.started, '');
  return new Promise((resolve) => setTimeout(() => resolve({}), 20000));
}`, actionOpts{})
	started := filepath.Join(t.TempDir(), "started")
	msg := message("forever", rev, true, fmt.Sprintf(`{"started":%q}`, started))
	acks := r.acks.expect(msg.ActivationID)
	b, _ := json.Marshal(msg)
	if err := r.inv.Handle(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the activation runs", func() bool { _, err := os.Stat(started); return err == nil })
	start := time.Now()
	r.close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v with a 300 ms grace", d)
	}
	stored := r.record(t, msg.ActivationID)
	if stored.Response.StatusCode == api.StatusSuccess {
		t.Errorf("the aborted activation was recorded as a success: %s", stored.Response.Result)
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case a := <-acks:
			if a.FreesSlot() {
				return
			}
		case <-timeout:
			t.Fatal("no completion ack for the aborted activation")
		}
	}
}

// TestHandleAckedAfterTheRecord: HandleAcked returns once the activation has
// a slot, and acknowledges the message only after the activation's record
// is stored, so that a crash before that leaves the message uncommitted.
func TestHandleAckedAfterTheRecord(t *testing.T) {
	requireBin(t, "node")
	r := newRig(t)
	rev := r.putAction(t, "slowack", `function main() { return new Promise(r => setTimeout(() => r({ok: true}), 300)); }`, actionOpts{})
	msg := message("slowack", rev, false, "")
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	r.acks.expect(msg.ActivationID)
	acked := make(chan struct{})
	if err := r.inv.HandleAcked(context.Background(), b, func() { close(acked) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-acked:
		t.Fatal("acknowledged before the activation ran")
	default:
	}
	select {
	case <-acked:
	case <-time.After(30 * time.Second):
		t.Fatal("not acknowledged after the run")
	}
	// The record is there when the ack comes.
	if _, err := r.st.GetActivation(context.Background(), "guest", msg.ActivationID); err != nil {
		t.Fatalf("acknowledged, but the record is not stored: %v", err)
	}
	// A message handled already is acknowledged at once.
	again := make(chan struct{})
	if err := r.inv.HandleAcked(context.Background(), b, func() { close(again) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-again:
	case <-time.After(10 * time.Second):
		t.Fatal("a message delivered again was not acknowledged")
	}
}
