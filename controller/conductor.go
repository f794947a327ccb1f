package controller

// Conductor actions (an action with a truthy "conductor" annotation) run a
// composition, as upstream's PrimitiveActions do: the conductor is invoked
// with the input; when its result names a next "action", that action is
// invoked with the result's "params", and its result, with the conductor's
// last "state" merged in, goes to the conductor again. A result without
// "action" ends the composition. The trace is
// conductor (component conductor)*, every id in the composition's logs.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/brisk-serverless/brisk/api"
)

// Upstream's messages for compositions (ErrorResponse.scala).
const (
	msgCompositionTooLong = "Too many actions in the composition."
	msgCompositionFailure = "Activation failure during composition."
)

func msgCompositionTimeout(id string) string {
	return fmt.Sprintf("Timeout reached when retrieving activation %s during composition.", id)
}

func msgCompositionInvalid(value json.RawMessage) string {
	return fmt.Sprintf("Failed to parse action name from json value %s during composition.", compactJSON(value))
}

func msgCompositionNotFound(name string) string {
	return fmt.Sprintf("Failed to resolve action with name '%s' during composition.", name)
}

func msgCompositionNotAccessible(name string) string {
	return fmt.Sprintf("Failed entitlement check for action with name '%s' during composition.", name)
}

// compositionAccounting counts the invocations of a composition and of the
// compositions nested in it (they share one): at most SequenceMaxLength
// components and 2*SequenceMaxLength+1 conductor runs. A sequence counts as
// one component. Runs are sequential, so no lock is needed.
type compositionAccounting struct {
	components, conductors int
}

// runComposition runs a conductor action's composition and writes its record.
func (s *Server) runComposition(ctx context.Context, req activation, sessionID string, parent *compositeParent, entered time.Time) *api.Activation {
	start := time.Now()
	comp := &compositionAccounting{}
	if parent != nil && parent.comp != nil {
		comp = parent.comp
	}
	childCtx := withParent(ctx, &compositeParent{comp: comp})
	limit := s.cfg.Limits.SequenceMaxLength
	id := req.Identity
	action := &req.Target.Doc.Action
	conductor := asPrimitive(req.Target)
	acc := runAccount{maxMemory: action.Limits.Memory}
	waitFor := func(t *resolvedAction) time.Duration {
		return time.Duration(t.Doc.Limits.Timeout)*time.Millisecond + componentWaitSlack
	}

	payload := req.Payload
	var (
		state    map[string]json.RawMessage
		response api.ActivationResponse
	)
	for {
		if comp.conductors > 2*limit {
			response = errorResponse(api.StatusApplicationError, msgCompositionTooLong)
			break
		}
		// The conductor gets its input with the last state merged in (state wins).
		input := payload
		if input != nil && state != nil {
			input = maps.Clone(payload)
			maps.Copy(input, state)
		}
		comp.conductors++
		res, err := s.activate(childCtx, activation{Identity: id, Target: conductor, Payload: input, Blocking: true,
			Wait: waitFor(conductor), TransID: req.TransID, Cause: sessionID})
		if err != nil {
			s.log.Warn("conductor activation failed", "tid", req.TransID, "composition", sessionID, "err", err)
		}
		rec, failure := acc.wait(res, err, msgCompositionFailure, msgCompositionTimeout)
		if failure != nil {
			response = *failure
			break
		}
		result, ok := asObject(rec.Response.Result)
		if !ok {
			response = errorResponse(api.StatusWhiskError, msgCompositionFailure)
			break
		}
		var params map[string]json.RawMessage
		if v, ok := result["params"]; ok {
			params = boxObject(v, "value")
		}
		state = nil
		if v, ok := result["state"]; ok {
			state = boxObject(v, "state")
		}
		next, ok := result["action"]
		if !ok { // the composition ends with the conductor's status
			out := rec.Response.Result
			if params != nil {
				out, _ = json.Marshal(params)
			}
			response = resultResponse(rec.Response.StatusCode, out)
			break
		}

		// Errors on the way to the next component go back to the conductor.
		fqn, ok := resolveCompositionName(next, id.Namespace)
		if !ok {
			payload = errorPayload(msgCompositionInvalid(next))
			continue
		}
		if comp.components >= limit {
			payload = errorPayload(msgCompositionTooLong)
			continue
		}
		target, err := s.resolveAction(ctx, id, fqn)
		if err != nil {
			if isForbidden(err) {
				payload = errorPayload(msgCompositionNotAccessible(fqn.DocID()))
			} else {
				payload = errorPayload(msgCompositionNotFound(fqn.DocID()))
			}
			continue
		}
		if compositeKind(&target.Doc.Action) != "conductor" {
			comp.components++ // a nested composition counts its own components
		}
		res, err = s.activate(childCtx, activation{Identity: id, Target: target, Payload: params, Blocking: true,
			Wait: waitFor(target), TransID: req.TransID, Cause: sessionID})
		if err != nil {
			s.log.Warn("composition component failed", "tid", req.TransID, "composition", sessionID, "component", fqn.DocID(), "err", err)
		}
		if rec, failure = acc.wait(res, err, msgCompositionFailure, msgCompositionTimeout); failure != nil {
			response = *failure
			break
		}
		if payload, ok = asObject(rec.Response.Result); !ok {
			response = errorResponse(api.StatusWhiskError, msgCompositionFailure)
			break
		}
	}

	end := time.Now()
	rec := &api.Activation{Namespace: id.Namespace, Name: action.Name, Subject: id.Subject, ActivationID: sessionID,
		Version: action.Version, Start: start.UnixMilli(), End: end.UnixMilli(), Duration: acc.duration,
		Cause: req.Cause, Response: response, Logs: acc.logs}
	if rec.Logs == nil {
		rec.Logs = []string{}
	}
	ann := api.KeyValues{}.Set("topmost", req.Cause == "").Set("path", action.FQN().DocID()).
		Set("kind", api.SequenceKind).Set("conductor", true)
	if req.Cause != "" {
		ann = ann.Set("causedBy", api.SequenceKind)
	}
	ann = ann.Set("waitTime", start.Sub(entered).Milliseconds())
	if req.Target.Binding != "" {
		ann = ann.Set("binding", req.Target.Binding)
	}
	rec.Annotations = ann.Set("limits", api.ActionLimits{Timeout: action.Limits.Timeout, Memory: acc.maxMemory,
		Logs: action.Limits.Logs, Concurrency: 1})
	_ = s.storeRecord(ctx, req.TransID, rec) // logged; the caller gets the record it ran
	return rec
}

