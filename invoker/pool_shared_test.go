package invoker_test

import (
	"context"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/invoker"
)

// sharedKey is a key whose containers take up to n activations at once.
func sharedKey(n int) invoker.WarmKey {
	k := key("guest", "guest/shared", "1-a", 256)
	k.Concurrency = n
	return k
}

// TestPoolSharesContainers: with limits.concurrency N, up to N activations
// run in one container before another is started; memory is booked once
// per container; a container given back unhealthy takes no new activation
// and goes once its last activation is done.
func TestPoolSharesContainers(t *testing.T) {
	t.Parallel()
	p := newPool(t, newFactory(t), invoker.PoolConfig{UserMemoryMB: 512})
	k := sharedKey(3)

	a1, a2, a3 := acquire(t, p, k), acquire(t, p, k), acquire(t, p, k)
	if a2 != a1 || a3 != a1 {
		t.Fatalf("three activations of a concurrency-3 action got containers %s, %s, %s; want one",
			a1.Container().ID(), a2.Container().ID(), a3.Container().ID())
	}
	wantUsed(t, p, 256)

	b1 := acquire(t, p, k) // the first one is full
	if b1 == a1 {
		t.Fatal("a fourth activation joined a full container")
	}
	wantUsed(t, p, 512)
	b2, b3 := acquire(t, p, k), acquire(t, p, k)
	if b2 != b1 || b3 != b1 {
		t.Fatal("the second container did not take its three activations")
	}

	// Both full, no memory left: the next one waits for a place.
	wait := acquireAsync(p, context.Background(), k)
	stillWaiting(t, wait)
	p.Return(a1)
	if got := waitAcquired(t, wait, 5*time.Second); got != a1 {
		t.Fatalf("the waiting activation got %s, want a place in %s", got.Container().ID(), a1.Container().ID())
	}
	wantUsed(t, p, 512)

	// a2 ends unhealthy: the container takes nobody new but keeps running
	// for a1 and a3.
	p.Destroy(a2)
	if exited(a1.Container()) {
		t.Fatal("a container was destroyed while two activations still run in it")
	}
	wait = acquireAsync(p, context.Background(), k)
	stillWaiting(t, wait)
	p.Return(a3)
	stillWaiting(t, wait)
	p.Return(a1) // the last one: the container goes, its memory is free
	waitExited(t, a1.Container(), 10*time.Second)
	c := waitAcquired(t, wait, 10*time.Second)
	if c == a1 {
		t.Fatal("a destroyed container was handed out")
	}
	wantUsed(t, p, 512)
	for _, x := range []*invoker.Pooled{b1, b2, b3, c} {
		p.Return(x)
	}
	if got := len(p.IdleIDs()); got != 2 {
		t.Errorf("%d idle containers after every activation returned, want 2", got)
	}
}

// TestPoolActivationsJoinAContainerBeingStarted: activations that arrive
// while the first container of their action is still starting join it
// instead of starting containers of their own.
func TestPoolActivationsJoinAContainerBeingStarted(t *testing.T) {
	t.Parallel()
	p := newPool(t, newFactory(t), invoker.PoolConfig{UserMemoryMB: 2048})
	k := sharedKey(4)
	var waits []<-chan acquired
	for range 4 {
		waits = append(waits, acquireAsync(p, context.Background(), k))
	}
	var got []*invoker.Pooled
	for _, w := range waits {
		got = append(got, waitAcquired(t, w, 10*time.Second))
	}
	for _, c := range got[1:] {
		if c != got[0] {
			t.Errorf("simultaneous activations got containers %s and %s; want one", got[0].Container().ID(), c.Container().ID())
		}
	}
	wantUsed(t, p, 256)
	for _, c := range got {
		p.Return(c)
	}
}
