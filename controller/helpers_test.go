package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/loadbalancer"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
	_ "github.com/brisk-serverless/brisk/store/embedded" // the "brisk-embedded" kivik driver
)

// Upstream's well-known keys,
// as cmd/brisk/standalone.go installs them.
const (
	guestUUID  = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"
	guestKey   = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	systemUUID = "789c46b1-71f6-4ed5-8c54-816aa4f8c502"
	systemKey  = "abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
)

var (
	guestAuth  = guestUUID + ":" + guestKey
	systemAuth = systemUUID + ":" + systemKey
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopKafka()
	os.Exit(code)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

// env is one controller on a fresh store.
type env struct {
	t     *testing.T
	store *store.Store
	h     http.Handler
}

// newEnv builds a controller whose balancer has no invokers: enough for
// every route but invoke.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, loadbalancer.New(loadbalancer.Config{Log: quietLogger()}))
}

// newInvokeEnv builds a controller wired to the shared embedded Kafka broker
// and the fake invoker answering on it.
func newInvokeEnv(t *testing.T) *env {
	t.Helper()
	k := startKafka(t)
	return newEnvWith(t, k.balancer)
}

func newEnvWith(t *testing.T, act *loadbalancer.Balancer, configure ...func(*controller.Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Driver: "brisk-embedded", DSN: filepath.Join(t.TempDir(), "brisk.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, s := range []api.SubjectDoc{
		{ID: "guest", Subject: "guest", Namespaces: []api.NamespaceKey{{Name: "guest", UUID: guestUUID, Key: guestKey}}},
		{ID: "whisk.system", Subject: "whisk.system", Namespaces: []api.NamespaceKey{{Name: "whisk.system", UUID: systemUUID, Key: systemKey}}},
	} {
		if err := st.EnsureSubject(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	cfg := controller.Config{Manifest: api.DefaultManifest(), Limits: api.DefaultLimits(),
		Build: "2024-01-01T00:00:00Z", BuildNo: "brisk-test"}
	for _, f := range configure {
		f(&cfg)
	}
	srv := controller.New(cfg, st, act, quietLogger())
	t.Cleanup(func() { srv.Close(context.Background()) })
	return &env{t: t, store: st, h: srv.Handler()}
}

// response is a recorded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v, failing the test if it is not JSON.
func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response body is not the expected JSON (%v): %s", err, r.body)
	}
}

// object decodes a JSON object body.
func (r *response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m
}

// do sends a request with auth ("" for none) and an optional body.
func (e *env) do(method, path, auth string, body any) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		u, p, _ := strings.Cut(auth, ":")
		req.SetBasicAuth(u, p)
	}
	return e.serve(req)
}

func (e *env) serve(req *http.Request) *response {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// guest sends a request as guest.
func (e *env) guest(method, path string, body any) *response {
	e.t.Helper()
	return e.do(method, path, guestAuth, body)
}

var tidRE = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// wantError checks an error answer: status, upstream's {"error","code"} body
// with the exact message, and code equal to X-Request-ID.
func wantError(t *testing.T, r *response, status int, msg string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	var body map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body is not {\"error\",\"code\"}: %s", r.body)
	}
	if len(body) != 2 {
		t.Errorf("error body has fields other than error and code: %s", r.body)
	}
	if body["error"] != msg {
		t.Errorf("error = %q, want %q", body["error"], msg)
	}
	tid := r.header.Get("X-Request-ID")
	if !tidRE.MatchString(tid) {
		t.Errorf("X-Request-ID = %q, want 32 alphanumerics", tid)
	}
	if body["code"] != tid {
		t.Errorf("code = %q, want X-Request-ID %q", body["code"], tid)
	}
}

func wantStatus(t *testing.T, r *response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
}

const nodeCode = "function main(params) { return params }"

// putAction creates an action and returns the response body.
func (e *env) putAction(path string, body map[string]any) map[string]any {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	if _, ok := body["exec"]; !ok {
		body["exec"] = map[string]any{"kind": "nodejs:default", "code": nodeCode}
	}
	r := e.guest(http.MethodPut, path, body)
	wantStatus(e.t, r, http.StatusOK)
	return r.object(e.t)
}

