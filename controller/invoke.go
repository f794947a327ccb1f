package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
)

func (s *Server) invokeAction(c echo.Context) error {
	fqn, err := actionName(c)
	if err != nil {
		return err
	}
	blocking, err := queryBool(c, "blocking", false)
	if err != nil {
		return err
	}
	resultOnly, err := queryBool(c, "result", false)
	if err != nil {
		return err
	}
	wait := time.Duration(s.cfg.Limits.MaxBlockingWaitMs) * time.Millisecond
	if v := c.QueryParam("timeout"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 || ms > s.cfg.Limits.MaxBlockingWaitMs {
			return api.BadRequest(api.MsgInvokeTimeoutQuery)
		}
		wait = time.Duration(ms) * time.Millisecond
	}
	body, err := readBody(c, s.cfg.Limits.MaxPayloadBytes)
	if err != nil {
		return err
	}
	payload := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &payload); err != nil || payload == nil {
			return api.Malformed("the request body must be a JSON object")
		}
	}
	ctx := c.Request().Context()
	doc, err := s.actions.get(ctx, s.store, fqn.DocID())
	if err != nil {
		return err
	}
	action := &doc.Action
	if rt, ok := s.cfg.Manifest.Resolve(action.Exec.Kind); !ok || rt.Deprecated {
		return api.BadRequest("The '%s' runtime is no longer supported. You may read and delete but not update or invoke this action.", action.Exec.Kind)
	}
	args, initArgs, err := mergeArguments(action, payload)
	if err != nil {
		return err
	}
	id := identity(c)
	msg := &messaging.ActivationMessage{
		TransID:  messaging.NewTransactionID(tid(c), time.Now()),
		Action:   messaging.FullyQualifiedEntityName{Path: fqn.Path(), Name: fqn.Name, Version: action.Version},
		Revision: doc.Rev,
		User: messaging.Identity{Subject: id.Subject, Namespace: messaging.Namespace{Name: id.Namespace, UUID: id.UUID},
			AuthKey: messaging.AuthKey{APIKey: id.AuthKey()}, Rights: []string{"READ", "PUT", "DELETE", "ACTIVATE"}},
		ActivationID: api.NewActivationID(),
		Blocking:     blocking,
		Content:      args,
		InitArgs:     initArgs,
	}
	ch, done, err := s.activator.Publish(ctx, msg)
	if err != nil {
		return err
	}
	defer done()
	c.Response().Header().Set("x-openwhisk-activation-id", msg.ActivationID)
	accepted := func() error {
		return jsonOK(c, http.StatusAccepted, map[string]string{"activationId": msg.ActivationID})
	}
	if !blocking {
		return accepted()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var raw json.RawMessage
	select {
	case raw = <-ch:
	case <-timer.C:
		return accepted()
	case <-ctx.Done():
		return ctx.Err()
	}
	var act *api.Activation
	if raw == nil { // the invoker sent only the id: read the record
		act = s.pollActivation(ctx, id.Namespace, msg.ActivationID, timer.C)
		if act == nil {
			return accepted()
		}
	} else {
		act = &api.Activation{}
		if err := json.Unmarshal(raw, act); err != nil {
			return &api.Error{Status: http.StatusInternalServerError, Message: api.MsgInternal, Err: err}
		}
	}
	return respondActivation(c, act, resultOnly)
}

// pollActivation reads a record from the store until it is there or stop fires.
func (s *Server) pollActivation(ctx context.Context, ns, id string, stop <-chan time.Time) *api.Activation {
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second} {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
		if act, err := s.store.GetActivation(ctx, ns, id); err == nil {
			return act
		}
	}
	return nil
}

// respondActivation answers a finished blocking invoke: 200 on success, 502
// on application and developer errors, 500 on whisk errors.
func respondActivation(c echo.Context, act *api.Activation, resultOnly bool) error {
	status := http.StatusOK
	switch act.Response.StatusCode {
	case api.StatusApplicationError, api.StatusDeveloperError:
		status = http.StatusBadGateway
	case api.StatusWhiskError:
		status = http.StatusInternalServerError
	}
	result := bytes.TrimSpace(act.Response.Result)
	if resultOnly || (len(result) > 0 && result[0] == '[') {
		if len(result) == 0 {
			result = []byte("{}")
		}
		return c.JSONBlob(status, result)
	}
	return jsonOK(c, status, act.View())
}

// mergeArguments builds the activation's arguments: action parameters
// overlaid with the payload. With the "final" annotation, the payload may not
// redefine a parameter that has a value. Parameters marked init are named in
// initArgs (they go to /init, not /run).
func mergeArguments(action *api.Action, payload map[string]json.RawMessage) (json.RawMessage, []string, error) {
	final := action.Annotations.Truthy("final")
	args := map[string]json.RawMessage{}
	var initArgs []string
	for _, p := range action.Parameters {
		args[p.Key] = p.Value
		if p.Init {
			initArgs = append(initArgs, p.Key)
		}
	}
	for k, v := range payload {
		if old, ok := args[k]; ok && final && !isNullJSON(old) {
			return nil, nil, api.BadRequest(api.MsgReservedParams)
		}
		args[k] = v
	}
	b, err := json.Marshal(args)
	if err != nil {
		return nil, nil, api.Malformed("arguments do not encode as JSON")
	}
	return b, initArgs, nil
}

func isNullJSON(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}
