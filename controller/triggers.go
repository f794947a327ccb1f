package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

const (
	// fanoutTimeout bounds starting the actions of one fire.
	fanoutTimeout = time.Minute
)

// triggerState is the Server's state for triggers and feeds.
type triggerState struct {
	// builtins maps an action's document id to the SystemAction that runs
	// it inside the controller (see feeds.go).
	builtins sync.Map
}

func newTriggerState() *triggerState {
	return &triggerState{}
}

// triggerRoutes registers the triggers routes.
func (s *Server) triggerRoutes(g *echo.Group) {
	collectionRoutes(g, s.listTriggers, "/:ns/triggers", "/:ns/triggers/")
	path := "/:ns/triggers/:name"
	g.GET(path, s.getTrigger)
	g.PUT(path, s.putTrigger)
	g.DELETE(path, s.deleteTrigger)
	g.POST(path, s.postTrigger)
	g.Match(otherMethods("GET", "PUT", "DELETE", "POST"), path, methodNotAllowed("PUT, GET, DELETE, POST"))
}

// entityName resolves the :name of a trigger or rule route in the caller's
// own namespace (triggers and rules are private to their namespace).
func entityName(c echo.Context) (api.FullyQualifiedName, error) {
	name := param(c, "name")
	if err := api.CheckName(name); err != nil {
		return api.FullyQualifiedName{}, err
	}
	ns, err := namespace(c, name)
	if err != nil {
		return api.FullyQualifiedName{}, err
	}
	return api.FullyQualifiedName{Namespace: ns, Name: name}, nil
}

// readTrigger reads a trigger document (see readEntity).
func (s *Server) readTrigger(ctx context.Context, id string) (*api.TriggerDoc, error) {
	return readEntity[api.TriggerDoc](ctx, s.store, id, "trigger")
}

func (s *Server) listTriggers(c echo.Context) error {
	ns, err := namespace(c, "")
	if err != nil {
		return err
	}
	return s.listView(c, "triggers", "triggers", ns)
}

func (s *Server) getTrigger(c echo.Context) error {
	fqn, err := entityName(c)
	if err != nil {
		return err
	}
	doc, err := s.readTrigger(c.Request().Context(), fqn.DocID())
	if err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, doc.Trigger.Normalized())
}

func (s *Server) putTrigger(c echo.Context) error {
	fqn, err := entityName(c)
	if err != nil {
		return err
	}
	overwrite, err := queryBool(c, "overwrite", false)
	if err != nil {
		return err
	}
	body, err := readBody(c, maxPutBytes)
	if err != nil {
		return err
	}
	put, err := api.DecodeTriggerPut(body, s.cfg.Limits)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	existing, err := readForPut(ctx, fqn.DocID(), overwrite, s.readTrigger)
	if err != nil {
		return err
	}
	var t api.Trigger
	rev := ""
	if existing == nil {
		if err := api.CheckFeedAnnotation(put.Annotations); err != nil {
			return err
		}
		t = api.Trigger{Namespace: fqn.Namespace, Name: fqn.Name, Version: "0.0.1",
			Parameters: put.Parameters, Annotations: put.Annotations}
	} else {
		// Upstream replaces parameters and annotations when given and keeps
		// the rules; the feed annotation is validated only on create.
		t, rev = existing.Trigger, existing.Rev
		t.Version = api.BumpVersion(t.Version)
		if put.Parameters != nil {
			t.Parameters = put.Parameters
		}
		if put.Annotations != nil {
			t.Annotations = put.Annotations
		}
	}
	if put.Version != nil {
		t.Version = *put.Version
	}
	if put.Publish != nil {
		t.Publish = *put.Publish
	}
	t.Updated = time.Now().UnixMilli()
	t = t.Normalized()
	if err := s.writeEntity(ctx, fqn.DocID(), rev, api.TriggerDoc{EntityType: "trigger", Trigger: t}); err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, t)
}

func (s *Server) deleteTrigger(c echo.Context) error {
	fqn, err := entityName(c)
	if err != nil {
		return err
	}
	doc, err := s.removeTrigger(c.Request().Context(), fqn)
	if err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, doc.Trigger.Normalized())
}

