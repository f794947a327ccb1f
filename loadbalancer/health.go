package loadbalancer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
)

// Invoker health supervision, as upstream's InvokerPool and InvokerActor:
//
//   - Invokers register by pinging on the health topic (every second). A new
//     invoker starts unhealthy; no ping for 10 s, or a ping with
//     isEnabled=false, makes it down; a ping while down makes it unhealthy.
//   - On entering unhealthy or unresponsive, and every minute while there,
//     the controller sends the invoker a test action,
//     whisk.system/invokerHealthTestAction<C> (non-blocking, as whisk.system
//     with a random key). Each success while unhealthy sends another.
//   - Every completion of an activation the invoker ran (test actions and
//     user activations) goes into a ring buffer of the last 10 results: more
//     than 3 system errors make the invoker unhealthy, more than 3 timeouts
//     (completions forced because no acknowledgement came) unresponsive,
//     and otherwise a success makes it up.
//
// Only invokers that are up get work.

// finishResult is how an activation ended, for invoker health.
type finishResult int

const (
	resultSuccess finishResult = iota + 1
	resultSystemError
	resultTimeout
)

// Upstream's health constants (InvokerActor, InvokerPool).
const (
	healthBufferSize     = 10
	healthErrorTolerance = 3
	// PingTimeout is how long an invoker may stay silent before it is down.
	PingTimeout = 10 * time.Second
	// TestActionInterval is how often an unhealthy or unresponsive invoker
	// gets a test action.
	TestActionInterval = time.Minute
	// healthTickInterval is how often Run checks for silent invokers.
	healthTickInterval = 500 * time.Millisecond
	// testActionSendTimeout bounds publishing one test action.
	testActionSendTimeout = 10 * time.Second
	// maxPendingTestActions bounds the test actions waiting to be sent;
	// more are dropped (the next tick or success sends another).
	maxPendingTestActions = 256
	// maxPingBytes bounds a ping message.
	maxPingBytes = 64 << 10
)

// HealthTestActionCode is the test action's code, as upstream's.
const HealthTestActionCode = "function main(params) { return params; }"

// HealthTestActionName names controller C's test action in whisk.system.
func HealthTestActionName(controllerID string) string {
	return "invokerHealthTestAction" + controllerID
}

// healthFSM is one invoker's health state beside its entry.
type healthFSM struct {
	// static invokers are up by construction and ignore pings and results.
	static bool
	// registered is set by the invoker's first ping (entries that only pad
	// the table are not).
	registered bool
	buffer     [healthBufferSize]finishResult
	n, next    int
	lastPing   time.Time
	lastTest   time.Time
}

func (f *healthFSM) add(r finishResult) {
	f.buffer[f.next] = r
	f.next = (f.next + 1) % healthBufferSize
	f.n = min(f.n+1, healthBufferSize)
}

func (f *healthFSM) count(r finishResult) int {
	c := 0
	for _, x := range f.buffer[:f.n] {
		if x == r {
			c++
		}
	}
	return c
}

// testAction is one test action waiting to be sent.
type testAction struct {
	invoker int
	msg     []byte
}

// healthSupervisor drives the invokers' FSMs; it lives inside the Balancer
// and runs under its lock.
type healthSupervisor struct {
	b       *Balancer
	pending chan testAction
	// stopped is closed when the balancer closes.
	stopped  chan struct{}
	stopOnce sync.Once
}

func (h *healthSupervisor) init(b *Balancer) {
	h.b = b
	h.pending = make(chan testAction, maxPendingTestActions)
	h.stopped = make(chan struct{})
}

// stop ends the supervision loops.
func (h *healthSupervisor) stop() { h.stopOnce.Do(func() { close(h.stopped) }) }