// asPrimitive is the conductor action without its conductor annotation, so
// that activate runs it as a plain action.
func asPrimitive(t *resolvedAction) *resolvedAction {
	doc := *t.Doc
	doc.Annotations = doc.Annotations.Without([]string{"conductor"})
	out := *t
	out.Doc = &doc
	return &out
}

// boxObject returns v when it is a JSON object, else {key: v}.
func boxObject(v json.RawMessage, key string) map[string]json.RawMessage {
	if m, ok := asObject(v); ok {
		return m
	}
	return map[string]json.RawMessage{key: v}
}

// errorPayload is the conductor input {"error": msg}.
func errorPayload(msg string) map[string]json.RawMessage {
	raw, _ := json.Marshal(msg)
	return map[string]json.RawMessage{"error": raw}
}

// compactJSON prints a JSON value on one line, as upstream's messages do.
func compactJSON(v json.RawMessage) string {
	var b strings.Builder
	var x any
	if json.Unmarshal(v, &x) != nil {
		return string(v)
	}
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(x) != nil {
		return string(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// resolveCompositionName resolves the "action" a conductor names, as the CLI
// resolves names: "a" and "pkg/a" are in the caller's namespace, "/ns/a" and
// "/ns/pkg/a" (or "ns/pkg/a") are fully qualified, "_" is the caller's
// namespace. Anything else (not a string, "/a", more than three parts) is
// not a name.
func resolveCompositionName(v json.RawMessage, namespace string) (api.FullyQualifiedName, bool) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		return api.FullyQualifiedName{}, false
	}
	var parts []string
	for _, p := range strings.Split(s, "/") {
		if p == "" {
			continue
		}
		if !api.ValidName(p) {
			return api.FullyQualifiedName{}, false
		}
		parts = append(parts, p)
	}
	leadingSlash := strings.HasPrefix(s, "/")
	n := len(parts)
	if n < 1 || n > 3 || (leadingSlash && n == 1) {
		return api.FullyQualifiedName{}, false
	}
	if !leadingSlash && n < 3 {
		parts = append([]string{namespace}, parts...)
	}
	if parts[0] == "_" {
		parts[0] = namespace
	}
	f := api.FullyQualifiedName{Namespace: parts[0], Name: parts[len(parts)-1]}
	if len(parts) == 3 {
		f.Package = parts[1]
	}
	return f, true
}
