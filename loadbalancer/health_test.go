package loadbalancer

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
	_ "github.com/brisk-serverless/brisk/store/embedded" // the "brisk-embedded" kivik driver
)

func ping(n int, enabled bool) messaging.PingMessage {
	return messaging.NewPingMessage(messaging.NewInvokerInstanceID(n, 2048), enabled)
}

// healthClock drives one balancer's health supervision in virtual time.
type healthClock struct {
	t   *testing.T
	b   *Balancer
	now time.Time
}

func newHealthClock(t *testing.T) *healthClock {
	b := New(Config{ControllerID: "7", Log: quietLog()})
	return &healthClock{t: t, b: b, now: time.Unix(1_700_000_000, 0)}
}

func (c *healthClock) advance(d time.Duration) {
	c.now = c.now.Add(d)
	c.b.mu.Lock()
	c.b.health.tickLocked(c.now)
	c.b.mu.Unlock()
}

func (c *healthClock) ping(n int, enabled bool) {
	c.b.mu.Lock()
	c.b.health.pingLocked(ping(n, enabled), c.now)
	c.b.mu.Unlock()
}

func (c *healthClock) finish(n int, r finishResult) {
	c.b.mu.Lock()
	c.b.health.finishedLocked(n, r, c.now)
	c.b.mu.Unlock()
}

func (c *healthClock) state(n int) InvokerState {
	c.t.Helper()
	inv := c.b.Invokers()
	if n >= len(inv) {
		c.t.Fatalf("invoker%d is not known (%d invokers)", n, len(inv))
	}
	return inv[n].State
}

func (c *healthClock) want(n int, s InvokerState) {
	c.t.Helper()
	if got := c.state(n); got != s {
		c.t.Fatalf("invoker%d is %s, want %s", n, got, s)
	}
}

// testActions drains the queued test actions and returns the invokers they
// go to, checking that each is upstream's test activation.
func (c *healthClock) testActions() []int {
	c.t.Helper()
	var out []int
	for {
		select {
		case ta := <-c.b.health.pending:
			var m messaging.ActivationMessage
			if err := json.Unmarshal(ta.msg, &m); err != nil {
				c.t.Fatal(err)
			}
			var raw map[string]any
			_ = json.Unmarshal(ta.msg, &raw)
			if m.Action.Path != "whisk.system" || m.Action.Name != "invokerHealthTestAction7" || m.Blocking ||
				m.TransID.ID != "sid_invokerHealth" || m.RootControllerIndex.AsString != "7" || raw["revision"] != nil ||
				m.User.Namespace.Name != "whisk.system" || !strings.HasPrefix(m.User.AuthKey.APIKey, m.User.Namespace.UUID+":") {
				c.t.Fatalf("test action message: %s", ta.msg)
			}
			out = append(out, ta.invoker)
		default:
			return out
		}
	}
}

func TestHealthNewInvokerBecomesUpOnTestAction(t *testing.T) {
	c := newHealthClock(t)
	c.ping(2, true) // invokers 0 and 1 are not known: they pad the table, down
	c.want(0, InvokerDown)
	c.want(1, InvokerDown)
	c.want(2, InvokerUnhealthy)
	if got := c.testActions(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("test actions sent to %v, want [2]", got)
	}
	// The test action's completion ack (no booking, upstream's health tid).
	c.b.completed(messaging.NewCompletionAck(messaging.NewTransactionID("sid_invokerHealth", c.now), "aid", false,
		messaging.NewInvokerInstanceID(2, 2048)))
	c.want(2, InvokerUp)
	// A success while unhealthy sends another test action, to fill the buffer.
	if got := c.testActions(); len(got) != 1 {
		t.Fatalf("test actions after the success: %v, want one", got)
	}
}

func TestHealthStaysUnhealthyUntilErrorsAgeOut(t *testing.T) {
	// Upstream's "start and stay unhealthy while min threshold is not met".
	c := newHealthClock(t)
	c.ping(0, true)
	for range healthErrorTolerance + 1 {
		c.finish(0, resultSystemError)
		c.want(0, InvokerUnhealthy)
	}
	for range healthBufferSize - healthErrorTolerance - 1 {
		c.finish(0, resultSuccess)
		c.want(0, InvokerUnhealthy)
	}
	c.finish(0, resultSuccess) // the oldest error leaves the buffer: 3 left
	c.want(0, InvokerUp)
}

