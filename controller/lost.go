package controller

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

const (
	// lostWriteTimeout bounds one attempt to write a lost activation's record.
	lostWriteTimeout = 10 * time.Second
	// lostWriteAttempts bounds the attempts (with backoff) per record.
	lostWriteAttempts = 6
	// maxLostWriters bounds the records of lost activations written at once.
	maxLostWriters = 16
)

// lostWriters bounds the concurrent writes of lost activations' records.
var lostWriters = make(chan struct{}, maxLostWriters)

// activationLost records an activation whose completion will never come as
// a whisk internal error, unless its invoker wrote a record after all (an
// activation has exactly one record), and answers a blocking caller still
// waiting for it with the record that stands.
func (s *Server) activationLost(msg *messaging.ActivationMessage) {
	lostWriters <- struct{}{}
	defer func() { <-lostWriters }()
	s.throttles.completed(msg.ActivationID)
	now := time.Now()
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
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		// A record that exists already is kept (PutActivations ignores the conflict).
		ctx, cancel := context.WithTimeout(context.Background(), lostWriteTimeout)
		err := s.store.PutActivations(ctx, []*api.Activation{act})
		if err == nil {
			if stored, gerr := s.store.GetActivation(ctx, act.Namespace, act.ActivationID); gerr == nil {
				act = stored
			}
		}
		cancel()
		if err == nil {
			break
		}
		if attempt >= lostWriteAttempts || !(errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)) {
			s.log.Error("record of a lost activation not written", "activation", msg.ActivationID, "err", err)
			break
		}
		time.Sleep(backoff)
		backoff *= 2
	}
	s.log.Warn("activation lost: recorded as whisk internal error", "activation", msg.ActivationID,
		"action", msg.Action.Path+"/"+msg.Action.Name, "status", act.Response.StatusCode)
	if raw, err := json.Marshal(act); err == nil {
		s.activator.answer(msg.ActivationID, raw)
	}
}
