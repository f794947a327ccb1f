// Package invoker runs activations: it consumes activation messages, takes a
// container from the pool (warm, prewarmed or new), speaks the action-proxy
// protocol (/init, /run) with it, enforces the action's limits, collects its
// logs, acknowledges to the controller and writes the activation record.
// Container backends implement ContainerFactory (invoker/process,
// invoker/containerd).
package invoker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/internal/metrics"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
)

// Publisher sends messages to a topic.
type Publisher interface {
	Send(ctx context.Context, topic string, value []byte) error
}

// Store is what the invoker reads and writes.
type Store interface {
	GetAction(ctx context.Context, id string) (*api.ActionDoc, error)
	PutActivations(ctx context.Context, acts []*api.Activation) error
}

// Config configures one invoker.
type Config struct {
	// Instance is the invoker's number: it consumes topic invoker<Instance>.
	Instance int
	// UserMemoryMB is the memory all action containers together may use.
	UserMemoryMB int
	// APIHost is given to actions as __OW_API_HOST.
	APIHost  string
	Manifest *api.Manifest
	Limits   api.Limits
	// IdleTimeout removes warm containers idle that long (default 10 min).
	IdleTimeout time.Duration
	// Prewarm starts the manifest's stem cells.
	Prewarm bool
	// ContainerEnv is added to every container's environment.
	ContainerEnv map[string]string
	// PauseGrace is the pool's pause grace (PoolConfig.PauseGrace).
	PauseGrace time.Duration
	// ShutdownGrace is how long Close lets running activations finish
	// before aborting them (they are then recorded as failed, never lost);
	// zero means DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// LogIdleTimeout is how long the collection of an activation's logs
	// waits for a further line before it gives up on the sentinels; zero
	// means DefaultLogIdleTimeout.
	LogIdleTimeout time.Duration
	// Metrics records the activation metrics and the pool's sizes (nil:
	// none).
	Metrics *metrics.Metrics
}

// Defaults of the Config fields left zero.
const (
	DefaultShutdownGrace  = 10 * time.Second
	DefaultLogIdleTimeout = 2 * time.Second // upstream's
)

// Invoker runs activations.
type Invoker struct {
	cfg      Config
	id       messaging.InvokerInstanceID
	pool     *Pool
	proxy    *proxyClient
	pub      Publisher
	store    Store
	records  *recordWriter
	actions  *actionCache
	log      *slog.Logger
	slots    chan struct{}
	inflight sync.WaitGroup
	// runCtx bounds running activations; it is cancelled when Close runs out
	// of patience.
	runCtx    context.Context
	cancelRun context.CancelFunc
	// recent drops a message delivered a second time to this process;
	// started tells messages produced before this process (redelivered after
	// another one crashed) from new ones.
	recent  *messaging.Recent
	started time.Time
}

const (
	// recentActivations is how many activation ids the redelivery check
	// remembers.
	recentActivations = 4096
	// recordLookupTimeout bounds the look-up of a redelivered activation's
	// record.
	recordLookupTimeout = 5 * time.Second
)

// activationGetter is the store's record look-up, when it has one.
type activationGetter interface {
	GetActivation(ctx context.Context, namespace, activationID string) (*api.Activation, error)
}

