package controller

// Sequences (exec kind "sequence") run in the controller, as upstream's
// SequenceActions do: the components are invoked one at a time, blocking,
// through activate, each with the previous result as its input; the first
// result with an "error" field ends the sequence. The sequence gets an
// activation record of its own whose logs are the component activation ids.
// Conductor actions (conductor.go) share the entry point and the accounting.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// Upstream's messages for sequences (ErrorResponse.scala).
const (
	msgSequenceTooLong     = "Too many actions in the sequence."
	msgSequenceNoComponent = "No component specified for the sequence."
	msgSequenceCyclic      = "Sequence may not refer to itself."
	msgSequenceMissing     = "Sequence component does not exist."
	msgSequenceFailed      = "Sequence failed."
)

func msgSequenceTimeout(id string) string {
	return fmt.Sprintf("Timeout reached when retrieving activation %s for sequence component.", id)
}

const (
	// componentWaitSlack is added to a component's time limit to bound the
	// blocking wait for its result, as upstream does.
	componentWaitSlack = time.Minute
	// maxCompositeRuns bounds the topmost sequences and compositions that run
	// at once in this process (each holds one goroutine until it ends).
	maxCompositeRuns = 1024
)

// compositeKind is "sequence" for a sequence, "conductor" for an action with
// a truthy conductor annotation (a sequence is never a conductor), else "".
func compositeKind(a *api.Action) string {
	switch {
	case a.Exec.Kind == api.SequenceKind:
		return "sequence"
	case a.Annotations.Truthy("conductor"):
		return "conductor"
	}
	return ""
}

// compositeParent is what an enclosing sequence or composition passes to the
// sequences and compositions it starts, through the context. Its presence
// marks a nested run: nested runs are blocking by definition and finish in
// their caller's goroutine.
type compositeParent struct {
	// atomic counts the atomic actions run so far under the topmost sequence
	// (set when the parent is a sequence: nested sequences share it).
	atomic *int
	// comp is the accounting of the enclosing composition (set when the
	// parent is a conductor: nested compositions share it).
	comp *compositionAccounting
}

type compositeParentKey struct{}

func parentOf(ctx context.Context) *compositeParent {
	p, _ := ctx.Value(compositeParentKey{}).(*compositeParent)
	return p
}

func withParent(ctx context.Context, p *compositeParent) context.Context {
	return context.WithValue(ctx, compositeParentKey{}, p)
}

