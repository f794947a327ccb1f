package loadbalancer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
)

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

// fakeTimers records the forced-completion timers a balancer sets, so that
// tests can fire them without waiting minutes.
type fakeTimers struct {
	after []time.Duration
	fns   []func()
}

type fakeTimer struct{ stopped *bool }

func (f fakeTimer) Stop() bool { *f.stopped = true; return true }

func (ft *fakeTimers) install(b *Balancer) {
	b.afterFunc = func(d time.Duration, f func()) stopper {
		ft.after = append(ft.after, d)
		ft.fns = append(ft.fns, f)
		return fakeTimer{stopped: new(bool)}
	}
}

// staticBalancer has n invokers of memMB each, up by construction.
func staticBalancer(n, memMB int, cfg Config) *Balancer {
	for i := range n {
		cfg.Static = append(cfg.Static, messaging.NewInvokerInstanceID(i, memMB))
	}
	cfg.Log = quietLog()
	return New(cfg)
}

func newMsg(ns, fqnPath, name string) *messaging.ActivationMessage {
	return &messaging.ActivationMessage{ActivationID: api.NewActivationID(),
		Action: messaging.FullyQualifiedEntityName{Path: fqnPath, Name: name},
		User:   messaging.Identity{Namespace: messaging.Namespace{Name: ns}}}
}

func completion(activationID string, invoker int, systemError bool) messaging.AcknowledgementMessage {
	return messaging.NewCompletionAck(messaging.NewTransactionID("tid", time.Now()), activationID, systemError,
		messaging.NewInvokerInstanceID(invoker, 256))
}

func schedule(t *testing.T, b *Balancer, msg *messaging.ActivationMessage, needs Needs) int {
	t.Helper()
	n, err := b.schedule(msg, needs, nil)
	if err != nil {
		t.Fatalf("Schedule %s: %v", msg.Action, err)
	}
	return n
}

func TestJavaStringHash(t *testing.T) {
	// Values printed by Java 17's String.hashCode and Math.abs(a ^ b).
	for _, c := range []struct {
		ns, fqn        string
		nsHash, fqHash int32
		hash           uint32
	}{
		{"guest", "guest/hello", 98708952, 86723035, 13198339},
		{"guest", "guest/pkg/echo", 98708952, -116420897, 51535097},
		{"whisk.system", "whisk.system/invokerHealthTestAction0", -1796040243, -1812739596, 117526585},
		{"alice", "bob/utils/\U0001F600x", 92903040, -957304515, 1015470147}, // a surrogate pair
		{"ns", "ns/é", 3525, 3389215, 3390170},
	} {
		if got := javaStringHash(c.ns); got != c.nsHash {
			t.Errorf("hash(%q) = %d, want %d", c.ns, got, c.nsHash)
		}
		if got := javaStringHash(c.fqn); got != c.fqHash {
			t.Errorf("hash(%q) = %d, want %d", c.fqn, got, c.fqHash)
		}
		if got := generateHash(c.ns, c.fqn); got != c.hash {
			t.Errorf("generateHash(%q, %q) = %d, want %d", c.ns, c.fqn, got, c.hash)
		}
	}
}

func TestStepSizes(t *testing.T) {
	// Upstream's pairwiseCoprimeNumbersUntil, as Java computes it.
	for n, want := range map[int][]int{0: nil, 1: {1}, 2: {1}, 3: {1, 2}, 4: {1, 3}, 5: {1, 2, 3}, 6: {1, 5}, 10: {1, 3, 7}, 12: {1, 5, 7, 11}} {
		if got := pairwiseCoprimeNumbersUntil(n); !slices.Equal(got, want) {
			t.Errorf("step sizes for %d = %v, want %v", n, got, want)
		}
	}
}