func TestHealthRevertsDuringStartup(t *testing.T) {
	// Upstream's "revert to unhealthy during initial startup if there is a
	// failed test activation".
	c := newHealthClock(t)
	c.ping(0, true)
	c.finish(0, resultSystemError)
	c.want(0, InvokerUnhealthy)
	c.finish(0, resultSuccess)
	c.want(0, InvokerUp)
	c.finish(0, resultSystemError)
	c.want(0, InvokerUnhealthy)
}

func TestHealthUpUnhealthyUnresponsiveUp(t *testing.T) {
	c := newHealthClock(t)
	c.ping(0, true)
	for range healthBufferSize {
		c.finish(0, resultSuccess)
	}
	c.want(0, InvokerUp)
	for range healthBufferSize {
		c.finish(0, resultSystemError)
	}
	c.want(0, InvokerUnhealthy)
	for range healthBufferSize - healthErrorTolerance {
		c.finish(0, resultSuccess)
	}
	c.want(0, InvokerUp)
	c.testActions()
	for range healthBufferSize {
		c.finish(0, resultTimeout)
	}
	c.want(0, InvokerUnresponsive)
	if got := c.testActions(); len(got) != 1 {
		t.Fatalf("entering unresponsive sent %d test actions, want 1", len(got))
	}
	for range healthBufferSize - healthErrorTolerance {
		c.finish(0, resultSuccess)
	}
	c.want(0, InvokerUp)
}

func TestHealthPingTimeoutAndDisable(t *testing.T) {
	c := newHealthClock(t)
	c.ping(0, true)
	c.finish(0, resultSuccess)
	c.want(0, InvokerUp)
	c.testActions()
	// Pings keep it up; silence for more than 10 s makes it down.
	for range 5 {
		c.advance(2 * time.Second)
		c.ping(0, true)
		c.want(0, InvokerUp)
	}
	c.advance(PingTimeout)
	c.want(0, InvokerUp) // exactly 10 s is still in time
	c.advance(time.Second)
	c.want(0, InvokerDown)
	// A ping while down: unhealthy, with a test action.
	c.ping(0, true)
	c.want(0, InvokerUnhealthy)
	if got := c.testActions(); len(got) != 1 {
		t.Fatalf("coming back sent %d test actions, want 1", len(got))
	}
	// A completion while down does not bring it back.
	c.ping(0, false)
	c.want(0, InvokerDown)
	c.finish(0, resultSuccess)
	c.want(0, InvokerDown)
	c.ping(0, false) // disabled while down: stays down
	c.want(0, InvokerDown)
	c.ping(0, true)
	c.finish(0, resultSuccess)
	c.want(0, InvokerUp)
	c.ping(0, false) // disabled while up: down at once
	c.want(0, InvokerDown)
}

func TestHealthRepeatsTestActionEveryMinute(t *testing.T) {
	c := newHealthClock(t)
	c.ping(0, true)
	if got := c.testActions(); len(got) != 1 {
		t.Fatalf("registration sent %d test actions, want 1", len(got))
	}
	sent := 0
	for range 130 { // 130 s of pings every second, no test action succeeds
		c.advance(time.Second)
		c.ping(0, true)
		sent += len(c.testActions())
	}
	if sent != 2 {
		t.Fatalf("%d test actions in 130 s while unhealthy, want 2 (one a minute)", sent)
	}
	c.want(0, InvokerUnhealthy)
}

func TestHealthStaticInvokersIgnorePings(t *testing.T) {
	b := New(Config{Static: []messaging.InvokerInstanceID{messaging.NewInvokerInstanceID(0, 1024)}, Log: quietLog()})
	now := time.Now()
	b.mu.Lock()
	b.health.pingLocked(ping(0, false), now)
	b.health.tickLocked(now.Add(time.Hour))
	for range healthBufferSize {
		b.health.finishedLocked(0, resultSystemError, now)
	}
	b.mu.Unlock()
	if got := b.Invokers(); len(got) != 1 || got[0].State != InvokerUp {
		t.Fatalf("static invokers = %+v, want invoker0 up", got)
	}
}

