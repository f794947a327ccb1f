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
	"github.com/brisk-serverless/brisk/loadbalancer"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
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
	id := identity(c)
	target, err := s.resolveAction(ctx, id, fqn)
	if err != nil {
		return err
	}
	res, err := s.activate(ctx, activation{Identity: id, Target: target, Payload: payload,
		Blocking: blocking, Wait: wait, TransID: tid(c)})
	if err != nil {
		return err
	}
	c.Response().Header().Set("x-openwhisk-activation-id", res.ActivationID)
	if res.Record == nil {
		return jsonOK(c, http.StatusAccepted, map[string]string{"activationId": res.ActivationID})
	}
	return respondActivation(c, res.Record, resultOnly)
}

// resolvedAction is an action as addressed by a caller, ready to run.
type resolvedAction struct {
	// FQN is the name the caller used (through a binding, the binding's).
	FQN api.FullyQualifiedName
	// Doc is the action document (in its real package).
	Doc *api.ActionDoc
	// Parameters are the merged parameters: package < binding < action.
	Parameters api.KeyValues
	// Binding is "ns/binding" when the action was reached through a binding.
	Binding string
}

// resolveAction reads the action a caller addresses, through its package
// or binding, checks that the caller may read and invoke it, and merges its
// parameters (package < binding < action). Another namespace's action is
// reachable only inside a package the caller may read: a published package,
// or the caller's own binding to one. A nil identity skips entitlement (for
// callers that act as the action's owner). Errors carry upstream's statuses:
// 403 naming the refused resource, 404 for what the caller may know is
// missing, 409 for an entity of another collection, 422 for a circular
// binding.
func (s *Server) resolveAction(ctx context.Context, id *api.Identity, fqn api.FullyQualifiedName) (*resolvedAction, error) {
	return s.resolveActionWith(ctx, id, fqn, s.actions.get)
}

// actionReader reads an action document by id.
type actionReader func(ctx context.Context, st *store.Store, id string) (*api.ActionDoc, error)

// readActionFresh reads an action from the store, bypassing the cache.
func readActionFresh(ctx context.Context, st *store.Store, id string) (*api.ActionDoc, error) {
	return st.GetAction(ctx, id)
}

// resolveActionWith is resolveAction with the action read by get.
func (s *Server) resolveActionWith(ctx context.Context, id *api.Identity, fqn api.FullyQualifiedName, get actionReader) (*resolvedAction, error) {
	if fqn.Package == "" {
		if id != nil && fqn.Namespace != id.Namespace {
			return nil, api.Forbidden(fqn.DocID())
		}
		doc, err := get(ctx, s.store, fqn.DocID())
		if err != nil {
			return nil, err
		}
		return &resolvedAction{FQN: fqn, Doc: doc, Parameters: doc.Parameters}, nil
	}
	if id != nil {
		if err := s.checkPackageRead(ctx, id.Namespace, fqn.Namespace, fqn.Package); err != nil {
			return nil, err
		}
	}
	pkg, err := s.resolvePackage(ctx, fqn.Path())
	if err != nil {
		return nil, err
	}
	real := api.FullyQualifiedName{Namespace: pkg.Doc.Namespace, Package: pkg.Doc.Name, Name: fqn.Name}
	doc, err := get(ctx, s.store, real.DocID())
	if err != nil {
		return nil, err
	}
	res := &resolvedAction{FQN: fqn, Doc: doc, Parameters: pkg.Parameters.Merge(doc.Parameters)}
	if real.Path() != fqn.Path() {
		res.Binding = fqn.Path()
	}
	return res, nil
}

// activation is one request to run an action.
type activation struct {
	Identity *api.Identity
	Target   *resolvedAction
	Payload  map[string]json.RawMessage
	// PayloadArray, when set, is the activation's whole argument: a JSON
	// array (a sequence component's array result, passed on to the next
	// component as upstream does, without the action's parameters).
	PayloadArray json.RawMessage
	Blocking     bool
	// Wait bounds a blocking wait; past it the result is 202 with the id.
	Wait time.Duration
	// TransID is the transaction id (the request's X-Request-ID).
	TransID string
	// Cause is the parent activation id (sequences, rules, conductors).
	Cause string
}