// removeTrigger deletes a trigger document. Its rules stay (upstream's
// rules outlive their trigger and report "inactive").
func (s *Server) removeTrigger(ctx context.Context, fqn api.FullyQualifiedName) (*api.TriggerDoc, error) {
	doc, err := s.readTrigger(ctx, fqn.DocID())
	if err != nil {
		return nil, err
	}
	if err := s.deleteEntity(ctx, fqn.DocID(), doc.Rev); err != nil {
		return nil, err
	}
	return doc, nil
}

// postTrigger fires a trigger: 202 with the trigger activation's id, or 204
// when no rule of the trigger is active.
func (s *Server) postTrigger(c echo.Context) error {
	fqn, err := entityName(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// Throttle call site for API fires (firesPerMinute), before anything
	// else, as upstream's entitlement check does.
	if err := s.throttles.admitFire(ctx, fqn.Namespace); err != nil {
		return err
	}
	body, err := readBody(c, s.cfg.Limits.MaxPayloadBytes)
	if err != nil {
		return err
	}
	payload, err := firePayload(body)
	if err != nil {
		return err
	}
	id, err := s.fire(ctx, identity(c), fqn, payload, requestHeaders(c.Request()), tid(c), nil)
	if err != nil {
		return err
	}
	if id == "" {
		return c.NoContent(http.StatusNoContent)
	}
	c.Response().Header().Set("x-openwhisk-activation-id", id)
	return jsonOK(c, http.StatusAccepted, map[string]string{"activationId": id})
}

// firePayload checks a fire body: nothing (or null) or a JSON object.
func firePayload(body []byte) (json.RawMessage, error) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(t, &obj) != nil || obj == nil {
		return nil, api.Malformed("the request body must be a JSON object")
	}
	return json.RawMessage(t), nil
}

// requestHeaders is what a fire passes to the rules' actions as
// __ow_headers: the request's headers with lowercased names (the last value
// of a repeated header), Host included, the entity's Content-Type and
// Content-Length not, as upstream's HTTP stack sees them.
func requestHeaders(r *http.Request) map[string]string {
	h := map[string]string{}
	for name, values := range r.Header {
		lower := strings.ToLower(name)
		if lower == "content-type" || lower == "content-length" || len(values) == 0 {
			continue
		}
		h[lower] = values[len(values)-1]
	}
	if r.Host != "" {
		h["host"] = r.Host
	}
	return h
}

// FireTrigger fires the trigger name of owner's namespace as owner, through
// the same path as POST .../triggers/{name} (throttle included). payload is
// a JSON object or nil; annotations (may be nil) are added to the trigger
// activation record. It returns the trigger activation's id, or "" when no
// rule of the trigger is active. Feed providers built into Brisk (the
// alarms) fire this way.
func (s *Server) FireTrigger(ctx context.Context, owner *api.Identity, name string, payload json.RawMessage, annotations api.KeyValues) (string, error) {
	// Throttle call site for fires that do not come through the API.
	if err := s.throttles.admitFire(ctx, owner.Namespace); err != nil {
		return "", err
	}
	payload, err := firePayload(payload)
	if err != nil {
		return "", err
	}
	fqn := api.FullyQualifiedName{Namespace: owner.Namespace, Name: name}
	return s.fire(ctx, owner, fqn, payload, map[string]string{}, api.NewTransactionID(), annotations)
}