func TestHandlePingRejectsBadPings(t *testing.T) {
	b := New(Config{Log: quietLog()})
	for _, bad := range []string{
		`not json`,
		`{"name":{"instance":0,"userMemory":"2048 MB","instanceType":"controller"}}`,
		`{"name":{"instance":-1,"userMemory":"2048 MB","instanceType":"invoker"}}`,
		`{"name":{"instance":5000000,"userMemory":"2048 MB","instanceType":"invoker"}}`,
	} {
		if err := b.HandlePing(context.Background(), []byte(bad)); err == nil {
			t.Errorf("ping %s accepted", bad)
		}
	}
	if len(b.Invokers()) != 0 {
		t.Fatalf("bad pings registered invokers: %+v", b.Invokers())
	}
	// Upstream's ping, without isEnabled, registers the invoker.
	good := `{"name":{"instance":1,"userMemory":"1024 MB","instanceType":"invoker","tags":[],"dedicatedNamespaces":[],"uniqueName":"host-a","displayedName":"a"}}`
	if err := b.HandlePing(context.Background(), []byte(good)); err != nil {
		t.Fatal(err)
	}
	inv := b.Invokers()
	if len(inv) != 2 || inv[1].State != InvokerUnhealthy || inv[1].Name() != "invoker1/host-a/a" || inv[0].Name() != "invoker0" {
		t.Fatalf("invokers after a ping from invoker1: %+v", inv)
	}
}

func TestBalancerSendsTestActions(t *testing.T) {
	// The started balancer publishes the queued test action on invoker<N> of a real broker.
	broker, err := messaging.StartEmbedded(messaging.EmbeddedConfig{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, broker.Addrs(), []messaging.TopicSpec{messaging.InvokerTopicSpec(3)}); err != nil {
		t.Fatal(err)
	}
	producer := messaging.NewProducer(broker.Addrs(), messaging.ProducerOptions{Logger: quietLog()})
	defer producer.Close()
	b := New(Config{ControllerID: "0", Publisher: producer, Log: quietLog()})
	b.Start()
	defer b.Close(ctx)

	rawPing, _ := json.Marshal(ping(3, true))
	if err := b.HandlePing(ctx, rawPing); err != nil {
		t.Fatal(err)
	}
	cons := messaging.NewConsumer(broker.Addrs(), "test", messaging.InvokerTopic(3), messaging.ConsumerOptions{Logger: quietLog()})
	defer cons.Close()
	got := make(chan messaging.ActivationMessage, 1)
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	go func() {
		_ = cons.Run(cctx, func(_ context.Context, v []byte) error {
			m, err := messaging.ParseActivationMessage(v)
			if err == nil {
				select {
				case got <- m:
				default:
				}
			}
			return err
		})
	}()
	select {
	case m := <-got:
		if m.Action.String() != "whisk.system/invokerHealthTestAction0" || m.Blocking {
			t.Fatalf("invoker3 received %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("no test action on invoker3")
	}
}

func TestEnsureHealthTestAction(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Driver: "brisk-embedded", DSN: filepath.Join(t.TempDir(), "brisk.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, limits := api.DefaultManifest(), api.DefaultLimits()
	for range 2 { // creates, then updates
		if err := EnsureHealthTestAction(ctx, st, "0", m, limits); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := st.GetAction(ctx, "whisk.system/invokerHealthTestAction0")
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := m.Resolve("nodejs:default")
	if doc.Exec.Kind != rt.Kind || doc.Exec.Code == nil || *doc.Exec.Code != HealthTestActionCode ||
		doc.Limits.Memory != 128 || doc.Version != "0.0.1" || !strings.HasPrefix(doc.Rev, "2-") {
		t.Fatalf("test action = %+v", doc.Action)
	}
	if err := EnsureHealthTestAction(ctx, st, "bad/id", m, limits); err == nil {
		t.Fatal("a controller id that makes an invalid action name was accepted")
	}
}