// putPackage stores a package document directly (the packages API is not
// there yet).
func (e *env) putPackage(ns, name string) {
	e.t.Helper()
	_, err := e.store.PutEntity(context.Background(), ns+"/"+name, "", map[string]any{
		"entityType": "package", "namespace": ns, "name": name, "version": "0.0.1", "publish": false,
		"binding": map[string]any{}, "parameters": []any{}, "annotations": []any{}, "updated": time.Now().UnixMilli(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// annotation returns an annotation's value from a decoded entity.
func annotation(t *testing.T, entity map[string]any, key string) (any, bool) {
	t.Helper()
	list, ok := entity["annotations"].([]any)
	if !ok {
		t.Fatalf("annotations is not an array: %v", entity["annotations"])
	}
	for _, a := range list {
		kv := a.(map[string]any)
		if kv["key"] == key {
			return kv["value"], true
		}
	}
	return nil, false
}

// --- Kafka and a fake invoker ---------------------------------------------

// kafkaEnv is one embedded broker shared by the invoke tests: the balancer
// publishes on invoker0, a fake invoker consumes it and acknowledges on
// completed0, and a consumer of completed0 feeds the balancer's HandleAck.
type kafkaEnv struct {
	broker    *messaging.EmbeddedBroker
	producer  *messaging.Producer
	balancer  *loadbalancer.Balancer
	inv       *fakeInvoker
	cancel    context.CancelFunc
	stopped   chan error
	consumers []*messaging.Consumer
}

var (
	kafkaOnce sync.Once
	kafka     *kafkaEnv
	kafkaErr  error
)

func startKafka(t *testing.T) *kafkaEnv {
	t.Helper()
	kafkaOnce.Do(func() { kafka, kafkaErr = newKafkaEnv() })
	if kafkaErr != nil {
		t.Fatalf("embedded kafka: %v", kafkaErr)
	}
	return kafka
}

func newKafkaEnv() (*kafkaEnv, error) {
	log := quietLogger()
	broker, err := messaging.StartEmbedded(messaging.EmbeddedConfig{Logger: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topics := append(messaging.ControllerTopicSpecs("0"), messaging.InvokerTopicSpec(0))
	if err := messaging.EnsureTopics(ctx, broker.Addrs(), topics); err != nil {
		_ = broker.Close()
		return nil, err
	}
	k := &kafkaEnv{broker: broker, stopped: make(chan error, 2)}
	k.producer = messaging.NewProducer(broker.Addrs(), messaging.ProducerOptions{Logger: log})
	k.balancer = loadbalancer.New(loadbalancer.Config{Static: loadbalancer.StaticInvokers(1), Publisher: k.producer, Log: log})
	k.inv = &fakeInvoker{producer: k.producer, behaviours: map[string]behaviour{}, got: map[string]messaging.ActivationMessage{}}
	runCtx, runCancel := context.WithCancel(context.Background())
	k.cancel = runCancel
	opts := messaging.ConsumerOptions{Logger: log, MaxWait: 20 * time.Millisecond}
	invCons := messaging.NewConsumer(broker.Addrs(), "invoker0", messaging.InvokerTopic(0), opts)
	ackOpts := opts
	ackOpts.Concurrency = 4
	ackCons := messaging.NewConsumer(broker.Addrs(), "completed0", k.balancer.CompletedTopic(), ackOpts)
	k.consumers = []*messaging.Consumer{invCons, ackCons}
	go func() { k.stopped <- invCons.Run(runCtx, k.inv.handle) }()
	go func() { k.stopped <- ackCons.Run(runCtx, k.balancer.HandleAck) }()
	return k, nil
}

func stopKafka() {
	if kafka == nil {
		return
	}
	kafka.cancel()
	for range kafka.consumers {
		<-kafka.stopped
	}
	for _, c := range kafka.consumers {
		_ = c.Close()
	}
	_ = kafka.producer.Close()
	_ = kafka.broker.Close()
}

// behaviour decides the fake invoker's answer to an activation: the ack to
// publish on completed0, or nil for no answer.
type behaviour func(m messaging.ActivationMessage) *messaging.AcknowledgementMessage

// fakeInvoker stands in for invoker0: it records every activation message
// and answers as its action's behaviour says (by default: success, result =
// the arguments).
type fakeInvoker struct {
	producer *messaging.Producer

	mu         sync.Mutex
	behaviours map[string]behaviour // by action name
	got        map[string]messaging.ActivationMessage
}

func (f *fakeInvoker) on(action string, b behaviour) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.behaviours[action] = b
}

func (f *fakeInvoker) handle(ctx context.Context, value []byte) error {
	m, err := messaging.ParseActivationMessage(value)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.got[m.ActivationID] = m
	b, ok := f.behaviours[m.Action.Name]
	f.mu.Unlock()
	if !ok {
		b = answer(api.StatusSuccess, nil)
	}
	ack := b(m)
	if ack == nil {
		return nil
	}
	raw, err := json.Marshal(ack)
	if err != nil {
		return err
	}
	return f.producer.Send(ctx, messaging.CompletedTopic(m.RootControllerIndex.AsString), raw)
}

// message waits for the activation message with id.
func (f *fakeInvoker) message(t *testing.T, id string) messaging.ActivationMessage {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		m, ok := f.got[id]
		f.mu.Unlock()
		if ok {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no activation message %s on invoker0", id)
	return messaging.ActivationMessage{}
}

// record is the activation record an invoker would write for m.
func record(m messaging.ActivationMessage, status int, result json.RawMessage) *api.Activation {
	if result == nil {
		result = m.Content
	}
	if result == nil {
		result = json.RawMessage(`{}`)
	}
	now := time.Now().UnixMilli()
	size := len(result)
	return &api.Activation{
		Namespace: m.User.Namespace.Name, Name: m.Action.Name, Subject: m.User.Subject,
		ActivationID: m.ActivationID, Version: m.Action.Version, Start: now - 12, End: now, Duration: 12,
		Response: api.ActivationResponse{StatusCode: status, Result: result, Size: &size},
		Logs:     []string{},
		Annotations: api.KeyValues{}.Set("path", m.Action.Path+"/"+m.Action.Name).Set("kind", "nodejs:20").
			Set("waitTime", 3).Set("timeout", false),
	}
}

// answer acknowledges with a Result ack carrying the record.
func answer(status int, result json.RawMessage) behaviour {
	return func(m messaging.ActivationMessage) *messaging.AcknowledgementMessage {
		raw, err := json.Marshal(record(m, status, result))
		if err != nil {
			panic(err)
		}
		ack, err := messaging.NewResultAck(m.TransID, raw)
		if err != nil {
			panic(err)
		}
		return &ack
	}
}

// silent never answers.
func silent(messaging.ActivationMessage) *messaging.AcknowledgementMessage { return nil }

// nextMilli returns once the wall clock is in a later millisecond than when
// it was called: an entity written after it has a later "updated" time than
// every entity written before it (times are in milliseconds).
func nextMilli() {
	for start := time.Now().UnixMilli(); time.Now().UnixMilli() == start; {
		runtime.Gosched()
	}
}