// activateComposite runs a sequence or a conductor action. A topmost run goes
// to its own goroutine (bounded by maxCompositeRuns): a non-blocking caller
// gets the id at once, a blocking one waits up to req.Wait and then gets the
// id while the run goes on. A nested run finishes before this returns.
func (s *Server) activateComposite(ctx context.Context, req activation) (*activated, error) {
	entered := time.Now()
	action := &req.Target.Doc.Action
	// The payload may not redefine final parameters, as for any action.
	if _, _, err := mergeArguments(action, req.Target.Parameters, req.Payload); err != nil {
		return nil, err
	}
	parent := parentOf(ctx)
	var run func(ctx context.Context, activationID string) *api.Activation
	if compositeKind(action) == "sequence" {
		comps, err := s.resolveComponents(ctx, req.Identity, action.Exec.Components, parent == nil)
		if err != nil {
			return nil, err
		}
		run = func(ctx context.Context, activationID string) *api.Activation {
			return s.runSequence(ctx, req, activationID, comps, parent, entered)
		}
	} else {
		if rt, ok := s.cfg.Manifest.Resolve(action.Exec.Kind); !ok || rt.Deprecated {
			return nil, api.BadRequest("The '%s' runtime is no longer supported. You may read and delete but not update or invoke this action.", action.Exec.Kind)
		}
		run = func(ctx context.Context, activationID string) *api.Activation {
			return s.runComposition(ctx, req, activationID, parent, entered)
		}
	}
	activationID := api.NewActivationID()
	if parent != nil {
		return &activated{ActivationID: activationID, Record: run(ctx, activationID)}, nil
	}

	timeout := time.Duration(action.Limits.Timeout) * time.Millisecond
	release, err := s.throttles.admitInvoke(ctx, req.Identity.Namespace, activationID, timeout)
	if err != nil {
		return nil, err
	}
	select {
	case s.composites <- struct{}{}:
	default:
		release()
		return nil, &api.Error{Status: http.StatusServiceUnavailable, Message: api.MsgUnavailable,
			Err: fmt.Errorf("%d sequences and compositions already running", maxCompositeRuns)}
	}
	done := make(chan *api.Activation, 1)
	// The run outlives a request that stops waiting: it runs in a goroutine
	// the server owns, on the server's context.
	err = s.goOwned(func(bg context.Context) {
		defer func() {
			release()
			<-s.composites
		}()
		done <- run(bg, activationID)
	})
	if err != nil {
		release()
		<-s.composites
		return nil, err
	}
	res := &activated{ActivationID: activationID}
	if !req.Blocking {
		return res, nil
	}
	timer := time.NewTimer(req.Wait)
	defer timer.Stop()
	select {
	case res.Record = <-done:
	case <-timer.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return res, nil
}

// admitUnlessComponent applies the invoke throttles to an activation unless
// it runs inside a sequence or composition: as upstream, only the invoke of
// the sequence or composition itself is throttled (activateComposite). The
// returned release frees the slot (a no-op for a component).
func (s *Server) admitUnlessComponent(ctx context.Context, namespace, activationID string, timeout time.Duration) (release func(), err error) {
	if parentOf(ctx) != nil {
		return func() {}, nil
	}
	return s.throttles.admitInvoke(ctx, namespace, activationID, timeout)
}

// component is one resolved component of a sequence.
type component struct {
	name   string
	target *resolvedAction
	err    error // why it could not be resolved
}

// resolveComponents reads every component up front (upstream does the same
// to hide the store's latency). A topmost sequence's components are checked
// against the caller's rights: a refusal fails the invoke. A nested
// sequence's components were checked for its owner when it was written.
// Components that are missing fail the sequence only when it reaches them.
func (s *Server) resolveComponents(ctx context.Context, id *api.Identity, names []string, topmost bool) ([]component, error) {
	who := id
	if !topmost {
		who = nil
	}
	out := make([]component, len(names))
	for i, name := range names {
		out[i].name = name
		fqn, err := api.ParseFQN(name, id.Namespace)
		if err != nil {
			out[i].err = fmt.Errorf("sequence component %s: %w", name, store.ErrNotFound)
			continue
		}
		out[i].target, out[i].err = s.resolveAction(ctx, who, fqn)
		if topmost && isForbidden(out[i].err) {
			return nil, out[i].err
		}
	}
	return out, nil
}

// isMissing tells whether a resolution failed because the entity is not
// there (or is not an action).
func isMissing(err error) bool {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrWrongCollection) {
		return true
	}
	e, ok := api.AsError(err)
	return ok && (e.Status == http.StatusNotFound || e.Status == http.StatusConflict)
}

// isForbidden tells whether a resolution was refused for lack of rights.
func isForbidden(err error) bool {
	e, ok := api.AsError(err)
	return ok && e.Status == http.StatusForbidden
}

// runAccount is what a sequence or composition gathers from its children.
type runAccount struct {
	logs      []string
	duration  int64
	maxMemory int // 0: no child reported its memory limit
}

// wait turns the outcome of a child activation into its record, or into the
// failure that ends the run: failMsg when it could not be activated,
// timeoutMsg (with the child's id, which is logged) when no result came.
func (a *runAccount) wait(res *activated, err error, failMsg string, timeoutMsg func(string) string) (*api.Activation, *api.ActivationResponse) {
	if err != nil {
		r := errorResponse(api.StatusWhiskError, failMsg)
		return nil, &r
	}
	if res.Record == nil {
		a.logs = append(a.logs, res.ActivationID)
		r := errorResponse(api.StatusWhiskError, timeoutMsg(res.ActivationID))
		return nil, &r
	}
	rec := res.Record
	a.logs = append(a.logs, rec.ActivationID)
	d := rec.Duration
	if d == 0 && rec.End > rec.Start {
		d = rec.End - rec.Start
	}
	a.duration += d
	var lim struct {
		Memory *int `json:"memory"`
	}
	if raw := rec.Annotations.Get("limits"); raw != nil && json.Unmarshal(raw, &lim) == nil && lim.Memory != nil {
		a.maxMemory = max(a.maxMemory, *lim.Memory)
	}
	return rec, nil
}

// errorResponse is a synthesized response {"error": msg}.
func errorResponse(status int, msg string) api.ActivationResponse {
	raw, _ := json.Marshal(map[string]string{"error": msg})
	return resultResponse(status, raw)
}

func resultResponse(status int, result json.RawMessage) api.ActivationResponse {
	size := len(result)
	return api.ActivationResponse{StatusCode: status, Result: result, Size: &size}
}

// asObject decodes a JSON object; ok is false for anything else.
func asObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(t, &m) != nil {
		return nil, false
	}
	return m, true
}

// jsonArray reports whether raw is a JSON array.
func jsonArray(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '[' && json.Valid(t)
}