// New creates an invoker over a container factory.
func New(cfg Config, factory ContainerFactory, pub Publisher, st Store, log *slog.Logger) *Invoker {
	if cfg.UserMemoryMB == 0 {
		cfg.UserMemoryMB = 2048
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	if cfg.LogIdleTimeout <= 0 {
		cfg.LogIdleTimeout = DefaultLogIdleTimeout
	}
	images := map[string]string{}
	stems := map[stemKey]int{}
	reactive := map[stemKey]ReactiveConfig{}
	for _, rs := range cfg.Manifest.Runtimes {
		for _, r := range rs {
			images[r.Kind] = r.ImageRef()
			if !cfg.Prewarm {
				continue
			}
			for _, sc := range r.StemCells {
				mb, err := messaging.ParseByteSize(sc.Memory)
				if err == nil && sc.InitialCount > 0 {
					stems[stemKey{Kind: r.Kind, MemoryMB: int(mb >> 20)}] = sc.InitialCount
				}
				if rc := sc.Reactive; err == nil && rc != nil {
					ttl, _ := rc.TTLDuration()
					reactive[stemKey{Kind: r.Kind, MemoryMB: int(mb >> 20)}] = ReactiveConfig{
						MinCount: rc.MinCount, MaxCount: rc.MaxCount, TTL: ttl, Threshold: rc.Threshold, Increment: rc.Increment}
				}
			}
		}
	}
	env := map[string]string{"__OW_API_HOST": cfg.APIHost}
	for k, v := range cfg.ContainerEnv {
		env[k] = v
	}
	// runCtx bounds the activations and the pool's background work.
	runCtx, cancelRun := context.WithCancel(context.Background())
	pool := newPool(runCtx, factory, PoolConfig{
		UserMemoryMB: cfg.UserMemoryMB, IdleTimeout: cfg.IdleTimeout, StemCells: stems, Images: images, Env: env,
		PauseGrace: cfg.PauseGrace, Reactive: reactive,
	}, log)
	maxConcurrent := activationSlots(cfg.UserMemoryMB, cfg.Limits)
	if err := cfg.Metrics.WatchPool(pool.sizes); err != nil {
		log.Warn("container pool metrics not exported; /metrics lacks brisk_invoker_containers", "err", err)
	}
	return &Invoker{runCtx: runCtx, cancelRun: cancelRun,
		cfg: cfg, id: messaging.NewInvokerInstanceID(cfg.Instance, cfg.UserMemoryMB), pool: pool,
		proxy: newProxyClient(cfg.Limits.MaxResultBytes), pub: pub, store: st,
		records: newRecordWriter(st, log), actions: newActionCache(), log: log, slots: make(chan struct{}, maxConcurrent),
		recent: messaging.NewRecent(recentActivations), started: time.Now(),
	}
}

// activationSlots bounds the activations an invoker takes off its topic at
// once: one per smallest container that fits in its memory (upstream's
// maxPeek), times half the largest per-container concurrency (capped at 8),
// as upstream does for actions that share containers. Activations beyond it
// stay in Kafka.
func activationSlots(userMemoryMB int, l api.Limits) int {
	containers := max(userMemoryMB/max(l.MinMemoryMB, 1), 1)
	return containers * max(1, min(l.MaxConcurrency, 16)/2)
}

// ID is the invoker's instance id.
func (inv *Invoker) ID() messaging.InvokerInstanceID { return inv.id }

// Start prewarms and starts the background work.
func (inv *Invoker) Start(ctx context.Context) {
	inv.pool.Start(ctx)
	inv.records.start()
}

// Close waits for running activations (at most Config.ShutdownGrace, then aborts
// them), writes the pending records and removes every container. It returns
// once the activations, the record writer and the pool's background work
// have ended.
func (inv *Invoker) Close() {
	done := make(chan struct{})
	go func() { inv.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(inv.cfg.ShutdownGrace):
		inv.log.Warn("aborting running activations at shutdown")
		inv.cancelRun()
		<-done
	}
	inv.cancelRun()
	inv.records.close()
	inv.pool.Close()
}

// Handle takes one activation message off the topic. It returns once the
// activation has a slot (back-pressure: while every slot is busy, further
// messages stay in Kafka) and runs it in the background.
func (inv *Invoker) Handle(ctx context.Context, value []byte) error {
	return inv.HandleAcked(ctx, value, func() {})
}

// HandleAcked is Handle for messaging.Consumer.RunAcked: done is called once
// the activation's record is stored (at once for a message already handled),
// so that its message is committed only then. An invoker that dies with
// activations running gets their messages again when it restarts, and runs
// those that have no record.
func (inv *Invoker) HandleAcked(ctx context.Context, value []byte, done func()) error {
	msg, err := messaging.ParseActivationMessage(value)
	if err != nil {
		return fmt.Errorf("invoker%d: %w", inv.cfg.Instance, err)
	}
	select {
	case inv.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if inv.seen(ctx, &msg) {
		<-inv.slots
		done()
		return nil
	}
	inv.inflight.Add(1)
	go func() {
		defer inv.inflight.Done()
		defer func() { <-inv.slots }()
		inv.run(inv.runCtx, &msg, done)
	}()
	return nil
}

// seen reports whether msg was handled already: delivered a second time to
// this process (a commit failed, or a rebalance), or produced before this
// process started (redelivered after the invoker that took it crashed) and
// already recorded, by that invoker or by the controller that gave it up.
// For a recorded one it sends the completion again, so that a controller
// still holding its booking frees it.
func (inv *Invoker) seen(ctx context.Context, msg *messaging.ActivationMessage) bool {
	if !inv.recent.Add(msg.ActivationID) {
		inv.log.Debug("activation delivered again: dropped", "activation", msg.ActivationID)
		return true
	}
	get, ok := inv.store.(activationGetter)
	if !ok || msg.TransID.Start == 0 || !msg.TransID.StartTime().Before(inv.started) {
		return false
	}
	lctx, cancel := context.WithTimeout(ctx, recordLookupTimeout)
	act, err := get.GetActivation(lctx, msg.User.Namespace.Name, msg.ActivationID)
	cancel()
	if err != nil {
		return false // not recorded (or the look-up failed): run it
	}
	inv.log.Info("activation from before this invoker started is recorded already: skipped", "activation", msg.ActivationID)
	inv.ack(ctx, msg, act, messaging.AckCompletion)
	return true
}

// outcome is the result of /init + /run.
type outcome struct {
	status   int
	result   json.RawMessage
	timedOut bool
	initTime time.Duration
}

func errorResult(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

func (inv *Invoker) run(ctx context.Context, msg *messaging.ActivationMessage, stored func()) {
	received := time.Now()
	docID := msg.Action.Path + "/" + msg.Action.Name
	log := inv.log.With("tid", msg.TransID.ID, "activation", msg.ActivationID, "action", docID)

	doc, err := inv.actions.get(ctx, inv.store, docID, msg.Revision)
	if err != nil {
		status, text := api.StatusWhiskError, "Action could not be fetched."
		switch {
		case errors.Is(err, store.ErrNotFound):
			status, text = api.StatusApplicationError, "Action could not be found or may have been deleted."
		case errors.Is(err, store.ErrWrongCollection), errors.Is(err, store.ErrCorrupted):
			text = "Action version is not compatible and cannot be invoked."
		}
		log.Debug("fallback activation", "err", err)
		inv.finishFallback(ctx, msg, received, status, text, stored)
		return
	}
	action := &doc.Action
	rt, ok := inv.cfg.Manifest.Resolve(action.Exec.Kind)
	if ok && action.Exec.Code == nil && action.Exec.Image != "" {
		inv.finishFallback(ctx, msg, received, api.StatusWhiskError, fmt.Sprintf(MsgImageNotSupported, action.Exec.Image), stored)
		return
	}
	if !ok || action.Exec.Code == nil {
		inv.finishFallback(ctx, msg, received, api.StatusWhiskError, "Action version is not compatible and cannot be invoked.", stored)
		return
	}
	key := warmKey{Namespace: msg.User.Namespace.Name, Action: docID, Revision: doc.Rev, Kind: rt.Kind, MemoryMB: action.Limits.Memory,
		Concurrency: rt.ContainerConcurrency(action.Limits.Concurrency)}
	timeout := time.Duration(action.Limits.Timeout) * time.Millisecond

	acqCtx, cancel := context.WithTimeout(ctx, timeout)
	pc, err := inv.pool.Acquire(acqCtx, key)
	cancel()
	if err != nil {
		log.Warn("no container for the activation; it is recorded as a whisk error", "err", err,
			"hint", "check the container backend (node and python3 on the PATH, or containerd) and the invoker's user-memory")
		inv.finishFallback(ctx, msg, received, api.StatusWhiskError, "Failed to provision resources to run the action.", stored)
		return
	}
	collector := pc.logs.attach(msg.ActivationID, action.Limits.Logs<<20)
	waitTime := time.Since(msg.TransID.StartTime())
	if msg.TransID.Start == 0 {
		waitTime = time.Since(received)
	}

	out := inv.initAndRun(ctx, pc, msg, action, timeout)
	if out.status == api.StatusDeveloperError && !out.timedOut && memoryExhausted(ctx, pc.c) {
		out.result = errorResult(msgMemoryExhausted)
	}
	end := time.Now()
	start := end.Add(-out.runDuration - out.initTime)

	act := &api.Activation{
		Namespace: msg.User.Namespace.Name, Name: action.Name, Subject: msg.User.Subject,
		ActivationID: msg.ActivationID, Version: action.Version, Cause: msg.Cause,
		Start: start.UnixMilli(), End: end.UnixMilli(),
		Response: api.ActivationResponse{StatusCode: out.status, Result: out.result},
		Logs:     []string{},
	}
	act.Duration = act.End - act.Start
	size := len(out.result)
	act.Response.Size = &size
	act.Annotations = api.KeyValues{}.
		Set("path", docID).
		Set("waitTime", waitTime.Milliseconds()).
		Set("kind", rt.Kind).
		Set("timeout", out.timedOut).
		Set("limits", action.Limits)
	if out.initTime > 0 {
		act.Annotations = act.Annotations.Set("initTime", out.initTime.Milliseconds())
	}
	if msg.Cause != "" {
		act.Annotations = act.Annotations.Set("causedBy", "sequence")
	}
	if msg.Action.Binding != "" {
		act.Annotations = act.Annotations.Set("binding", msg.Action.Binding)
	}

	// The result goes to a blocking caller before logs are collected.
	if msg.Blocking {
		inv.ack(ctx, msg, act, messaging.AckResult)
	}
	healthy := out.status == api.StatusSuccess || out.status == api.StatusApplicationError
	act.Logs = collector.finish(healthy, inv.cfg.LogIdleTimeout)
	if healthy {
		inv.pool.Return(pc)
	} else {
		inv.pool.Destroy(pc)
	}
	inv.observe(msg, act, rt.Kind, waitTime, out.initTime, end.Sub(start), action.Limits.Memory)
	inv.ack(ctx, msg, act, messaging.AckCompletion)
	inv.record(msg, act, stored)
}

// MsgImageNotSupported is the error of an action that is an image of its
// own without code (%s: the image): Brisk runs blackbox actions only as code
// in its local blackbox image.
const MsgImageNotSupported = "The action's image '%s' cannot be run: blackbox actions with an image of their own and no code are not supported yet."

// record hands act to the record writer, unless the invoking namespace does
// not store its activations (then the message is done at once).
func (inv *Invoker) record(msg *messaging.ActivationMessage, act *api.Activation, stored func()) {
	if !msg.User.StoresActivations() {
		if stored != nil {
			stored()
		}
		return
	}
	inv.records.add(act, stored)
}

// timings extends outcome with the run's duration.
type timedOutcome struct {
	outcome
	runDuration time.Duration
}

func (inv *Invoker) initAndRun(ctx context.Context, pc *pooled, msg *messaging.ActivationMessage, action *api.Action, timeout time.Duration) timedOutcome {
	deadline := time.Now().Add(timeout)
	env := inv.env(msg, action, deadline)
	args, initEnv := splitInitArgs(msg.Content, msg.InitArgs)
	out, ok := inv.ensureInit(ctx, pc, action, env, initEnv, deadline)
	if !ok {
		return out
	}
	// /run gets the full time limit of its own, as upstream: init time does not shorten it.
	deadline = time.Now().Add(timeout)
	runBody, _ := json.Marshal(runRequest{
		Value: args, Namespace: msg.User.Namespace.Name, ActionName: "/" + msg.Action.Path + "/" + msg.Action.Name,
		ActionVersion: action.Version, ActivationID: msg.ActivationID, TransactionID: msg.TransID.ID,
		Deadline: strconv.FormatInt(deadline.UnixMilli(), 10), APIKey: env["__OW_API_KEY"],
	})
	runStart := time.Now()
	rctx, cancel := context.WithDeadline(ctx, deadline)
	resp, err := inv.proxy.run(rctx, pc.c.Addr(), runBody)
	cancel()
	out.runDuration = time.Since(runStart)
	switch {
	case err != nil && !time.Now().Before(deadline):
		out.status, out.timedOut = api.StatusDeveloperError, true
		out.result = errorResult(fmt.Sprintf("The action exceeded its time limits of %d milliseconds.", action.Limits.Timeout))
	case err != nil:
		out.status, out.result = api.StatusDeveloperError, errorResult("The action did not produce a valid response and exited unexpectedly.")
	default:
		out.status, out.result = interpretRun(resp, inv.cfg.Limits.MaxResultBytes)
	}
	return out
}

// ensureInit initializes pc unless that was done. The first activation in a
// container initializes it; activations sharing the container wait for that
// (within their own time limit) and fail with the same error when it fails.
// It reports whether the container is ready for /run; if not, out is the
// activation's outcome.
func (inv *Invoker) ensureInit(ctx context.Context, pc *pooled, action *api.Action, env, initEnv map[string]string, deadline time.Time) (out timedOutcome, ok bool) {
	timedOut := func() (timedOutcome, bool) {
		out.status, out.timedOut = api.StatusDeveloperError, true
		out.result = errorResult(fmt.Sprintf("The action exceeded its time limits of %d milliseconds during initialization.", action.Limits.Timeout))
		return out, false
	}
	lctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	select {
	case pc.initLock <- struct{}{}:
	case <-lctx.Done():
		return timedOut()
	}
	defer func() { <-pc.initLock }()
	switch {
	case pc.initialized:
		return out, true
	case pc.initFailure != nil:
		out = *pc.initFailure
		out.initTime = 0 // another activation's
		return out, false
	}
	defer func() {
		if !ok {
			failed := out
			pc.initFailure = &failed
		}
	}()
	for k, v := range initEnv {
		env[k] = v
	}
	main := action.Exec.Main
	if main == "" {
		main = "main"
	}
	body, _ := json.Marshal(map[string]any{"value": map[string]any{
		"name": action.Name, "main": main, "code": *action.Exec.Code, "binary": action.Exec.Binary, "env": env,
	}})
	initStart := time.Now()
	resp, err := inv.proxy.init(lctx, pc.c.Addr(), body)
	out.initTime = time.Since(initStart)
	switch {
	case err != nil && time.Now().After(deadline):
		return timedOut()
	case err != nil:
		out.status, out.result = api.StatusDeveloperError, errorResult("The action did not initialize and exited unexpectedly.")
		return out, false
	case resp.Status != 200:
		out.status, out.result = api.StatusDeveloperError, initError(resp.Body)
		return out, false
	}
	pc.initialized = true
	return out, true
}

type runRequest struct {
	Value         json.RawMessage `json:"value"`
	Namespace     string          `json:"namespace"`
	ActionName    string          `json:"action_name"`
	ActionVersion string          `json:"action_version"`
	ActivationID  string          `json:"activation_id"`
	TransactionID string          `json:"transaction_id"`
	Deadline      string          `json:"deadline"`
	APIKey        string          `json:"api_key,omitempty"`
}

// env is the /init environment (upstream's action-proxy protocol).
func (inv *Invoker) env(msg *messaging.ActivationMessage, action *api.Action, deadline time.Time) map[string]string {
	env := map[string]string{
		"__OW_NAMESPACE":      msg.User.Namespace.Name,
		"__OW_ACTION_NAME":    "/" + msg.Action.Path + "/" + msg.Action.Name,
		"__OW_ACTION_VERSION": action.Version,
		"__OW_ACTIVATION_ID":  msg.ActivationID,
		"__OW_TRANSACTION_ID": msg.TransID.ID,
		"__OW_DEADLINE":       strconv.FormatInt(deadline.UnixMilli(), 10),
	}
	// Upstream: the key is given when provide-api-key is truthy, or absent
	// (legacy actions); new actions are created with it set to false.
	if !action.Annotations.Has("provide-api-key") || action.Annotations.Truthy("provide-api-key") {
		env["__OW_API_KEY"] = msg.User.AuthKey.APIKey
	}
	return env
}

// splitInitArgs moves the init parameters out of the run arguments into the
// /init environment (values stringified, null as "").
func splitInitArgs(content json.RawMessage, initArgs []string) (json.RawMessage, map[string]string) {
	if len(content) == 0 {
		return json.RawMessage("{}"), nil
	}
	if len(initArgs) == 0 {
		return content, nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(content, &obj) != nil {
		return content, nil
	}
	env := map[string]string{}
	for _, k := range initArgs {
		v, ok := obj[k]
		if !ok {
			continue
		}
		delete(obj, k)
		var s string
		switch {
		case json.Unmarshal(v, &s) == nil:
		case bytes.Equal(bytes.TrimSpace(v), []byte("null")):
			s = ""
		default:
			s = string(v)
		}
		env[k] = s
	}
	b, _ := json.Marshal(obj)
	return b, env
}

// initError builds the developer error of a failed /init.
func initError(body []byte) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil {
		if e, ok := obj["error"]; ok {
			b, _ := json.Marshal(map[string]json.RawMessage{"error": e})
			return b
		}
	}
	return errorResult("The action failed during initialization: " + string(body))
}

// interpretRun maps a /run reply to a status and result (upstream's
// ActivationResponse.processRunResponseContent).
func interpretRun(resp *proxyResponse, maxBytes int) (int, json.RawMessage) {
	if resp.Truncated {
		return api.StatusApplicationError, errorResult(fmt.Sprintf(
			"The action produced a response that exceeded the allowed length: %d > %d bytes. The truncated response was: %s",
			resp.Length, maxBytes, resp.Body))
	}
	body := bytes.TrimSpace(resp.Body)
	invalid := func() (int, json.RawMessage) {
		msg := "The action did not produce a valid JSON or JSON Array response"
		if len(body) > 0 {
			msg += ": " + string(body)
		}
		return api.StatusDeveloperError, errorResult(msg)
	}
	if !json.Valid(body) || len(body) == 0 {
		return invalid()
	}
	switch body[0] {
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) != nil {
			return invalid()
		}
		errVal, hasErr := obj["error"]
		if resp.Status == 200 {
			if hasErr {
				b, _ := json.Marshal(map[string]json.RawMessage{"error": errVal})
				return api.StatusApplicationError, b
			}
			return api.StatusSuccess, json.RawMessage(body)
		}
		if hasErr {
			b, _ := json.Marshal(map[string]json.RawMessage{"error": errVal})
			return api.StatusDeveloperError, b
		}
		return invalid()
	case '[':
		if resp.Status == 200 {
			return api.StatusSuccess, json.RawMessage(body)
		}
	}
	return invalid()
}

// finishFallback records an activation that never ran (upstream's fallback
// activation: start = end = now, kind "unknown").
func (inv *Invoker) finishFallback(ctx context.Context, msg *messaging.ActivationMessage, at time.Time, status int, text string, stored func()) {
	result := errorResult(text)
	size := len(result)
	act := &api.Activation{
		Namespace: msg.User.Namespace.Name, Name: msg.Action.Name, Subject: msg.User.Subject,
		ActivationID: msg.ActivationID, Version: msg.Action.Version, Cause: msg.Cause,
		Start: at.UnixMilli(), End: at.UnixMilli(),
		Response: api.ActivationResponse{StatusCode: status, Result: result, Size: &size},
		Logs:     []string{},
		Annotations: api.KeyValues{}.Set("path", msg.Action.Path+"/"+msg.Action.Name).
			Set("kind", "unknown"),
	}
	if act.Version == "" {
		act.Version = "0.0.1"
	}
	if msg.Blocking {
		inv.ack(ctx, msg, act, messaging.AckResult)
	}
	inv.observe(msg, act, "unknown", 0, 0, 0, 0)
	inv.ack(ctx, msg, act, messaging.AckCompletion)
	inv.record(msg, act, stored)
}

// ack publishes an acknowledgement to the controller that sent msg.
func (inv *Invoker) ack(ctx context.Context, msg *messaging.ActivationMessage, act *api.Activation, kind messaging.AckKind) {
	var (
		ack messaging.AcknowledgementMessage
		err error
	)
	isSystemError := act.Response.StatusCode == api.StatusWhiskError
	switch kind {
	case messaging.AckResult:
		raw, merr := json.Marshal(act)
		if merr != nil {
			inv.log.Error("encode activation", "activation", act.ActivationID, "err", merr)
			return
		}
		ack, err = messaging.NewResultAck(msg.TransID, raw)
	default:
		ack = messaging.NewCompletionAck(msg.TransID, act.ActivationID, isSystemError, inv.id)
	}
	if err != nil {
		inv.log.Error("build ack", "activation", act.ActivationID, "err", err)
		return
	}
	b, err := json.Marshal(ack)
	if err != nil {
		inv.log.Error("encode ack", "activation", act.ActivationID, "err", err)
		return
	}
	topic := messaging.CompletedTopic(msg.RootControllerIndex.AsString)
	// Acks go out even for activations aborted at shutdown, so nobody waits for them forever.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := inv.pub.Send(sctx, topic, b); err != nil {
		if kind == messaging.AckResult && errors.Is(err, messaging.ErrMessageTooLarge) {
			shrunk, _ := json.Marshal(ack.Shrink())
			err = inv.pub.Send(sctx, topic, shrunk)
		}
		if err != nil {
			inv.log.Error("send ack", "topic", topic, "activation", act.ActivationID, "err", err,
				"hint", "the controller gives the activation up after its completion timeout; check that Kafka is reachable")
		}
	}
}