func TestScheduleHomeStepAndOverload(t *testing.T) {
	b := staticBalancer(3, 256, Config{})
	var ft fakeTimers
	ft.install(b)
	need := Needs{MemoryMB: 256, Timeout: time.Second}
	// hash("guest", "guest/hello") = 13198339: home 13198339 % 3 = 1, step
	// sizes of 3 are [1 2] and 13198339 % 2 = 1 picks step 2.
	first := newMsg("guest", "guest", "hello")
	if got := schedule(t, b, first, need); got != 1 {
		t.Fatalf("first activation on invoker%d, want the home invoker1", got)
	}
	if got := schedule(t, b, newMsg("guest", "guest", "hello"), need); got != 0 {
		t.Fatalf("second activation on invoker%d, want invoker0 ((1+2)%%3)", got)
	}
	if got := schedule(t, b, newMsg("guest", "guest", "hello"), need); got != 2 {
		t.Fatalf("third activation on invoker%d, want invoker2 ((0+2)%%3)", got)
	}
	// Every slot is taken: overload assigns some healthy invoker anyway.
	over := newMsg("guest", "guest", "hello")
	if got := schedule(t, b, over, need); got < 0 || got > 2 {
		t.Fatalf("overloaded activation on invoker%d", got)
	}
	// The home invoker's completion frees its slot: the next one goes home.
	b.completed(completion(first.ActivationID, 1, false))
	b.completed(completion(over.ActivationID, 0, false))
	if got := schedule(t, b, newMsg("guest", "guest", "hello"), need); got != 1 {
		t.Fatalf("after the completion: invoker%d, want the home invoker1 again", got)
	}
	// Another action hashes elsewhere: hash("guest", "guest/pkg/echo") =
	// 51535097, home 51535097 % 3 = 2.
	if got := schedule(t, staticBalancer(3, 256, Config{}), newMsg("guest", "guest/pkg", "echo"), Needs{MemoryMB: 128}); got != 2 {
		t.Errorf("guest/pkg/echo on invoker%d, want its home invoker2", got)
	}
	// A forced completion timer was set per activation: max(1 s, 60 s) * 2 + 1 min.
	for _, d := range ft.after {
		if d != 3*time.Minute {
			t.Fatalf("completion-ack timeout %s, want 3m", d)
		}
	}
}

func TestScheduleSlotsPerController(t *testing.T) {
	// Two controllers share 256 MB invokers: each books 128 MB of each.
	b := staticBalancer(2, 256, Config{ClusterSize: 2})
	var ft fakeTimers
	ft.install(b)
	need := Needs{MemoryMB: 128}
	a, c := schedule(t, b, newMsg("guest", "guest", "hello"), need), schedule(t, b, newMsg("guest", "guest", "hello"), need)
	if a == c {
		t.Fatalf("two 128 MB activations both on invoker%d; each controller has only 128 MB of it", a)
	}
	// A share never drops below one 128 MB action.
	if got := New(Config{ClusterSize: 64}).slotsFor(2048); got != 128 {
		t.Errorf("slots of 2048 MB / 64 controllers = %d, want 128", got)
	}
}

func TestScheduleBlackboxInvokers(t *testing.T) {
	// 10 invokers: managed are the first ceil(10*0.9) = 9, blackbox the last
	// floor(10*0.1) = 1.
	b := staticBalancer(10, 2048, Config{})
	var ft fakeTimers
	ft.install(b)
	for i := range 20 {
		msg := newMsg("ns", "ns", fmt.Sprintf("a%d", i))
		if got := schedule(t, b, msg, Needs{MemoryMB: 128, Blackbox: true}); got != 9 {
			t.Fatalf("blackbox activation on invoker%d, want invoker9", got)
		}
		if got := schedule(t, b, msg, Needs{MemoryMB: 128}); got > 8 {
			t.Fatalf("managed activation on invoker%d, want one of 0..8", got)
		}
	}
	// With 2 invokers the sets overlap: managed 0..1, blackbox 1.
	b2 := staticBalancer(2, 2048, Config{})
	ft.install(b2)
	if got := schedule(t, b2, newMsg("ns", "ns", "x"), Needs{MemoryMB: 128, Blackbox: true}); got != 1 {
		t.Fatalf("blackbox activation on invoker%d with 2 invokers, want invoker1", got)
	}
}

func TestScheduleNoInvokers(t *testing.T) {
	b := New(Config{Log: quietLog()})
	_, err := b.schedule(newMsg("guest", "guest", "hello"), Needs{MemoryMB: 256}, nil)
	e, ok := api.AsError(err)
	if !errors.Is(err, ErrNoInvokers) || !ok || e.Status != http.StatusServiceUnavailable ||
		e.Message != "No invokers available: no invoker has registered yet." {
		t.Fatalf("no invoker known: %v", err)
	}

	// Two registered invokers, neither up: the message says why.
	now := time.Now()
	b.mu.Lock()
	b.health.pingLocked(ping(0, true), now)
	b.health.pingLocked(ping(1, true), now)
	b.health.tickLocked(now.Add(PingTimeout + time.Second)) // both silent: down
	b.health.pingLocked(ping(1, true), now.Add(PingTimeout+2*time.Second))
	b.mu.Unlock()
	_, err = b.schedule(newMsg("guest", "guest", "hello"), Needs{MemoryMB: 256}, nil)
	if e, ok := api.AsError(err); !ok || e.Message != "No invokers available: 0 of 2 invokers are up (1 down, 1 unhealthy)." {
		t.Fatalf("no invoker up: %v", err)
	}
}

