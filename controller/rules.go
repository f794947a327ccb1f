package controller

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// ruleRoutes registers the rules routes.
func (s *Server) ruleRoutes(g *echo.Group) {
	collectionRoutes(g, s.listRules, "/:ns/rules", "/:ns/rules/")
	path := "/:ns/rules/:name"
	g.GET(path, s.getRule)
	g.PUT(path, s.putRule)
	g.DELETE(path, s.deleteRule)
	g.POST(path, s.postRule)
	g.Match(otherMethods("GET", "PUT", "DELETE", "POST"), path, methodNotAllowed("PUT, GET, DELETE, POST"))
}

// readRule reads a rule document (see readEntity).
func (s *Server) readRule(ctx context.Context, id string) (*api.RuleDoc, error) {
	return readEntity[api.RuleDoc](ctx, s.store, id, "rule")
}

// triggerOf reads the trigger a rule refers to; nil (no error) when it is
// missing or unreadable, as upstream treats such a rule as inactive.
func (s *Server) triggerOf(ctx context.Context, ref api.EntityRef) (*api.TriggerDoc, error) {
	doc, err := s.readTrigger(ctx, ref.FQN().DocID())
	switch {
	case err == nil:
		return doc, nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, api.ErrWrongColl), isCorrupted(err):
		return nil, nil
	}
	return nil, err
}

func isCorrupted(err error) bool {
	e, ok := api.AsError(err)
	return ok && e.Message == api.MsgCorrupted
}

// ruleStatus is the status the trigger records for rule key ("ns/name"):
// inactive when the trigger or its entry is missing.
func ruleStatus(trigger *api.TriggerDoc, key string) string {
	if trigger != nil {
		if r, ok := trigger.Rules[key]; ok {
			return r.Status
		}
	}
	return api.RuleInactive
}

// linkRule writes rule key into trigger's rules map (nil status: remove
// it), keeping the trigger's other fields.
func (s *Server) linkRule(ctx context.Context, trigger *api.TriggerDoc, key string, link *api.ReducedRule) error {
	t := trigger.Trigger
	rules := make(map[string]api.ReducedRule, len(t.Rules)+1)
	for k, v := range t.Rules {
		rules[k] = v
	}
	if link == nil {
		delete(rules, key)
	} else {
		rules[key] = *link
	}
	t.Rules = rules
	return s.writeEntity(ctx, trigger.ID, trigger.Rev, api.TriggerDoc{EntityType: "trigger", Trigger: t.Normalized()})
}

// listRules lists a namespace's rules. The rules view emits no value, so
// the rules are read from the documents, as upstream does.
func (s *Server) listRules(c echo.Context) error {
	ns, err := namespace(c, "")
	if err != nil {
		return err
	}
	return listCollection(c, "rules",
		func(ctx context.Context) (int, error) { return s.store.CountEntities(ctx, "rules", ns) },
		func(ctx context.Context, q store.ListQuery) ([]api.Rule, error) {
			docs, err := s.store.ListEntityDocs(ctx, "rules", ns, q)
			if err != nil {
				return nil, err
			}
			list := make([]api.Rule, 0, len(docs))
			for _, raw := range docs {
				var r api.Rule
				if err := json.Unmarshal(raw, &r); err != nil {
					return nil, &api.Error{Status: http.StatusInternalServerError, Message: api.MsgCorrupted, Err: err}
				}
				list = append(list, r.Normalized())
			}
			return list, nil
		})
}

func (s *Server) getRule(c echo.Context) error {
	fqn, err := entityName(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	doc, err := s.readRule(ctx, fqn.DocID())
	if err != nil {
		return err
	}
	trigger, err := s.triggerOf(ctx, doc.Trigger)
	if err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, doc.Rule.WithStatus(ruleStatus(trigger, fqn.DocID())))
}

func (s *Server) putRule(c echo.Context) error {
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
	put, err := api.DecodeRulePut(body, fqn.Namespace, s.cfg.Limits)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	id := identity(c)
	if err := s.checkRuleReferences(ctx, id, put); err != nil {
		return err
	}
	existing, err := readForPut(ctx, fqn.DocID(), overwrite, s.readRule)
	if err != nil {
		return err
	}
	key := fqn.DocID()
	var (
		r      api.Rule
		rev    string
		status = api.RuleActive
	)
	if existing == nil {
		if put.Trigger == nil || put.Action == nil {
			return api.BadRequest(api.MsgRuleIncomplete)
		}
		trigger, err := s.checkRuleTargets(ctx, id, *put.Trigger, *put.Action)
		if err != nil {
			return err
		}
		r = api.Rule{Namespace: fqn.Namespace, Name: fqn.Name, Version: "0.0.1",
			Trigger: api.RefOf(*put.Trigger), Action: api.RefOf(*put.Action), Annotations: put.Annotations}
		if err := s.linkRule(ctx, trigger, key, &api.ReducedRule{Action: r.Action, Status: api.RuleActive}); err != nil {
			return err
		}
	} else {
		r, rev = existing.Rule, existing.Rev
		oldTrigger, err := s.triggerOf(ctx, r.Trigger)
		if err != nil {
			return err
		}
		status = ruleStatus(oldTrigger, key)
		newTrigger, action := r.Trigger.FQN(), r.Action.FQN()
		if put.Trigger != nil {
			newTrigger = *put.Trigger
		}
		if put.Action != nil {
			action = *put.Action
		}
		trigger, err := s.checkRuleTargets(ctx, id, newTrigger, action)
		if err != nil {
			return err
		}
		if oldTrigger != nil && oldTrigger.ID != trigger.ID {
			if err := s.linkRule(ctx, oldTrigger, key, nil); err != nil {
				return err
			}
		}
		r.Trigger, r.Action = api.RefOf(newTrigger), api.RefOf(action)
		r.Version = api.BumpVersion(r.Version)
		if put.Annotations != nil {
			r.Annotations = put.Annotations
		}
		if err := s.linkRule(ctx, trigger, key, &api.ReducedRule{Action: r.Action, Status: status}); err != nil {
			return err
		}
	}
	if put.Version != nil {
		r.Version = *put.Version
	}
	if put.Publish != nil {
		r.Publish = *put.Publish
	}
	r.Updated = time.Now().UnixMilli()
	r = r.Normalized()
	if err := s.writeEntity(ctx, key, rev, api.RuleDoc{EntityType: "rule", Rule: r}); err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, r.WithStatus(status))
}