// HandlePing consumes one message of the health topic.
func (b *Balancer) HandlePing(_ context.Context, value []byte) error {
	if len(value) > maxPingBytes {
		return fmt.Errorf("ping of %d bytes: %w", len(value), messaging.ErrMalformed)
	}
	var p messaging.PingMessage
	if err := json.Unmarshal(value, &p); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if p.Name.Instance < 0 || p.Name.Instance >= maxInvokers {
		return fmt.Errorf("ping from invoker %d: %w: instance out of range 0..%d", p.Name.Instance, messaging.ErrMalformed, maxInvokers-1)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.health.pingLocked(p, time.Now())
	return nil
}

// pingLocked handles one ping.
func (h *healthSupervisor) pingLocked(p messaging.PingMessage, now time.Time) {
	e := h.b.entryLocked(p.Name)
	f := &e.fsm
	if f.static {
		return
	}
	f.lastPing = now
	if !f.registered {
		f.registered = true
		h.b.log.Info("registered a new invoker", "invoker", e.id.String(), "userMemory", e.id.UserMemory)
		h.gotoLocked(e, InvokerUnhealthy, now) // from down: a new invoker starts unhealthy
	}
	switch {
	case e.state == InvokerDown && p.Enabled():
		h.gotoLocked(e, InvokerUnhealthy, now)
	case e.state != InvokerDown && !p.Enabled():
		h.gotoLocked(e, InvokerDown, now)
	}
}

// tickLocked marks silent invokers down and repeats test actions.
func (h *healthSupervisor) tickLocked(now time.Time) {
	for _, e := range h.b.invokers {
		f := &e.fsm
		if f.static || !f.registered || e.state == InvokerDown {
			continue
		}
		if now.Sub(f.lastPing) > PingTimeout {
			h.gotoLocked(e, InvokerDown, now)
			h.b.abandonLocked(e.id.Instance)
			continue
		}
		if (e.state == InvokerUnhealthy || e.state == InvokerUnresponsive) && now.Sub(f.lastTest) >= TestActionInterval {
			h.testLocked(e, now)
		}
	}
}

// finishedLocked records how an activation on invoker n ended.
func (h *healthSupervisor) finishedLocked(n int, r finishResult, now time.Time) {
	if n < 0 || n >= len(h.b.invokers) {
		return
	}
	e := h.b.invokers[n]
	f := &e.fsm
	if f.static || !f.registered {
		return
	}
	f.add(r)
	if r == resultSuccess && e.state == InvokerUnhealthy {
		h.testLocked(e, now) // clear the buffer quickly
	}
	if (e.state == InvokerUp && r == resultSuccess) || e.state == InvokerDown {
		return
	}
	switch {
	case f.count(resultSystemError) > healthErrorTolerance:
		h.gotoLocked(e, InvokerUnhealthy, now)
	case f.count(resultTimeout) > healthErrorTolerance:
		h.gotoLocked(e, InvokerUnresponsive, now)
	case r == resultSuccess:
		h.gotoLocked(e, InvokerUp, now)
	case r == resultSystemError && f.n <= healthErrorTolerance:
		h.gotoLocked(e, InvokerUnhealthy, now)
	case r == resultTimeout && f.n <= healthErrorTolerance:
		h.gotoLocked(e, InvokerUnresponsive, now)
	}
}

// gotoLocked changes an invoker's state; entering unhealthy or unresponsive
// sends a test action.
func (h *healthSupervisor) gotoLocked(e *invokerEntry, to InvokerState, now time.Time) {
	if e.state == to {
		return
	}
	from := e.state
	e.state = to
	// A degradation is a warning; registering and recovering are news.
	if from == InvokerUp || to == InvokerUnresponsive {
		h.b.log.Warn("invoker is "+to.String(), "invoker", e.id.String(), "was", from.String())
	} else {
		h.b.log.Info("invoker is "+to.String(), "invoker", e.id.String(), "was", from.String())
	}
	if to == InvokerUnhealthy || to == InvokerUnresponsive {
		h.testLocked(e, now)
	}
}

// testLocked queues a test action for e.
func (h *healthSupervisor) testLocked(e *invokerEntry, now time.Time) {
	e.fsm.lastTest = now
	msg, err := json.Marshal(h.testMessage(now))
	if err != nil {
		h.b.log.Error("encode health test action", "err", err)
		return
	}
	select {
	case h.pending <- testAction{invoker: e.id.Instance, msg: msg}:
	default:
		h.b.log.Warn("health test action queue full; dropped one", "invoker", e.id.String())
	}
}

// testMessage is upstream's test activation: whisk.system's test action of
// this controller, run as whisk.system with a random key, non-blocking, with
// no revision (the invoker reads the newest document).
func (h *healthSupervisor) testMessage(now time.Time) messaging.ActivationMessage {
	id := uuid.NewString()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	c := h.b.cfg.ControllerID
	return messaging.ActivationMessage{
		TransID: messaging.NewTransactionID(invokerHealthTransID, now),
		Action:  messaging.FullyQualifiedEntityName{Path: "whisk.system", Name: HealthTestActionName(c)},
		User: messaging.Identity{Subject: "whisk.system", Namespace: messaging.Namespace{Name: "whisk.system", UUID: id},
			AuthKey: messaging.AuthKey{APIKey: id + ":" + hex.EncodeToString(secret)}},
		ActivationID:        api.NewActivationID(),
		RootControllerIndex: messaging.NewControllerInstanceID(c),
	}
}

// superviseHealth marks invokers that stopped pinging down and repeats test
// actions until ctx ends or the balancer closes.
func (b *Balancer) superviseHealth(ctx context.Context) {
	tick := time.NewTicker(healthTickInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.health.stopped:
			return
		case now := <-tick.C:
			b.mu.Lock()
			b.health.tickLocked(now)
			b.mu.Unlock()
		}
	}
}