func TestScheduleSkipsInvokersNotUp(t *testing.T) {
	b := New(Config{Log: quietLog()})
	var ft fakeTimers
	ft.install(b)
	now := time.Now()
	b.mu.Lock()
	for i := range 3 {
		b.health.pingLocked(ping(i, true), now)
	}
	b.health.finishedLocked(0, resultSuccess, now)
	b.health.finishedLocked(2, resultSuccess, now)
	b.mu.Unlock()
	// guest/hello's home is invoker1, which is unhealthy: it steps to 0.
	for range 5 {
		if got := schedule(t, b, newMsg("guest", "guest", "hello"), Needs{MemoryMB: 128}); got == 1 {
			t.Fatal("an activation went to the unhealthy invoker1")
		}
	}
}

func TestForcedCompletion(t *testing.T) {
	b := staticBalancer(1, 256, Config{})
	var ft fakeTimers
	ft.install(b)
	msg := newMsg("guest", "guest", "slow")
	schedule(t, b, msg, Needs{MemoryMB: 256, Timeout: 5 * time.Minute})
	if want := 11 * time.Minute; ft.after[0] != want { // 5 min * 2 + 1 min
		t.Fatalf("completion-ack timeout %s, want %s", ft.after[0], want)
	}
	if b.invokers[0].freeMB != 0 {
		t.Fatalf("free after booking = %d MB, want 0", b.invokers[0].freeMB)
	}
	ft.fns[0]() // no acknowledgement in time
	if b.invokers[0].freeMB != 256 || len(b.bookings) != 0 {
		t.Fatalf("after the forced completion: free %d MB, %d bookings", b.invokers[0].freeMB, len(b.bookings))
	}
	// A late acknowledgement changes nothing.
	b.completed(completion(msg.ActivationID, 0, false))
	if b.invokers[0].freeMB != 256 {
		t.Fatalf("late acknowledgement freed the slot twice: %d MB free", b.invokers[0].freeMB)
	}
	// Unschedule (message never sent) returns the booking too.
	msg2 := newMsg("guest", "guest", "unsent")
	schedule(t, b, msg2, Needs{MemoryMB: 128})
	b.unschedule(msg2.ActivationID)
	if b.invokers[0].freeMB != 256 {
		t.Fatalf("after Unschedule: %d MB free, want 256", b.invokers[0].freeMB)
	}
}