// runSequence runs the components of a sequence and writes its record.
func (s *Server) runSequence(ctx context.Context, req activation, seqID string, comps []component, parent *compositeParent, entered time.Time) *api.Activation {
	start := time.Now()
	topmost := parent == nil
	atomic := new(int)
	if parent != nil && parent.atomic != nil {
		atomic = parent.atomic
	}
	childCtx := withParent(ctx, &compositeParent{atomic: atomic})
	limit := s.cfg.Limits.SequenceMaxLength
	var acc runAccount

	// With no component run, the result is the input (upstream's placeholder).
	input, _ := json.Marshal(req.Payload)
	switch {
	case req.PayloadArray != nil:
		input = req.PayloadArray
	case req.Payload == nil:
		input = json.RawMessage(`{}`)
	}
	response := resultResponse(api.StatusSuccess, input)
	next, nextArray := req.Payload, req.PayloadArray
	for _, c := range comps {
		if *atomic >= limit {
			response = errorResponse(api.StatusApplicationError, msgSequenceTooLong)
			break
		}
		if c.err != nil {
			if isMissing(c.err) {
				response = errorResponse(api.StatusApplicationError, msgSequenceMissing)
			} else {
				s.log.Warn("sequence component not resolved", "tid", req.TransID, "sequence", seqID, "component", c.name, "err", c.err)
				response = errorResponse(api.StatusWhiskError, msgSequenceFailed)
			}
			break
		}
		res, err := s.activate(childCtx, activation{Identity: req.Identity, Target: c.target, Payload: next, PayloadArray: nextArray,
			Blocking: true, Wait: time.Duration(c.target.Doc.Limits.Timeout)*time.Millisecond + componentWaitSlack,
			TransID: req.TransID, Cause: seqID})
		if compositeKind(&c.target.Doc.Action) != "sequence" {
			*atomic++ // a nested sequence counts its own atomic actions
		}
		if err != nil {
			s.log.Warn("sequence component failed", "tid", req.TransID, "sequence", seqID, "component", c.name, "err", err)
		}
		rec, failure := acc.wait(res, err, msgSequenceFailed, msgSequenceTimeout)
		if failure != nil {
			response = *failure
			break
		}
		response = rec.Response
		if *atomic > limit {
			response = errorResponse(api.StatusApplicationError, msgSequenceTooLong)
			break
		}
		result, isObject := asObject(rec.Response.Result)
		if _, failed := result["error"]; failed {
			break
		}
		// The next component gets an object or array result as its input
		// (an array as is, without its parameters: upstream's rule);
		// anything else leaves it with its parameters.
		next, nextArray = nil, nil
		if isObject {
			next = result
		} else if jsonArray(rec.Response.Result) {
			nextArray = rec.Response.Result
		}
	}

	end := time.Now()
	action := &req.Target.Doc.Action
	rec := &api.Activation{Namespace: req.Identity.Namespace, Name: action.Name, Subject: req.Identity.Subject,
		ActivationID: seqID, Version: action.Version, Start: start.UnixMilli(), End: end.UnixMilli(),
		Duration: acc.duration, Response: response, Logs: acc.logs}
	if rec.Logs == nil {
		rec.Logs = []string{}
	}
	ann := api.KeyValues{}.Set("topmost", topmost).Set("path", action.FQN().DocID()).Set("kind", api.SequenceKind)
	if !topmost {
		rec.Cause = req.Cause
		ann = ann.Set("causedBy", api.SequenceKind)
	}
	ann = ann.Set("waitTime", start.Sub(entered).Milliseconds())
	if req.Target.Binding != "" {
		ann = ann.Set("binding", req.Target.Binding)
	}
	if acc.maxMemory > 0 {
		ann = ann.Set("limits", api.ActionLimits{Timeout: action.Limits.Timeout, Memory: acc.maxMemory, Logs: action.Limits.Logs, Concurrency: 1})
	}
	rec.Annotations = ann
	_ = s.storeRecord(ctx, req.TransID, rec) // logged; the caller gets the record it ran
	return rec
}