// activated is the outcome of activate.
type activated struct {
	ActivationID string
	// Record is the finished activation; nil when not blocking or when the
	// wait ran out.
	Record *api.Activation
}

// activate publishes an activation to an invoker and, when blocking, waits
// for its result. It is the one path every invocation takes (API invokes,
// and later rules, sequences, conductors and web actions).
func (s *Server) activate(ctx context.Context, req activation) (*activated, error) {
	if res, ok, err := s.activateBuiltin(ctx, req); ok { // built-in actions (feeds.go) run in the controller
		return res, err
	}
	if compositeKind(&req.Target.Doc.Action) != "" { // sequences and conductors run here, never on an invoker
		return s.activateComposite(ctx, req)
	}
	action := &req.Target.Doc.Action
	if rt, ok := s.cfg.Manifest.Resolve(action.Exec.Kind); !ok || rt.Deprecated {
		return nil, api.BadRequest("The '%s' runtime is no longer supported. You may read and delete but not update or invoke this action.", action.Exec.Kind)
	}
	args, initArgs, err := mergeArguments(action, req.Target.Parameters, req.Payload)
	if err != nil {
		return nil, err
	}
	if req.PayloadArray != nil {
		args, initArgs = req.PayloadArray, nil
	}
	id := req.Identity
	real := action.FQN()
	msg := &messaging.ActivationMessage{
		TransID:  messaging.NewTransactionID(req.TransID, time.Now()),
		Action:   messaging.FullyQualifiedEntityName{Path: real.Path(), Name: real.Name, Version: action.Version, Binding: req.Target.Binding},
		Revision: req.Target.Doc.Rev,
		User: messaging.Identity{Subject: id.Subject, Namespace: messaging.Namespace{Name: id.Namespace, UUID: id.UUID},
			AuthKey: messaging.AuthKey{APIKey: id.AuthKey()}, Rights: []string{"READ", "PUT", "DELETE", "ACTIVATE"},
			Limits: s.userLimits(ctx, id.Namespace)},
		ActivationID: api.NewActivationID(),
		Blocking:     req.Blocking,
		Content:      args,
		InitArgs:     initArgs,
		Cause:        req.Cause,
	}
	timeout := time.Duration(action.Limits.Timeout) * time.Millisecond
	release, err := s.admitUnlessComponent(ctx, id.Namespace, msg.ActivationID, timeout)
	if err != nil {
		return nil, err
	}
	// The balancer calls release when the activation's booking ends.
	promise, err := s.balancer.Publish(ctx, msg, loadbalancer.NeedsOf(action, s.cfg.Manifest, s.cfg.Limits.MinMemoryMB), release)
	if err != nil {
		return nil, err
	}
	defer promise.Close()
	res := &activated{ActivationID: msg.ActivationID}
	if !req.Blocking {
		return res, nil
	}
	timer := time.NewTimer(req.Wait)
	defer timer.Stop()
	var raw json.RawMessage
	select {
	case raw = <-promise.Result():
	case <-timer.C:
		return res, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if raw == nil { // the invoker sent only the id: read the record
		res.Record = s.pollActivation(ctx, id.Namespace, msg.ActivationID, timer.C)
		return res, nil
	}
	res.Record = &api.Activation{}
	if err := json.Unmarshal(raw, res.Record); err != nil {
		return nil, &api.Error{Status: http.StatusInternalServerError, Message: api.MsgInternal, Err: err}
	}
	return res, nil
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

// mergeArguments builds the activation's arguments: the resolved parameters
// overlaid with the payload. With the "final" annotation, the payload may not
// redefine a parameter that has a value. Parameters marked init are named in
// initArgs (they go to /init, not /run).
func mergeArguments(action *api.Action, params api.KeyValues, payload map[string]json.RawMessage) (json.RawMessage, []string, error) {
	final := action.Annotations.Truthy("final")
	args := map[string]json.RawMessage{}
	var initArgs []string
	for _, p := range params {
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