func TestHandleAckFreesSlots(t *testing.T) {
	// Completion and combined acks end the booking; result acks do not free
	// the slot.
	b := staticBalancer(2, 256, Config{})
	var ft fakeTimers
	ft.install(b)
	need := Needs{MemoryMB: 256}
	first := newMsg("guest", "guest", "hello")
	home := schedule(t, b, first, need)
	rec, _ := json.Marshal(map[string]any{"activationId": first.ActivationID})
	result, err := messaging.NewResultAck(messaging.NewTransactionID("t", time.Now()), rec)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(result)
	if err := b.HandleAck(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	if got := schedule(t, b, newMsg("guest", "guest", "hello"), need); got == home {
		t.Fatal("a result ack freed the slot")
	}
	raw, _ = json.Marshal(completion(first.ActivationID, home, false))
	if err := b.HandleAck(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	if got := schedule(t, b, newMsg("guest", "guest", "hello"), need); got != home {
		t.Fatalf("after the completion ack: invoker%d, want the home invoker%d", got, home)
	}
}

func TestNeedsBlackbox(t *testing.T) {
	code := "x"
	for _, c := range []struct {
		exec api.Exec
		want bool
	}{
		{api.Exec{Kind: "nodejs:20", Code: &code}, false},
		{api.Exec{Kind: "blackbox", Image: "brisk/dockerskeleton:latest"}, false},
		{api.Exec{Kind: "blackbox", Image: "brisk/dockerskeleton"}, false},
		{api.Exec{Kind: "blackbox", Image: "someone/custom"}, true},
	} {
		n := NeedsOf(&api.Action{Exec: c.exec, Limits: api.ActionLimits{Memory: 256, Timeout: 3000}}, api.DefaultManifest(), 128)
		if n.Blackbox != c.want || n.MemoryMB != 256 || n.Timeout != 3*time.Second {
			t.Errorf("needs of %+v = %+v, want blackbox %v", c.exec, n, c.want)
		}
	}
}

// BenchmarkScheduleComplete is the balancer's share of one invoke: a
// booking with its completion-ack timer, then the completion.
func BenchmarkScheduleComplete(b *testing.B) {
	bal := staticBalancer(4, 2048, Config{})
	msg := newMsg("guest", "guest", "hello")
	ack := completion(msg.ActivationID, 0, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bal.schedule(msg, Needs{MemoryMB: 256, Timeout: time.Second}, nil); err != nil {
			b.Fatal(err)
		}
		bal.completed(ack)
	}
}

// TestScheduleSharedContainers: an action whose containers take N
// activations books its memory once per N activations on an invoker
// (upstream's concurrency-aware slots), and gives it back when the
// activations of a container's worth have completed.
func TestScheduleSharedContainers(t *testing.T) {
	// One invoker with room for two 256 MB containers.
	b := staticBalancer(1, 512, Config{})
	var ft fakeTimers
	ft.install(b)
	shared := Needs{MemoryMB: 256, Concurrency: 3}
	var ids []string
	for range 6 { // two containers' worth
		m := newMsg("guest", "guest", "shared")
		schedule(t, b, m, shared)
		ids = append(ids, m.ActivationID)
	}
	if free := b.invokers[0].freeMB; free != 0 {
		t.Fatalf("six activations of a concurrency-3 action left %d MB free, want 0 (two containers)", free)
	}
	// A plain action finds no memory: it lands there only as an overload.
	b.schedule(newMsg("guest", "guest", "plain"), Needs{MemoryMB: 256}, nil)
	if free := b.invokers[0].freeMB; free != -256 {
		t.Errorf("free %d MB after an overload, want -256", free)
	}
	// Another namespace's activations of the same action never share.
	other := newMsg("other", "guest", "shared")
	b.schedule(other, shared, nil)
	if free := b.invokers[0].freeMB; free != -512 {
		t.Errorf("free %d MB; another namespace must book a container of its own (-512)", free)
	}
	b.completed(completion(other.ActivationID, 0, false))
	// Two of one container's three complete: still booked.
	b.completed(completion(ids[0], 0, false))
	b.completed(completion(ids[1], 0, false))
	if free := b.invokers[0].freeMB; free != -256 {
		t.Errorf("free %d MB, want -256 (the overload) while both containers' worth are still in use", free)
	}
	// A new activation takes a free place without booking memory.
	again := newMsg("guest", "guest", "shared")
	schedule(t, b, again, shared)
	if free := b.invokers[0].freeMB; free != -256 {
		t.Errorf("free %d MB; an activation with a place in a shared container booked memory", free)
	}
	// The third completes: four are left, two containers' worth still.
	b.completed(completion(ids[2], 0, false))
	b.completed(completion(again.ActivationID, 0, false))
	if free := b.invokers[0].freeMB; free != 0 {
		t.Errorf("free %d MB after a container's worth completed, want 0 (256 back, the overload still booked)", free)
	}
	for _, id := range ids[3:] {
		b.completed(completion(id, 0, false))
	}
	if free := b.invokers[0].freeMB; free != 256 || len(b.invokers[0].shared) != 0 {
		t.Errorf("free %d MB, shared %v after every shared activation completed; want 256 and none", free, b.invokers[0].shared)
	}
}

func TestNeedsConcurrency(t *testing.T) {
	code := "x"
	for _, c := range []struct {
		kind  string
		limit int
		want  int
	}{
		{"nodejs:20", 5, 5},
		{"nodejs:20", 1, 1},
		{"python:3.11", 5, 1}, // the runtime runs one at a time
		{"blackbox", 4, 4},
	} {
		n := NeedsOf(&api.Action{Exec: api.Exec{Kind: c.kind, Code: &code, Image: "brisk/dockerskeleton"},
			Limits: api.ActionLimits{Memory: 256, Timeout: 3000, Concurrency: c.limit}}, api.DefaultManifest(), 128)
		if n.Concurrency != c.want {
			t.Errorf("%s with concurrency %d: needs %d per container, want %d", c.kind, c.limit, n.Concurrency, c.want)
		}
	}
}

func TestSetClusterSize(t *testing.T) {
	// Each controller's share of an invoker follows the live controllers;
	// bookings made stay booked.
	b := staticBalancer(1, 1024, Config{})
	schedule(t, b, newMsg("guest", "guest", "a"), Needs{MemoryMB: 256})
	b.SetClusterSize(2)
	if e := b.invokers[0]; e.slotsMB != 512 || e.freeMB != 256 {
		t.Fatalf("with 2 controllers: slots %d MB, free %d MB; want 512 and 256", e.slotsMB, e.freeMB)
	}
	b.SetClusterSize(4)
	if e := b.invokers[0]; e.slotsMB != 256 || e.freeMB != 0 {
		t.Fatalf("with 4 controllers: slots %d MB, free %d MB; want 256 and 0", e.slotsMB, e.freeMB)
	}
	b.SetClusterSize(0) // at least one
	if e := b.invokers[0]; e.slotsMB != 1024 || e.freeMB != 768 {
		t.Fatalf("with 1 controller: slots %d MB, free %d MB; want 1024 and 768", e.slotsMB, e.freeMB)
	}
}
