package invoker_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/invoker"
)

func newPool(t *testing.T, f invoker.ContainerFactory, cfg invoker.PoolConfig) *invoker.Pool {
	t.Helper()
	p := invoker.NewPool(f, cfg, quietLogger())
	t.Cleanup(p.Close)
	return p
}

func key(ns, action, rev string, mb int) invoker.WarmKey {
	return invoker.WarmKey{Namespace: ns, Action: action, Revision: rev, Kind: "nodejs:20", MemoryMB: mb}
}

func acquire(t *testing.T, p *invoker.Pool, k invoker.WarmKey) *invoker.Pooled {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.Acquire(ctx, k)
	if err != nil {
		t.Fatalf("Acquire(%+v): %v", k, err)
	}
	if exited(c.Container()) {
		t.Fatalf("Acquire(%+v) returned the exited container %s", k, c.Container().ID())
	}
	return c
}

// destroyLater destroys a busy container when the test ends.
func destroyLater(t *testing.T, p *invoker.Pool, c *invoker.Pooled) {
	t.Cleanup(func() { p.Destroy(c) })
}

func wantUsed(t *testing.T, p *invoker.Pool, mb int) {
	t.Helper()
	if got := p.UsedMB(); got != mb {
		t.Errorf("pool uses %d MB, want %d", got, mb)
	}
}

// acquireAsync starts an Acquire and returns its result channel.
type acquired struct {
	c   *invoker.Pooled
	err error
}

func acquireAsync(p *invoker.Pool, ctx context.Context, k invoker.WarmKey) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		c, err := p.Acquire(ctx, k)
		ch <- acquired{c, err}
	}()
	return ch
}

func waitAcquired(t *testing.T, ch <-chan acquired, within time.Duration) *invoker.Pooled {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Acquire: %v", r.err)
		}
		return r.c
	case <-time.After(within):
		t.Fatalf("Acquire still waiting after %v", within)
		return nil
	}
}

func stillWaiting(t *testing.T, ch <-chan acquired) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Acquire returned (%v, %v) although no memory is free", r.c, r.err)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPoolWarmReuse(t *testing.T) {
	t.Parallel()
	p := newPool(t, newFactory(t), invoker.PoolConfig{UserMemoryMB: 2048})
	k := key("guest", "guest/hello", "1-a", 256)

	a := acquire(t, p, k)
	wantUsed(t, p, 256)
	p.Return(a)
	if got := p.IdleIDs(); !slices.Equal(got, []string{a.Container().ID()}) {
		t.Fatalf("idle %v after Return", got)
	}
	b := acquire(t, p, k)
	if b != a || b.Container().ID() != a.Container().ID() {
		t.Fatalf("same key got container %s, want the warm %s", b.Container().ID(), a.Container().ID())
	}
	if got := p.IdleIDs(); len(got) != 0 {
		t.Errorf("idle %v while the only container is busy", got)
	}
	wantUsed(t, p, 256)

	// While it is busy, the same key gets another container.
	busy := acquire(t, p, k)
	destroyLater(t, p, busy)
	if busy == a {
		t.Fatal("a busy container was handed out twice")
	}
	p.Return(a)

	// Never shared across invoking namespaces, nor across revisions (nor
	// across memory sizes).
	for _, other := range []invoker.WarmKey{
		key("other", "guest/hello", "1-a", 256),
		key("guest", "guest/hello", "2-b", 256),
		key("guest", "guest/hello2", "1-a", 256),
		key("guest", "guest/hello", "1-a", 128),
	} {
		c := acquire(t, p, other)
		destroyLater(t, p, c)
		if c == a || c.Container().ID() == a.Container().ID() {
			t.Errorf("key %+v got the warm container of %+v", other, k)
		}
	}
	if got := p.IdleIDs(); !slices.Equal(got, []string{a.Container().ID()}) {
		t.Errorf("idle %v; the warm container should still wait for its key", got)
	}
	if exited(a.Container()) {
		t.Error("the warm container was destroyed")
	}
	wantUsed(t, p, 256*5+128)
	if c := acquire(t, p, k); c != a {
		t.Errorf("the warm container was not reused after other keys were served")
	}
	p.Return(a)
}

func TestPoolEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	p := newPool(t, newFactory(t), invoker.PoolConfig{UserMemoryMB: 512})
	ka, kb, kc := key("guest", "guest/a", "1", 256), key("guest", "guest/b", "1", 256), key("guest", "guest/c", "1", 256)
	a := acquire(t, p, ka)
	b := acquire(t, p, kb)
	p.Return(b)
	// Wait for the clock to move on, so that a's return is later than b's.
	for returned := time.Now(); !time.Now().After(returned); {
		runtime.Gosched()
	}
	p.Return(a) // a is now the most recently used
	c := acquire(t, p, kc)
	destroyLater(t, p, c)
	waitExited(t, b.Container(), 5*time.Second)
	if exited(a.Container()) {
		t.Error("the most recently used idle container was evicted")
	}
	if got := p.IdleIDs(); !slices.Equal(got, []string{a.Container().ID()}) {
		t.Errorf("idle %v, want only %s", got, a.Container().ID())
	}
	wantUsed(t, p, 512)
	if got := acquire(t, p, ka); got != a {
		t.Error("the surviving warm container was not reused")
	}
	p.Return(a)
}

func TestPoolMemoryBudget(t *testing.T) {
	t.Parallel()
	p := newPool(t, newFactory(t), invoker.PoolConfig{UserMemoryMB: 256})
	ka, kb := key("guest", "guest/a", "1", 256), key("guest", "guest/b", "1", 256)

	// An idle container of another key is evicted to make room.
	a := acquire(t, p, ka)
	p.Return(a)
	b := acquire(t, p, kb)
	if b.Container().ID() == a.Container().ID() {
		t.Fatal("another action got a's container")
	}
	waitExited(t, a.Container(), 5*time.Second)
	wantUsed(t, p, 256)
	if got := p.IdleIDs(); len(got) != 0 {
		t.Errorf("idle %v after eviction", got)
	}

	// All memory busy: Acquire waits until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	start := time.Now()
	_, err := p.Acquire(ctx, ka)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire with all memory busy: %v, want a deadline error", err)
	}
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("Acquire gave up after %v, before its context ended", d)
	}
	wantUsed(t, p, 256)

	// Return wakes a waiter; b (another key) is evicted for it.
	wait := acquireAsync(p, context.Background(), ka)
	stillWaiting(t, wait)
	p.Return(b)
	c := waitAcquired(t, wait, 5*time.Second)
	if c == b {
		t.Fatal("a waiter for another key got b's container")
	}
	waitExited(t, b.Container(), 5*time.Second)

	// Destroy wakes a waiter.
	wait = acquireAsync(p, context.Background(), kb)
	stillWaiting(t, wait)
	p.Destroy(c)
	if !exited(c.Container()) {
		t.Error("Destroy returned before the container was gone")
	}
	d := waitAcquired(t, wait, 5*time.Second)

	// A waiter for the same key gets the returned container itself.
	wait = acquireAsync(p, context.Background(), kb)
	stillWaiting(t, wait)
	p.Return(d)
	if got := waitAcquired(t, wait, 5*time.Second); got != d {
		t.Error("a waiter for the same key did not get the returned warm container")
	}
	wantUsed(t, p, 256)
	p.Destroy(d)
	wantUsed(t, p, 0)
}

func TestPoolCreateFailureReleasesMemory(t *testing.T) {
	t.Parallel()
	f := newFactory(t)
	p := newPool(t, f, invoker.PoolConfig{UserMemoryMB: 256})
	f.Close()
	_, err := p.Acquire(context.Background(), key("guest", "guest/a", "1", 256))
	if !errors.Is(err, invoker.ErrContainerStart) {
		t.Fatalf("Acquire on a closed factory: %v, want ErrContainerStart", err)
	}
	wantUsed(t, p, 0)
}