// sendTestActions sends the queued test actions until ctx ends or the
// balancer closes.
func (b *Balancer) sendTestActions(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.health.stopped:
			return
		case t := <-b.health.pending:
			if err := b.sendTestAction(ctx, t.invoker, t.msg); err != nil && !errors.Is(err, context.Canceled) {
				b.log.Warn("health test action not sent", "invoker", t.invoker, "err", err)
			}
		}
	}
}

// EnsureHealthTestAction writes controller C's test action,
// whisk.system/invokerHealthTestAction<C> (nodejs:default, 128 MB, upstream's
// code), as upstream's controller does at startup.
func EnsureHealthTestAction(ctx context.Context, st *store.Store, controllerID string, manifest *api.Manifest, limits api.Limits) error {
	rt, ok := manifest.Resolve("nodejs:default")
	if !ok {
		return errors.New("health test action: the runtime manifest has no nodejs:default")
	}
	name := HealthTestActionName(controllerID)
	if err := api.CheckName(name); err != nil {
		return fmt.Errorf("health test action %q: controller id %q makes an invalid name: %w", name, controllerID, err)
	}
	code := HealthTestActionCode
	al := limits.Defaults()
	al.Memory = limits.MinMemoryMB
	a := api.Action{Namespace: "whisk.system", Name: name, Version: "0.0.1",
		Exec: api.Exec{Kind: rt.Kind, Code: &code}, Parameters: api.KeyValues{}, Limits: al,
		Annotations: api.KeyValues{}.Set("provide-api-key", false).Set("exec", rt.Kind)}
	id := a.Namespace + "/" + a.Name
	for attempt := 0; ; attempt++ {
		rev := ""
		switch old, err := st.GetAction(ctx, id); {
		case err == nil:
			rev = old.Rev // replaced as a whole, version 0.0.1, as upstream does
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("health test action %s: %w", id, err)
		}
		a.Updated = time.Now().UnixMilli()
		_, err := st.PutEntity(ctx, id, rev, api.ActionDoc{EntityType: "action", Action: a})
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= 3 {
			return fmt.Errorf("health test action %s: %w", id, err)
		}
	}
}
