package loadbalancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/brisk-serverless/brisk/messaging"
)

// ErrNoInvokers is returned when no invoker can take an activation.
var ErrNoInvokers = errors.New("no invokers available")

// ErrUnencodable is returned for an activation whose message cannot be
// encoded (its arguments are not valid JSON for Go's encoder).
var ErrUnencodable = errors.New("activation message cannot be encoded")

// Publisher sends messages to a topic.
type Publisher interface {
	Send(ctx context.Context, topic string, value []byte) error
}

// maxWaiters bounds the blocking invokes one controller waits for.
const maxWaiters = 100000

// Promise is one published activation as its publisher sees it: for a
// blocking activation, the channel its record arrives on. Close it when no
// longer waiting.
type Promise struct {
	// ActivationID is the published activation's id.
	ActivationID string
	result       chan json.RawMessage
	b            *Balancer
}

// Result receives the activation's record (stored JSON form) once: from the
// invoker's acknowledgement, or the whisk internal error recorded when the
// activation was lost. A nil record means the invoker sent only the id (the
// record was too large for a message): read it from the store. For a
// non-blocking activation the channel is nil and never ready.
func (p *Promise) Result() <-chan json.RawMessage { return p.result }

// Close stops waiting for the result; a result arriving later is dropped.
func (p *Promise) Close() {
	if p.result == nil {
		return
	}
	p.b.wmu.Lock()
	if p.b.waiting[p.ActivationID] == p.result {
		delete(p.b.waiting, p.ActivationID)
	}
	p.b.wmu.Unlock()
}

// Publish books an invoker for msg, an activation of an action with needs,
// and sends msg to it. release is called exactly once, when the booking ends:
// the invoker's completion arrived, the activation was given up as lost, or
// Publish failed (then before it returns). For a blocking message the
// returned Promise delivers the record.
func (b *Balancer) Publish(ctx context.Context, msg *messaging.ActivationMessage, needs Needs, release func()) (*Promise, error) {
	if release == nil {
		release = func() {}
	}
	msg.RootControllerIndex = b.controller
	p := &Promise{ActivationID: msg.ActivationID, b: b}
	if msg.Blocking {
		p.result = make(chan json.RawMessage, 1)
		b.wmu.Lock()
		if len(b.waiting) >= maxWaiters {
			b.wmu.Unlock()
			release()
			return nil, fmt.Errorf("%d blocking activations in flight: %w", maxWaiters, ErrNoInvokers)
		}
		b.waiting[msg.ActivationID] = p.result
		b.wmu.Unlock()
	}
	invoker, err := b.schedule(msg, needs, release)
	if err != nil {
		p.Close()
		release()
		return nil, fmt.Errorf("schedule activation %s: %w", msg.ActivationID, err)
	}
	value, err := json.Marshal(msg)
	if err != nil {
		p.Close()
		b.unschedule(msg.ActivationID)
		return nil, fmt.Errorf("encode activation %s: %w: %w", msg.ActivationID, ErrUnencodable, err)
	}
	topic := messaging.InvokerTopic(invoker)
	if b.cfg.Publisher == nil {
		p.Close()
		b.unschedule(msg.ActivationID)
		return nil, fmt.Errorf("publish activation %s: %w: %w", msg.ActivationID, ErrNoInvokers, errNoPublisher)
	}
	if err := b.cfg.Publisher.Send(ctx, topic, value); err != nil {
		p.Close()
		b.unschedule(msg.ActivationID)
		return nil, fmt.Errorf("publish activation %s to %s: %w: %w", msg.ActivationID, topic, ErrNoInvokers, err)
	}
	return p, nil
}

// HandleAck consumes one message of completed<C>: a completion frees the
// activation's booking, a result goes to its blocking publisher.
func (b *Balancer) HandleAck(_ context.Context, value []byte) error {
	ack, err := messaging.ParseAcknowledgement(value)
	if err != nil {
		return fmt.Errorf("acknowledgement: %w", err)
	}
	if ack.FreesSlot() {
		b.completed(ack)
	}
	if ack.Kind != messaging.AckCompletion {
		b.deliver(ack.ActivationID, ack.Activation) // nil when shrunk: the waiter reads the record from the store
	}
	return nil
}

// deliver gives a blocking publisher waiting for activationID its record,
// if one waits. It is the one path by which a result reaches a waiter.
func (b *Balancer) deliver(activationID string, record json.RawMessage) {
	b.wmu.Lock()
	ch, ok := b.waiting[activationID]
	if ok {
		delete(b.waiting, activationID)
	}
	b.wmu.Unlock()
	if ok {
		ch <- record // buffered, and only the one delivery removes the waiter
	}
}
