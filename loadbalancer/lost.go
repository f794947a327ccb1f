package loadbalancer

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
)

// MsgActivationLost is the error of an activation whose invoker never
// reported its end (it crashed, or the completion-ack timeout passed).
const MsgActivationLost = "The activation was lost: its invoker did not report its end."

// RecordStore is what the balancer needs of the store: writing the record
// of a lost activation (keeping one that exists) and reading it back.
type RecordStore interface {
	PutActivations(ctx context.Context, acts []*api.Activation) error
	GetActivation(ctx context.Context, namespace, activationID string) (*api.Activation, error)
}

const (
	// lostWriteTimeout bounds one attempt to write a lost activation's record.
	lostWriteTimeout = 10 * time.Second
	// lostWriteAttempts bounds the attempts (with backoff) per record.
	lostWriteAttempts = 6
	// maxLostWriters bounds the records of lost activations written at once.
	maxLostWriters = 16
)

// recordLost records an activation whose completion will never come as a
// whisk internal error, unless its invoker wrote a record after all (an
// activation has exactly one record), and delivers the record that stands
// to a blocking caller still waiting for it.
func (b *Balancer) recordLost(ctx context.Context, msg *messaging.ActivationMessage) {
	select {
	case b.lostSlots <- struct{}{}:
		defer func() { <-b.lostSlots }()
	case <-ctx.Done():
		b.log.Error("record of a lost activation not written: the controller stopped", "activation", msg.ActivationID)
		return
	}
	act := lostRecord(msg, time.Now())
	if b.cfg.Records != nil && msg.User.StoresActivations() {
		act = b.writeLost(ctx, act)
	}
	b.log.Warn("activation lost: recorded as whisk internal error", "activation", msg.ActivationID,
		"action", msg.Action.Path+"/"+msg.Action.Name, "status", act.Response.StatusCode)
	if raw, err := json.Marshal(act); err == nil {
		b.deliver(msg.ActivationID, raw)
	}
}

// lostRecord is the whisk internal error record of a lost activation.
func lostRecord(msg *messaging.ActivationMessage, now time.Time) *api.Activation {
	result, _ := json.Marshal(map[string]string{"error": MsgActivationLost})
	size := len(result)
	act := &api.Activation{
		Namespace: msg.User.Namespace.Name, Name: msg.Action.Name, Subject: msg.User.Subject,
		ActivationID: msg.ActivationID, Version: msg.Action.Version, Cause: msg.Cause,
		Start: now.UnixMilli(), End: now.UnixMilli(),
		Response: api.ActivationResponse{StatusCode: api.StatusWhiskError, Result: result, Size: &size},
		Logs:     []string{},
		Annotations: api.KeyValues{}.Set("path", msg.Action.Path+"/"+msg.Action.Name).
			Set("kind", "unknown"),
	}
	if act.Version == "" {
		act.Version = "0.0.1"
	}
	if msg.Action.Binding != "" {
		act.Annotations = act.Annotations.Set("binding", msg.Action.Binding)
	}
	return act
}

// writeLost writes act unless a record exists (PutActivations keeps it),
// retrying while the store is unavailable, and returns the record that
// stands.
func (b *Balancer) writeLost(ctx context.Context, act *api.Activation) *api.Activation {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		wctx, cancel := context.WithTimeout(ctx, lostWriteTimeout)
		err := b.cfg.Records.PutActivations(wctx, []*api.Activation{act})
		if err == nil {
			if stored, gerr := b.cfg.Records.GetActivation(wctx, act.Namespace, act.ActivationID); gerr == nil {
				act = stored
			}
		}
		cancel()
		if err == nil {
			return act
		}
		if attempt >= lostWriteAttempts || ctx.Err() != nil ||
			!(errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)) {
			b.log.Error("record of a lost activation not written", "activation", act.ActivationID, "err", err)
			return act
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff *= 2
	}
}