// storeRecord writes a record the controller makes (sequences,
// compositions, built-in actions, trigger fires) before its caller is
// answered, retrying while the database is unavailable (up to
// recordRetryFor, or until ctx ends), as the invokers' record writer does;
// a record that still cannot be written is logged with its id.
func (s *Server) storeRecord(ctx context.Context, tid string, rec *api.Activation) error {
	if !s.storesActivations(ctx, rec.Namespace) {
		return nil
	}
	backoff := 100 * time.Millisecond
	giveUp := time.Now().Add(recordRetryFor)
	for {
		wctx, cancel := context.WithTimeout(ctx, recordWriteTimeout)
		err := s.store.PutActivations(wctx, []*api.Activation{rec})
		cancel()
		if err == nil {
			return nil
		}
		transient := errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
		if !transient || time.Now().After(giveUp) || ctx.Err() != nil {
			s.log.Error("activation record not stored", "tid", tid, "activationId", rec.ActivationID, "err", err)
			return fmt.Errorf("store activation %s: %w", rec.ActivationID, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

const (
	// recordRetryFor bounds how long a record the controller makes is
	// retried while the database is unavailable.
	recordRetryFor = time.Minute
	// recordWriteTimeout bounds one attempt.
	recordWriteTimeout = 10 * time.Second
)

// prepareSequence applies upstream's sequence rules to an action being
// written. A sequence exec has "_" resolved to the caller's namespace in its
// components, its parameters replaced by {"_actions": components}, and is
// checked (see checkSequence). An update that keeps a sequence keeps its
// parameters; one that turns a sequence into another kind starts from no
// parameters unless it gives some.
func (s *Server) prepareSequence(ctx context.Context, id *api.Identity, fqn api.FullyQualifiedName, put *api.ActionPut, existing *api.ActionDoc, a *api.Action) error {
	wasSequence := existing != nil && existing.Exec.Kind == api.SequenceKind
	switch {
	case put.Exec != nil && put.Exec.Kind == api.SequenceKind:
		comps := make([]string, len(put.Exec.Components))
		for i, c := range put.Exec.Components {
			if rest, ok := strings.CutPrefix(c, "/_/"); ok {
				c = "/" + id.Namespace + "/" + rest
			}
			comps[i] = c
		}
		a.Exec.Components = comps
		a.Parameters = api.KeyValues{}.Set("_actions", comps)
		return s.checkSequence(ctx, id, fqn, comps)
	case put.Exec != nil:
		if wasSequence && put.Parameters == nil {
			a.Parameters = api.KeyValues{}
		}
	case wasSequence:
		a.Parameters = existing.Parameters
	}
	return nil
}

// checkSequence validates a sequence's components as upstream does on PUT:
// at least one and at most SequenceMaxLength, every one exists (and the
// caller may read it), none leads back to the sequence itself, and the
// atomic actions of the sequence with every nested sequence inlined number
// at most SequenceMaxLength.
func (s *Server) checkSequence(ctx context.Context, id *api.Identity, self api.FullyQualifiedName, comps []string) error {
	limit := s.cfg.Limits.SequenceMaxLength
	switch {
	case len(comps) > limit:
		return api.BadRequest(msgSequenceTooLong)
	case len(comps) == 0:
		return api.BadRequest(msgSequenceNoComponent)
	}
	c := &sequenceCheck{s: s, self: self.DocID(), counted: map[string]int{}, visiting: map[string]bool{}}
	n, err := c.count(ctx, id, comps)
	if err != nil {
		return err
	}
	if n > limit {
		return api.BadRequest(msgSequenceTooLong)
	}
	return nil
}

// sequenceCheck walks a sequence's components, nested sequences inlined.
// Each nested sequence is read once (counted memoizes its atomic count).
type sequenceCheck struct {
	s        *Server
	self     string
	counted  map[string]int
	visiting map[string]bool
}

// count returns the number of atomic actions under comps. The caller's
// rights are checked on the sequence's own components (id); nested ones are
// read as their owner wrote them (id nil).
func (c *sequenceCheck) count(ctx context.Context, id *api.Identity, comps []string) (int, error) {
	total := 0
	for _, name := range comps {
		ns := c.self[:strings.IndexByte(c.self, '/')]
		if id != nil {
			ns = id.Namespace
		}
		fqn, err := api.ParseFQN(name, ns)
		if err != nil {
			return 0, api.BadRequest(msgSequenceMissing)
		}
		t, err := c.s.resolveAction(ctx, id, fqn)
		switch {
		case isMissing(err):
			return 0, api.BadRequest(msgSequenceMissing)
		case err != nil:
			return 0, fmt.Errorf("sequence component %s: %w", name, err)
		}
		real := t.Doc.Action.FQN().DocID()
		if real == c.self || c.visiting[real] {
			return 0, api.BadRequest(msgSequenceCyclic)
		}
		n := 1
		if t.Doc.Exec.Kind == api.SequenceKind {
			var ok bool
			if n, ok = c.counted[real]; !ok {
				c.visiting[real] = true
				n, err = c.count(ctx, nil, t.Doc.Exec.Components)
				delete(c.visiting, real)
				if err != nil {
					return 0, err
				}
				c.counted[real] = n
			}
		}
		total += n
	}
	return total, nil
}