// checkRuleReferences is upstream's READ entitlement on the trigger and
// action a rule names: another namespace's trigger is never readable; an
// action is readable in the caller's namespace or inside a package the
// caller may read (resolveAction decides).
func (s *Server) checkRuleReferences(ctx context.Context, id *api.Identity, put *api.RulePut) error {
	var refused []string
	if put.Trigger != nil && put.Trigger.Namespace != id.Namespace {
		refused = append(refused, put.Trigger.DocID())
	}
	if a := put.Action; a != nil && a.Namespace != id.Namespace {
		if a.Package == "" {
			refused = append(refused, a.DocID())
		} else if _, err := s.resolveAction(ctx, id, *a); err != nil {
			if e, ok := api.AsError(err); ok && e.Status == http.StatusForbidden {
				refused = append(refused, a.DocID())
			}
		}
	}
	if len(refused) == 0 {
		return nil
	}
	slices.Sort(refused)
	return api.Forbidden(strings.Join(slices.Compact(refused), ", "))
}

// checkRuleTargets reads the trigger and checks that the action exists,
// with upstream's 400 messages.
func (s *Server) checkRuleTargets(ctx context.Context, id *api.Identity, trigger, action api.FullyQualifiedName) (*api.TriggerDoc, error) {
	t, err := s.readTrigger(ctx, trigger.DocID())
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound), errors.Is(err, api.ErrWrongColl):
		return nil, api.BadRequest("trigger %s does not exist", trigger)
	case isCorrupted(err):
		return nil, api.BadRequest("trigger %s is corrupted", trigger)
	default:
		return nil, err
	}
	if _, err := s.resolveAction(ctx, id, action); err != nil {
		if e, ok := api.AsError(err); ok && e.Message == api.MsgCorrupted {
			return nil, api.BadRequest("action %s is corrupted", action)
		}
		if status, _ := errorStatus(err); status < 500 {
			return nil, api.BadRequest("action %s does not exist", action)
		}
		return nil, err
	}
	return t, nil
}

func (s *Server) deleteRule(c echo.Context) error {
	fqn, err := entityName(c)
	if err != nil {
		return err
	}
	doc, err := s.removeRule(c.Request().Context(), fqn)
	if err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, doc.Rule.WithStatus(api.RuleInactive))
}

// removeRule deletes a rule in any state, removing it from its trigger
// first when the trigger still exists.
func (s *Server) removeRule(ctx context.Context, fqn api.FullyQualifiedName) (*api.RuleDoc, error) {
	doc, err := s.readRule(ctx, fqn.DocID())
	if err != nil {
		return nil, err
	}
	trigger, err := s.triggerOf(ctx, doc.Trigger)
	if err != nil {
		return nil, err
	}
	if trigger != nil {
		if _, linked := trigger.Rules[fqn.DocID()]; linked {
			if err := s.linkRule(ctx, trigger, fqn.DocID(), nil); err != nil {
				return nil, err
			}
		}
	}
	if err := s.deleteEntity(ctx, fqn.DocID(), doc.Rev); err != nil {
		return nil, err
	}
	return doc, nil
}

// postRule enables or disables a rule: body {"status":"active"|"inactive"},
// answered with a bare 200 "OK" as upstream.
func (s *Server) postRule(c echo.Context) error {
	fqn, err := entityName(c)
	if err != nil {
		return err
	}
	body, err := readBody(c, maxPutBytes)
	if err != nil {
		return err
	}
	want, err := api.DecodeRuleStatus(body)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	doc, err := s.readRule(ctx, fqn.DocID())
	if err != nil {
		return err
	}
	key := fqn.DocID()
	trigger, err := s.triggerOf(ctx, doc.Trigger)
	if err != nil {
		return err
	}
	if ruleStatus(trigger, key) != want {
		if trigger == nil {
			return &api.Error{Status: http.StatusNotFound, Message: api.MsgRuleTriggerRequired}
		}
		if err := s.linkRule(ctx, trigger, key, &api.ReducedRule{Action: doc.Action, Status: want}); err != nil {
			return err
		}
	}
	return c.String(http.StatusOK, "OK")
}

// errorStatus is the HTTP status and upstream message an error would be
// answered with (the table in handleError), for outcomes recorded rather
// than answered, such as a rule's action that failed to start.
func errorStatus(err error) (int, string) {
	if status, msg, ok := domainErrorStatus(err); ok {
		return status, msg
	}
	return http.StatusInternalServerError, api.MsgInternal
}