// fire starts the trigger's active rules as the firer and returns the
// trigger activation id at once ("" when no rule is active: then nothing is
// recorded). The actions are started in the background through activate,
// non-blocking, each with the trigger's parameters overlaid with
// {"__ow_headers": headers} overlaid with the payload; the trigger
// activation record, whose logs say what became of each rule, is stored
// when all have been started.
func (s *Server) fire(ctx context.Context, firer *api.Identity, fqn api.FullyQualifiedName, payload json.RawMessage, headers map[string]string, transID string, annotations api.KeyValues) (string, error) {
	doc, err := s.readTrigger(ctx, fqn.DocID())
	if err != nil {
		return "", err
	}
	t := &doc.Trigger
	if !t.HasActiveRule() {
		return "", nil
	}
	args := map[string]json.RawMessage{}
	for _, p := range t.Parameters {
		args[p.Key] = p.Value
	}
	rawHeaders, err := json.Marshal(headers)
	if err != nil {
		return "", api.Malformed("request headers do not encode as JSON")
	}
	args["__ow_headers"] = rawHeaders
	result := json.RawMessage(`{}`)
	if payload != nil {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(payload, &fields); err != nil {
			return "", api.Malformed("the request body must be a JSON object")
		}
		for k, v := range fields {
			args[k] = v
		}
		result = payload
	}
	rec := &api.Activation{Namespace: firer.Namespace, Name: t.Name, Subject: firer.Subject,
		ActivationID: api.NewActivationID(), Version: t.Version, Start: time.Now().UnixMilli(),
		Response: api.ActivationResponse{StatusCode: api.StatusSuccess, Result: result},
		Logs:     []string{}, Annotations: append(api.KeyValues{}, annotations...)}

	// The rules' actions are started and the trigger activation is stored
	// before the id is answered: an accepted fire has its record even if
	// this controller dies right after (upstream stores it afterwards). A
	// caller that stops waiting does not cut the fan-out short.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fanoutTimeout)
	defer cancel()
	rec.Logs = s.activateRules(fctx, firer, args, t.Rules, transID)
	if err := s.storeRecord(fctx, transID, rec); err != nil {
		return "", err
	}
	return rec.ActivationID, nil
}

// activateRules starts the action of every active rule and describes each
// rule's outcome in one JSON log line (inactive rules included).
func (s *Server) activateRules(ctx context.Context, firer *api.Identity, args map[string]json.RawMessage, rules map[string]api.ReducedRule, transID string) []string {
	names := make([]string, 0, len(rules))
	for name := range rules {
		names = append(names, name)
	}
	slices.Sort(names)
	logs := make([]string, 0, len(names))
	for _, name := range names {
		rule := rules[name]
		entry := api.TriggerActivationLog{Rule: name, Action: rule.Action.String()}
		if rule.Status != api.RuleActive {
			entry.StatusCode = api.StatusApplicationError
			entry.Error = api.InactiveRuleMessage(name, entry.Action)
		} else if id, err := s.activateRule(ctx, firer, rule.Action.FQN(), args, transID); err != nil {
			status, msg := errorStatus(err)
			entry.StatusCode, entry.Error = api.StatusApplicationError, msg
			if status >= 500 {
				entry.StatusCode = api.StatusWhiskError
				s.log.Error("trigger-fired action failed to start", "tid", transID, "rule", name, "action", entry.Action, "err", err)
			}
		} else {
			entry.Success, entry.ActivationID = true, id
		}
		line, err := json.Marshal(entry)
		if err != nil {
			continue
		}
		logs = append(logs, string(line))
	}
	return logs
}

// activateRule starts one rule's action the way an API invoke would:
// resolved (and entitled) for the firer, non-blocking.
func (s *Server) activateRule(ctx context.Context, firer *api.Identity, action api.FullyQualifiedName, args map[string]json.RawMessage, transID string) (string, error) {
	target, err := s.resolveAction(ctx, firer, action)
	if err != nil {
		return "", err
	}
	res, err := s.activate(ctx, activation{Identity: firer, Target: target, Payload: args, TransID: transID})
	if err != nil {
		return "", err
	}
	return res.ActivationID, nil
}

// HTTPStatus is the HTTP status the API would answer err with (500 for an
// error that is not the domain's), for callers outside the API such as feed
// providers deciding whether to retry a fire.
func HTTPStatus(err error) int {
	status, _ := errorStatus(err)
	return status
}

// DeleteTrigger deletes the trigger name of owner's namespace as owner and,
// with withRules, the rules the trigger refers to. A missing trigger is
// store.ErrNotFound.
func (s *Server) DeleteTrigger(ctx context.Context, owner *api.Identity, name string, withRules bool) error {
	doc, err := s.removeTrigger(ctx, api.FullyQualifiedName{Namespace: owner.Namespace, Name: name})
	if err != nil {
		return err
	}
	if !withRules {
		return nil
	}
	var errs []error
	for key := range doc.Rules {
		ns, rule, ok := strings.Cut(key, "/")
		if !ok || ns != owner.Namespace {
			continue
		}
		if _, err := s.removeRule(ctx, api.FullyQualifiedName{Namespace: ns, Name: rule}); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
