package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/brisk-serverless/brisk/messaging"
)

// ErrNoInvokers is returned when no invoker can take an activation.
var ErrNoInvokers = errors.New("no invokers available")

// Publisher sends messages to a topic.
type Publisher interface {
	Send(ctx context.Context, topic string, value []byte) error
}

// maxWaiters bounds the blocking invokes one controller waits for.
const maxWaiters = 100000

// Activator publishes activation messages to invokers and completes blocking
// callers when the invoker's acknowledgement arrives on completed<C>.
type Activator struct {
	pub        Publisher
	controller messaging.ControllerInstanceID
	sched      Scheduler
	log        *slog.Logger

	mu      sync.Mutex
	waiters map[string]chan json.RawMessage
	// onCompletion is told when an activation's invoker slot is free.
	onCompletion func(activationID string)
}

// NewActivator creates an activator for controller id publishing to
// invokers invoker0..invoker<n-1>, which are up by construction (standalone:
// one invoker in the same process).
func NewActivator(pub Publisher, controllerID string, invokers int, log *slog.Logger) *Activator {
	ids := make([]messaging.InvokerInstanceID, invokers)
	for i := range ids {
		ids[i] = messaging.NewInvokerInstanceID(i, DefaultInvokerUserMemory)
	}
	return NewActivatorWith(pub, controllerID, NewBalancer(BalancerConfig{ControllerID: controllerID, Static: ids, Log: log}), log)
}

// NewActivatorWith creates an activator for controller id that places
// activations with sched (a Balancer whose invokers register by pinging, in
// the distributed controller).
func NewActivatorWith(pub Publisher, controllerID string, sched Scheduler, log *slog.Logger) *Activator {
	return &Activator{pub: pub, controller: messaging.NewControllerInstanceID(controllerID), sched: sched,
		log: log, waiters: map[string]chan json.RawMessage{}}
}

// Scheduler is the activator's invoker placement (for GET /invokers).
func (a *Activator) Scheduler() Scheduler { return a.sched }

// ControllerID is the instance id put into activation messages.
func (a *Activator) ControllerID() messaging.ControllerInstanceID { return a.controller }

// CompletedTopic is the topic this controller's acknowledgements arrive on.
func (a *Activator) CompletedTopic() string { return messaging.CompletedTopic(a.controller.AsString) }

// Publish sends msg to the invoker the scheduler picks for an action with
// needs. For a blocking message it returns a channel that receives the
// activation record (stored JSON form); call done when no longer waiting.
func (a *Activator) Publish(ctx context.Context, msg *messaging.ActivationMessage, needs Needs) (<-chan json.RawMessage, func(), error) {
	msg.RootControllerIndex = a.controller
	invoker, err := a.sched.Schedule(msg, needs)
	if err != nil {
		return nil, func() {}, fmt.Errorf("schedule activation %s: %w", msg.ActivationID, err)
	}
	var (
		ch   chan json.RawMessage
		done = func() {}
	)
	if msg.Blocking {
		ch = make(chan json.RawMessage, 1)
		a.mu.Lock()
		if len(a.waiters) >= maxWaiters {
			a.mu.Unlock()
			a.sched.Unschedule(msg.ActivationID)
			return nil, done, fmt.Errorf("%d blocking activations in flight: %w", maxWaiters, ErrNoInvokers)
		}
		a.waiters[msg.ActivationID] = ch
		a.mu.Unlock()
		done = func() {
			a.mu.Lock()
			delete(a.waiters, msg.ActivationID)
			a.mu.Unlock()
		}
	}
	b, err := json.Marshal(msg)
	if err != nil {
		done()
		a.sched.Unschedule(msg.ActivationID)
		return nil, func() {}, fmt.Errorf("encode activation %s: %w", msg.ActivationID, err)
	}
	topic := messaging.InvokerTopic(invoker)
	if err := a.pub.Send(ctx, topic, b); err != nil {
		done()
		a.sched.Unschedule(msg.ActivationID)
		return nil, func() {}, fmt.Errorf("publish activation %s to %s: %w: %w", msg.ActivationID, topic, ErrNoInvokers, err)
	}
	return ch, done, nil
}

// HandleAck consumes one message of completed<C>.
func (a *Activator) HandleAck(_ context.Context, value []byte) error {
	ack, err := messaging.ParseAcknowledgement(value)
	if err != nil {
		return fmt.Errorf("acknowledgement: %w", err)
	}
	if ack.FreesSlot() {
		a.sched.Completed(ack)
		if a.onCompletion != nil {
			a.onCompletion(ack.ActivationID)
		}
	}
	if ack.Kind == messaging.AckCompletion {
		return nil
	}
	a.mu.Lock()
	ch, ok := a.waiters[ack.ActivationID]
	if ok {
		delete(a.waiters, ack.ActivationID)
	}
	a.mu.Unlock()
	if ok {
		ch <- ack.Activation // nil when shrunk: the waiter reads the record from the store
	}
	return nil
}

// answer gives a blocking caller waiting for activationID its record
// (stored JSON form), if one waits.
func (a *Activator) answer(activationID string, record json.RawMessage) {
	a.mu.Lock()
	ch, ok := a.waiters[activationID]
	if ok {
		delete(a.waiters, activationID)
	}
	a.mu.Unlock()
	if ok {
		ch <- record
	}
}
