package loadbalancer

import (
	"context"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/messaging"
)

// lostRecorder collects what a balancer's lost handler is told.
func lostRecorder(b *Balancer) chan string {
	lost := make(chan string, 16)
	b.lost = func(_ context.Context, msg *messaging.ActivationMessage) { lost <- msg.ActivationID }
	return lost
}

func wantLost(t *testing.T, lost chan string, want string) {
	t.Helper()
	select {
	case got := <-lost:
		if got != want {
			t.Fatalf("lost %s, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("activation %s was not reported lost", want)
	}
}

func upInvoker(c *healthClock, n int) {
	c.ping(n, true)
	c.b.completed(messaging.NewCompletionAck(messaging.NewTransactionID("sid_invokerHealth", c.now), "aid", false,
		messaging.NewInvokerInstanceID(n, 2048)))
	c.want(n, InvokerUp)
}

func TestActivationsLostWithSilentInvoker(t *testing.T) {
	c := newHealthClock(t)
	lost := lostRecorder(c.b)
	upInvoker(c, 0)
	msg := newMsg("guest", "guest", "a")
	if _, err := c.b.schedule(msg, Needs{MemoryMB: 256}, nil); err != nil {
		t.Fatal(err)
	}
	c.advance(PingTimeout / 2)
	select {
	case id := <-lost:
		t.Fatalf("%s reported lost while its invoker pings", id)
	default:
	}
	c.advance(PingTimeout) // no ping for longer than the timeout: down, its bookings lost
	c.want(0, InvokerDown)
	wantLost(t, lost, msg.ActivationID)
	// A late completion finds no booking and reports nothing again.
	c.b.completed(messaging.NewCompletionAck(msg.TransID, msg.ActivationID, false, messaging.NewInvokerInstanceID(0, 2048)))
	select {
	case id := <-lost:
		t.Fatalf("%s reported lost twice", id)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestActivationsNotLostWithCleanShutdown(t *testing.T) {
	c := newHealthClock(t)
	lost := lostRecorder(c.b)
	upInvoker(c, 0)
	msg := newMsg("guest", "guest", "a")
	if _, err := c.b.schedule(msg, Needs{MemoryMB: 256}, nil); err != nil {
		t.Fatal(err)
	}
	c.ping(0, false) // a clean stop finishes what it runs and acknowledges it
	c.want(0, InvokerDown)
	c.advance(2 * PingTimeout)
	select {
	case id := <-lost:
		t.Fatalf("%s reported lost after a clean shutdown", id)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestForcedCompletionReportsLost(t *testing.T) {
	c := newHealthClock(t)
	var fire func()
	c.b.afterFunc = func(_ time.Duration, f func()) stopper { fire = f; return time.NewTimer(time.Hour) }
	lost := lostRecorder(c.b)
	upInvoker(c, 0)
	msg := newMsg("guest", "guest", "a")
	if _, err := c.b.schedule(msg, Needs{MemoryMB: 256}, nil); err != nil {
		t.Fatal(err)
	}
	fire() // the completion-ack timeout passes
	wantLost(t, lost, msg.ActivationID)
}
