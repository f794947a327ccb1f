package loadbalancer

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
)

// sent records what a balancer publishes.
type sent struct{ topics chan string }

func (s *sent) Send(_ context.Context, topic string, _ []byte) error {
	s.topics <- topic
	return nil
}

// counter counts release calls.
type counter struct{ n atomic.Int32 }

func (c *counter) release() { c.n.Add(1) }

func (c *counter) want(t *testing.T, n int32, when string) {
	t.Helper()
	if got := c.n.Load(); got != n {
		t.Fatalf("%s: release called %d times, want %d", when, got, n)
	}
}

func recordOf(t *testing.T, p *Promise) *api.Activation {
	t.Helper()
	select {
	case raw := <-p.Result():
		var act api.Activation
		if err := json.Unmarshal(raw, &act); err != nil {
			t.Fatalf("record %s: %v", raw, err)
		}
		return &act
	case <-time.After(10 * time.Second):
		t.Fatal("no record delivered")
		return nil
	}
}

func TestPublishResultAndRelease(t *testing.T) {
	pub := &sent{topics: make(chan string, 4)}
	b := New(Config{Static: StaticInvokers(1), Publisher: pub, Log: quietLog()})
	var rel counter
	msg := newMsg("guest", "guest", "hello")
	msg.Blocking = true
	p, err := b.Publish(t.Context(), msg, Needs{MemoryMB: 256}, rel.release)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if topic := <-pub.topics; topic != "invoker0" {
		t.Fatalf("published to %s", topic)
	}
	if msg.RootControllerIndex.AsString != "0" {
		t.Fatalf("root controller %+v", msg.RootControllerIndex)
	}
	rec, _ := json.Marshal(map[string]any{"activationId": msg.ActivationID, "namespace": "guest", "name": "hello"})
	result, err := messaging.NewResultAck(msg.TransID, rec)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(result)
	if err := b.HandleAck(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	if act := recordOf(t, p); act.ActivationID != msg.ActivationID {
		t.Fatalf("delivered %+v", act)
	}
	rel.want(t, 0, "after the result ack")
	raw, _ = json.Marshal(completion(msg.ActivationID, 0, false))
	for range 2 { // a repeated completion ends nothing twice
		if err := b.HandleAck(t.Context(), raw); err != nil {
			t.Fatal(err)
		}
	}
	rel.want(t, 1, "after the completion ack")
}

func TestPublishFailureReleases(t *testing.T) {
	b := New(Config{Log: quietLog()}) // no invoker registered
	var rel counter
	_, err := b.Publish(t.Context(), newMsg("guest", "guest", "hello"), Needs{MemoryMB: 256}, rel.release)
	if !errors.Is(err, ErrNoInvokers) {
		t.Fatalf("err = %v, want ErrNoInvokers", err)
	}
	rel.want(t, 1, "after a failed publish")

	b = New(Config{Static: StaticInvokers(1), Log: quietLog()}) // no publisher
	_, err = b.Publish(t.Context(), newMsg("guest", "guest", "hello"), Needs{MemoryMB: 256}, rel.release)
	if !errors.Is(err, ErrNoInvokers) {
		t.Fatalf("err = %v, want ErrNoInvokers", err)
	}
	rel.want(t, 2, "after a publish that could not be sent")
	if free := b.invokers[0].freeMB; free != DefaultInvokerUserMemory {
		t.Fatalf("%d MB free after the unsent publish, want all", free)
	}
}

func TestLostActivationRecordedAndDelivered(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, store.Config{Driver: "brisk-embedded", DSN: filepath.Join(t.TempDir(), "brisk.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub := &sent{topics: make(chan string, 4)}
	b := New(Config{Static: StaticInvokers(1), Publisher: pub, Records: st, Log: quietLog()})
	var fire func()
	b.afterFunc = func(_ time.Duration, f func()) stopper { fire = f; return time.NewTimer(time.Hour) }
	var rel counter
	msg := newMsg("guest", "guest", "slow")
	msg.Blocking = true
	p, err := b.Publish(ctx, msg, Needs{MemoryMB: 256}, rel.release)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fire() // no acknowledgement in time
	act := recordOf(t, p)
	if act.Response.StatusCode != api.StatusWhiskError || !json.Valid(act.Response.Result) ||
		string(act.Response.Result) != `{"error":"`+MsgActivationLost+`"}` {
		t.Fatalf("lost record %+v result %s", act.Response, act.Response.Result)
	}
	stored, err := st.GetActivation(ctx, "guest", msg.ActivationID)
	if err != nil || stored.Response.StatusCode != api.StatusWhiskError {
		t.Fatalf("stored record %+v, %v", stored, err)
	}
	rel.want(t, 1, "after the forced completion")
	b.Close(ctx)
}

func TestCloseWaitsForLostWriters(t *testing.T) {
	b := New(Config{Static: StaticInvokers(1), Publisher: &sent{topics: make(chan string, 4)}, Log: quietLog()})
	var fire func()
	b.afterFunc = func(_ time.Duration, f func()) stopper { fire = f; return time.NewTimer(time.Hour) }
	started, finished := make(chan struct{}), make(chan struct{})
	b.lost = func(ctx context.Context, _ *messaging.ActivationMessage) {
		close(started)
		<-ctx.Done() // a write that only ends when Close gives up on it
		close(finished)
	}
	if _, err := b.Publish(t.Context(), newMsg("guest", "guest", "a"), Needs{MemoryMB: 256}, nil); err != nil {
		t.Fatal(err)
	}
	fire()
	<-started
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	b.Close(ctx)
	select {
	case <-finished:
	default:
		t.Fatal("Close returned before the lost writer ended")
	}
	// After Close nothing new starts.
	b.mu.Lock()
	ok := b.goLocked(func(context.Context) {})
	b.mu.Unlock()
	if ok {
		t.Fatal("a goroutine started after Close")
	}
}
