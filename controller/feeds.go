package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/brisk-serverless/brisk/api"
)

// SystemAction runs a built-in action inside the controller, without a
// container: Brisk's own feed actions (/whisk.system/alarms/*) are such
// actions. caller is the invoking identity and args the action's merged
// arguments (parameters overlaid with the payload). The result is the
// activation's result object; one with an "error" field is an application
// error, as for any action. A returned error is a whisk internal error.
type SystemAction func(ctx context.Context, caller *api.Identity, args json.RawMessage) (json.RawMessage, error)

// RegisterSystemAction makes the action with document id docID
// ("ns/pkg/name") run as run instead of on an invoker. The action document
// itself must exist (clients read it, and invokes resolve it as usual:
// entitlement, packages, parameters); only the execution is replaced.
func (s *Server) RegisterSystemAction(docID string, run SystemAction) {
	s.feeds.builtins.Store(docID, run)
}

// activateBuiltin runs req in the controller when its action is a system
// action (ok false otherwise). The activation is recorded under the
// invoking namespace like any other; a blocking caller gets the record.
func (s *Server) activateBuiltin(ctx context.Context, req activation) (*activated, bool, error) {
	action := &req.Target.Doc.Action
	v, ok := s.feeds.builtins.Load(action.FQN().DocID())
	if !ok {
		return nil, false, nil
	}
	run := v.(SystemAction)
	args, _, err := mergeArguments(action, req.Target.Parameters, req.Payload)
	if err != nil {
		return nil, true, err
	}
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, time.Duration(action.Limits.Timeout)*time.Millisecond)
	result, runErr := run(runCtx, req.Identity, args)
	cancel()
	end := time.Now()

	status := api.StatusSuccess
	switch {
	case runErr != nil:
		s.log.Error("built-in action failed", "tid", req.TransID, "action", action.FQN().String(), "err", runErr)
		status, result = api.StatusWhiskError, json.RawMessage(`{"error":"`+api.MsgInternal+`"}`)
	case hasErrorField(result):
		status = api.StatusApplicationError
	}
	if len(bytes.TrimSpace(result)) == 0 {
		result = json.RawMessage(`{}`)
	}
	size := len(result)
	rec := &api.Activation{Namespace: req.Identity.Namespace, Name: action.Name, Subject: req.Identity.Subject,
		ActivationID: api.NewActivationID(), Version: action.Version, Cause: req.Cause,
		Start: start.UnixMilli(), End: end.UnixMilli(),
		Response: api.ActivationResponse{StatusCode: status, Result: result, Size: &size}, Logs: []string{}}
	rec.Duration = rec.End - rec.Start
	rec.Annotations = api.KeyValues{}.Set("path", action.FQN().DocID()).Set("waitTime", 0).
		Set("kind", action.Exec.Kind).Set("timeout", false).Set("limits", action.Limits)
	if req.Target.Binding != "" {
		rec.Annotations = rec.Annotations.Set("binding", req.Target.Binding)
	}
	if err := s.storeRecord(ctx, req.TransID, rec); err != nil {
		return nil, true, err
	}
	res := &activated{ActivationID: rec.ActivationID}
	if req.Blocking {
		res.Record = rec
	}
	return res, true, nil
}

// hasErrorField reports whether a result object has a top-level "error".
func hasErrorField(result json.RawMessage) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(result, &fields) != nil {
		return false
	}
	_, ok := fields["error"]
	return ok
}
