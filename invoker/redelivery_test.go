package invoker_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
)

// noMoreAcks fails if another ack for the activation arrives within a second.
func noMoreAcks(t *testing.T, ch <-chan messaging.AcknowledgementMessage, what string) {
	t.Helper()
	select {
	case a := <-ch:
		t.Fatalf("%s: another %s ack for %s: the activation ran again", what, a.Kind, a.ActivationID)
	case <-time.After(time.Second):
	}
}

func handle(t *testing.T, r *rig, msg messaging.ActivationMessage) {
	t.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.inv.Handle(context.Background(), b); err != nil {
		t.Fatalf("Handle: %v", err)
	}
}

func TestRedeliveredActivationRunsOnce(t *testing.T) {
	r := newRig(t)
	rev := r.putAction(t, "once", `function main() { return { ok: true }; }`, actionOpts{})

	// Delivered twice to the same process (a commit failed): one run.
	msg := message("once", rev, false, "")
	acks := r.invoke(t, msg)
	if len(acks) != 1 || acks[0].Kind != messaging.AckCompletion {
		t.Fatalf("acks %+v, want one completion", acks)
	}
	ch := r.acks.expect(msg.ActivationID)
	handle(t, r, msg)
	noMoreAcks(t, ch, "same message twice")
	wantResult(t, r.record(t, msg.ActivationID), api.StatusSuccess, `{"ok":true}`)

	// Produced before this invoker started and recorded already (by the
	// crashed invoker, or by the controller as lost): not run; its
	// completion is sent again, and the record stays as it is.
	old := message("once", rev, false, "")
	old.TransID = messaging.NewTransactionID(api.NewTransactionID(), time.Now().Add(-time.Minute))
	lost := errorRecord(old.ActivationID)
	if err := r.st.PutActivations(context.Background(), []*api.Activation{lost}); err != nil {
		t.Fatal(err)
	}
	acks = r.invoke(t, old)
	if len(acks) != 1 || acks[0].Kind != messaging.AckCompletion {
		t.Fatalf("acks %+v, want one completion", acks)
	}
	if got := r.record(t, old.ActivationID); got.Response.StatusCode != api.StatusWhiskError {
		t.Fatalf("record of the recorded activation became %+v", got.Response)
	}

	// Produced before this invoker started but never recorded: it runs.
	unrun := message("once", rev, true, "")
	unrun.TransID = messaging.NewTransactionID(api.NewTransactionID(), time.Now().Add(-time.Minute))
	wantResult(t, r.blocking(t, unrun), api.StatusSuccess, `{"ok":true}`)
}

func errorRecord(id string) *api.Activation {
	result := json.RawMessage(`{"error":"lost"}`)
	now := time.Now().UnixMilli()
	return &api.Activation{Namespace: "guest", Name: "once", Subject: "guest", ActivationID: id, Version: "0.0.1",
		Start: now, End: now, Response: api.ActivationResponse{StatusCode: api.StatusWhiskError, Result: result}}
}