func TestPoolStemCells(t *testing.T) {
	t.Parallel()
	sk := invoker.StemKey{Kind: "nodejs:20", MemoryMB: 256}
	p := newPool(t, newFactory(t), invoker.PoolConfig{UserMemoryMB: 2048, StemCells: map[invoker.StemKey]int{sk: 2}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx)
	stems := p.StemIDs(sk)
	if len(stems) != 2 {
		t.Fatalf("stem cells after Start: %v, want 2", stems)
	}
	wantUsed(t, p, 512)

	// Another kind or memory size does not take a stem cell.
	py := acquire(t, p, invoker.WarmKey{Namespace: "guest", Action: "guest/py", Revision: "1", Kind: "python:3.11", MemoryMB: 256})
	destroyLater(t, p, py)
	small := acquire(t, p, key("guest", "guest/small", "1", 128))
	destroyLater(t, p, small)
	for _, c := range []*invoker.Pooled{py, small} {
		if slices.Contains(stems, c.Container().ID()) {
			t.Errorf("container %s for another kind or memory is a stem cell", c.Container().ID())
		}
	}
	if got := p.StemIDs(sk); !slices.Equal(got, stems) {
		t.Errorf("stem cells changed to %v", got)
	}

	// The matching kind and memory takes one, and the pool refills.
	k := key("guest", "guest/hello", "1", 256)
	a := acquire(t, p, k)
	if !slices.Contains(stems, a.Container().ID()) {
		t.Fatalf("Acquire for nodejs:20/256 got %s, not one of the stem cells %v", a.Container().ID(), stems)
	}
	eventually(t, 5*time.Second, "the stem cells are refilled", func() bool {
		got := p.StemIDs(sk)
		return len(got) == 2 && !slices.Contains(got, a.Container().ID())
	})
	wantUsed(t, p, 256+128+3*256)

	// Once returned it is a warm container of its key, not a stem cell.
	p.Return(a)
	if got := acquire(t, p, k); got != a {
		t.Error("the used stem cell was not reused as a warm container")
	}
	p.Return(a)
	refilled := p.Stems(sk)
	if len(refilled) != 2 {
		t.Fatalf("%d stem cells before Close", len(refilled))
	}

	// Close destroys the stem cells and the idle container.
	p.Close()
	for _, c := range append(refilled, a.Container()) {
		if !exited(c) {
			t.Errorf("container %s still running after Close", c.ID())
		}
	}
	wantUsed(t, p, 256+128)
	if got := p.StemIDs(sk); len(got) != 0 {
		t.Errorf("stem cells after Close: %v", got)
	}
}

func TestPoolReaper(t *testing.T) {
	t.Parallel()
	p := newPool(t, newFactory(t), invoker.PoolConfig{UserMemoryMB: 1024, IdleTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx)
	k := key("guest", "guest/hello", "1", 256)
	idle := acquire(t, p, k)
	busy := acquire(t, p, key("guest", "guest/busy", "1", 256))
	destroyLater(t, p, busy)
	p.Return(idle)
	start := time.Now()
	waitExited(t, idle.Container(), 5*time.Second)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("reaped after %v, before the idle timeout", d)
	}
	eventually(t, time.Second, "the reaped container's memory is released", func() bool { return p.UsedMB() == 256 })
	if got := p.IdleIDs(); len(got) != 0 {
		t.Errorf("idle %v after reaping", got)
	}
	if exited(busy.Container()) {
		t.Error("the reaper destroyed a busy container")
	}
	if c := acquire(t, p, k); c == idle {
		t.Error("a reaped container was handed out again")
	} else {
		p.Return(c)
	}
}

func TestPoolClose(t *testing.T) {
	t.Parallel()
	p := newPool(t, newFactory(t), invoker.PoolConfig{UserMemoryMB: 1024})
	idle := acquire(t, p, key("guest", "guest/a", "1", 256))
	busy := acquire(t, p, key("guest", "guest/b", "1", 256))
	p.Return(idle)
	p.Close()
	if !exited(idle.Container()) {
		t.Error("Close returned with an idle container still running")
	}
	if exited(busy.Container()) {
		t.Error("Close destroyed a busy container")
	}
	wantUsed(t, p, 256)
	p.Return(busy)
	if !exited(busy.Container()) {
		t.Error("a container returned after Close was not destroyed")
	}
	wantUsed(t, p, 0)
	if _, err := p.Acquire(context.Background(), key("guest", "guest/a", "1", 256)); !errors.Is(err, invoker.ErrContainerStart) {
		t.Errorf("Acquire after Close: %v, want ErrContainerStart", err)
	}
}

// gatedFactory delays Create until the test opens the gate; the containers
// themselves come from the real factory underneath.
type gatedFactory struct {
	invoker.ContainerFactory
	entered chan struct{}
	gate    chan struct{}
	mu      sync.Mutex
	created []invoker.Container
}

func (g *gatedFactory) Create(ctx context.Context, spec invoker.ContainerSpec) (invoker.Container, error) {
	g.entered <- struct{}{}
	<-g.gate
	c, err := g.ContainerFactory.Create(ctx, spec)
	if err == nil {
		g.mu.Lock()
		g.created = append(g.created, c)
		g.mu.Unlock()
	}
	return c, err
}

func TestPoolCloseDuringPrewarm(t *testing.T) {
	t.Parallel()
	g := &gatedFactory{ContainerFactory: newFactory(t), entered: make(chan struct{}, 1), gate: make(chan struct{})}
	sk := invoker.StemKey{Kind: "nodejs:20", MemoryMB: 256}
	p := newPool(t, g, invoker.PoolConfig{UserMemoryMB: 1024, StemCells: map[invoker.StemKey]int{sk: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	go func() { p.Start(ctx); close(started) }()
	<-g.entered
	p.Close()
	close(g.gate)
	<-started
	g.mu.Lock()
	created := slices.Clone(g.created)
	g.mu.Unlock()
	if len(created) != 1 {
		t.Fatalf("created %d containers, want 1", len(created))
	}
	t.Cleanup(func() { _ = created[0].Destroy(context.Background()) })
	waitExited(t, created[0], 2*time.Second)
	wantUsed(t, p, 0)
}
