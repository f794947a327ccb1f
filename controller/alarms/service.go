package alarms

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the timezone parameter must work on hosts without zoneinfo

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/store"
)

// TickAnnotation annotates the trigger activation of an alarm fire with the
// tick it fired for (Unix milliseconds): fires can come a little after their
// tick, and a tick fires at most once.
const TickAnnotation = "alarmTick"

// Controller is what the alarms need from the controller.
type Controller interface {
	// RegisterSystemAction makes an action run in the controller.
	RegisterSystemAction(docID string, run controller.SystemAction)
	// FireTrigger fires a trigger of owner's namespace as owner.
	FireTrigger(ctx context.Context, owner *api.Identity, name string, payload json.RawMessage, annotations api.KeyValues) (string, error)
	// DeleteTrigger deletes a trigger of owner's namespace (and its rules).
	DeleteTrigger(ctx context.Context, owner *api.Identity, name string, withRules bool) error
}

// Config configures the alarms service.
type Config struct {
	Store      *store.Store
	Controller Controller
	// Manifest gives the feed actions' kind (nodejs's default); default
	// api.DefaultManifest().
	Manifest *api.Manifest
	Log      *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Standby leaves the scheduler to RunScheduler (a leader duty of the
	// controllers' Raft group); without it Start runs the scheduler until
	// Close.
	Standby bool
	// Record, when set, commits a tick before its trigger fires: the tick
	// fires only when Record answers true (a leader that lost its
	// leadership gets an error and fires nothing). schedule is the
	// schedule's document id, tick its scheduled time.
	Record func(ctx context.Context, schedule string, tick time.Time) (bool, error)
	// Forget, when set, drops the record of a schedule the scheduler found
	// deleted.
	Forget func(ctx context.Context, schedule string) error
}

const (
	// PackageNamespace and PackageName name the package of the feeds.
	PackageNamespace = "whisk.system"
	PackageName      = "alarms"

	// maxSchedules bounds the schedules the service keeps.
	maxSchedules = 10000
	// maxPendingFires bounds the fires waiting for a worker; past it a fire
	// is dropped (and logged), as a missed tick.
	maxPendingFires = 1000
	// fireWorkers is how many fires run at once.
	fireWorkers = 4
	// fireTimeout bounds one attempt to fire a trigger.
	fireTimeout = 30 * time.Second
	// reloadInterval is how often a running scheduler reads the stored
	// schedules again, to arm those another controller created or changed.
	reloadInterval = 2 * time.Second
	// fireRetries is how often a fire that failed for a transient reason
	// (5xx, 408, 409, 429) is tried again.
	fireRetries = 5
	// storeRetries bounds rewrites of a schedule that changed meanwhile.
	storeRetries = 3
)

// Service is the running alarms provider.
type Service struct {
	st     *store.Store
	ctl    Controller
	log    *slog.Logger
	now    func() time.Time
	record func(ctx context.Context, schedule string, tick time.Time) (bool, error)
	forget func(ctx context.Context, schedule string) error

	mu sync.Mutex
	// running is set while RunScheduler runs: only then are schedules
	// armed.
	running bool
	entries map[string]*entry // by schedule document id
	queue   entryHeap
	kick    chan struct{}
	jobs    chan fireJob

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// entry is an armed schedule in the scheduler.
type entry struct {
	sched *Schedule
	timer *timer
	next  time.Time
	left  int // fires left under maxTriggers; -1 unlimited
	index int // in the heap
}

// fireJob is one due fire. last, when set, is why the schedule ends after
// this fire.
type fireJob struct {
	sched *Schedule
	at    time.Time
	last  string
}

// Start creates the package and feed actions when missing, registers the
// feeds with the controller, loads the stored schedules and starts the
// scheduler. Close stops it.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Manifest == nil {
		cfg.Manifest = api.DefaultManifest()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{st: cfg.Store, ctl: cfg.Controller, log: cfg.Log, now: cfg.Now, record: cfg.Record, forget: cfg.Forget,
		entries: map[string]*entry{}, kick: make(chan struct{}, 1), jobs: make(chan fireJob, maxPendingFires)}
	if err := s.install(ctx, cfg.Manifest); err != nil {
		return nil, err
	}
	for _, feed := range []string{FeedAlarm, FeedInterval, FeedOnce} {
		s.ctl.RegisterSystemAction(PackageNamespace+"/"+PackageName+"/"+feed, s.handler(feed))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if !cfg.Standby {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.RunScheduler(runCtx) }()
	}
	return s, nil
}

// Close stops the scheduler Start began and waits for fires in progress
// (bounded by their timeouts).
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// RunScheduler arms the stored schedules and fires them until ctx ends,
// reading them again every reloadInterval for those another controller
// created, changed or deleted. Run it on one controller at a time (the
// Raft leader's duty): with Config.Record, each tick is committed first.
func (s *Service) RunScheduler(ctx context.Context) {
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		clear(s.entries)
		s.queue = nil
		s.mu.Unlock()
	}()
	if err := s.load(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("alarm schedules not loaded; retrying", "err", err)
	}
	var wg sync.WaitGroup
	wg.Add(2 + fireWorkers)
	go func() { defer wg.Done(); s.run(ctx) }()
	go func() {
		defer wg.Done()
		t := time.NewTicker(reloadInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.load(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("alarm schedules not reloaded", "err", err)
				}
			}
		}
	}()
	for range fireWorkers {
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-s.jobs:
					s.fire(ctx, j)
				}
			}
		}()
	}
	wg.Wait()
}

// --- installation --------------------------------------------------------

// feedActions are upstream's feed actions: description and documented
// parameters.
var feedActions = []struct{ name, description, parameters string }{
	{FeedAlarm, "Fire trigger when alarm occurs",
		`[{"name":"cron","required":true},{"name":"timezone","required":false},{"name":"startDate","required":false},{"name":"stopDate","required":false},{"name":"strict","required":false}]`},
	{FeedOnce, "Fire trigger once when alarm occurs",
		`[{"name":"date","required":true},{"name":"deleteAfterFire","required":false}]`},
	{FeedInterval, "Fire trigger at specified interval",
		`[{"name":"minutes","required":true},{"name":"startDate","required":false},{"name":"stopDate","required":false}]`},
}

// install creates /whisk.system/alarms and its feed actions when missing.
func (s *Service) install(ctx context.Context, m *api.Manifest) error {
	now := s.now().UnixMilli()
	pkg := api.PackageDoc{EntityType: "package", Package: api.Package{Namespace: PackageNamespace, Name: PackageName,
		Version: "0.0.1", Publish: true,
		Parameters: api.KeyValues{}.Set("trigger_payload", ""),
		Annotations: api.KeyValues{}.Set("description", "Alarms and periodic utility").
			Set("parameters", json.RawMessage(`[{"name":"trigger_payload","required":false}]`)),
		Updated: now}}
	if err := s.ensure(ctx, PackageNamespace+"/"+PackageName, pkg); err != nil {
		return err
	}
	rt, ok := m.Resolve("nodejs:default")
	if !ok {
		return fmt.Errorf("alarms: the manifest has no default nodejs kind for the feed actions")
	}
	limits := api.DefaultLimits().Defaults()
	for _, f := range feedActions {
		code := "// " + "/" + PackageNamespace + "/" + PackageName + "/" + f.name + " is built into Brisk: the controller\n" +
			"// handles its lifecycle events itself and this code does not run there.\n" +
			"function main() {\n  return { error: 'this feed is built into Brisk and runs in its controller' };\n}\n"
		doc := api.ActionDoc{EntityType: "action", Action: api.Action{
			Namespace: PackageNamespace + "/" + PackageName, Name: f.name, Version: "0.0.1",
			Exec: api.Exec{Kind: rt.Kind, Code: &code}, Parameters: api.KeyValues{}, Limits: limits,
			Annotations: api.KeyValues{}.Set("description", f.description).
				Set("parameters", json.RawMessage(f.parameters)).Set("feed", true).
				Set("provide-api-key", false).Set("exec", rt.Kind),
			Updated: now}}
		if err := s.ensure(ctx, PackageNamespace+"/"+PackageName+"/"+f.name, doc); err != nil {
			return err
		}
	}
	return nil
}

// ensure creates an entity document unless one exists.
func (s *Service) ensure(ctx context.Context, id string, doc any) error {
	_, err := s.st.GetEntity(ctx, id)
	if !errors.Is(err, store.ErrNotFound) {
		if err != nil {
			return fmt.Errorf("alarms: read %s: %w", id, err)
		}
		return nil
	}
	if _, err := s.st.PutEntity(ctx, id, "", doc); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("alarms: create %s: %w", id, err)
	}
	return nil
}

// load arms every active stored schedule not armed at its revision yet and
// disarms those no longer stored or active; one that can no longer fire is
// disabled with upstream's reason.
func (s *Service) load(ctx context.Context) error {
	docs, err := s.st.ListDocsByPrefix(ctx, docPrefix, maxSchedules)
	if err != nil {
		return fmt.Errorf("alarms: load schedules: %w", err)
	}
	now := s.now()
	active := map[string]bool{}
	for _, raw := range docs {
		var sched Schedule
		if json.Unmarshal(raw, &sched) != nil || sched.EntityType != entityType || !sched.Status.Active {
			continue
		}
		active[sched.ID] = true
		if s.armedAt(sched.ID, sched.Rev) {
			continue
		}
		t, err := sched.arm(now)
		if err != nil {
			s.disable(ctx, &sched, 0, "Automatically disabled after receiving error on trigger initialization: "+err.Error())
			continue
		}
		s.schedule(&sched, t)
	}
	s.mu.Lock()
	var gone []string
	for id := range s.entries {
		if !active[id] {
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		s.unschedule(id, nil)
		if _, err := s.st.GetEntity(ctx, id); errors.Is(err, store.ErrNotFound) && s.forget != nil {
			if err := s.forget(ctx, id); err != nil {
				s.log.Debug("fire record of a deleted alarm kept", "id", id, "err", err)
			}
		}
	}
	return nil
}

// armedAt reports whether schedule id is armed at revision rev.
func (s *Service) armedAt(id, rev string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	return ok && e.sched.Rev == rev
}

// --- lifecycle -----------------------------------------------------------

// handler is the system action of one feed.
func (s *Service) handler(feed string) controller.SystemAction {
	return func(ctx context.Context, caller *api.Identity, args json.RawMessage) (json.RawMessage, error) {
		p := params{}
		_ = json.Unmarshal(args, &p)
		res, err := s.lifecycle(ctx, feed, caller, p)
		var fe *feedError
		if errors.As(err, &fe) {
			// Upstream's feed actions fail with the provider's error body.
			b, _ := json.Marshal(map[string]map[string]string{"error": {"error": fe.msg}})
			return b, nil
		}
		return res, err
	}
}

var success = json.RawMessage(`{"status":"success"}`)

// lifecycle handles one lifecycle event of a feed invoked by caller.
func (s *Service) lifecycle(ctx context.Context, feed string, caller *api.Identity, p params) (json.RawMessage, error) {
	event := p.str("lifecycleEvent")
	switch event {
	case "CREATE", "READ", "UPDATE", "DELETE", "PAUSE", "UNPAUSE":
	default:
		return json.RawMessage(`{"error":"unsupported lifecycleEvent"}`), nil
	}
	if !p.truthy("triggerName") {
		return nil, failf("no trigger name parameter was provided")
	}
	// Upstream's feed puts the trigger in the invoking namespace, whatever
	// namespace triggerName names.
	ns, name := caller.Namespace, triggerName(p.str("triggerName"))
	id := docID(ns, name)
	now := s.now()

	if event == "CREATE" {
		sched, err := newSchedule(feed, p, now)
		if err != nil {
			return nil, err
		}
		if _, err := s.verifyTriggerAuth(ctx, p.str("authKey"), ns, name, false); err != nil {
			return nil, err
		}
		sched.ID, sched.APIKey, sched.Name, sched.Namespace = id, p.str("authKey"), name, ns
		t, err := sched.arm(now)
		if err != nil {
			return nil, failf("%s", err.Error())
		}
		old, err := s.read(ctx, id)
		switch {
		case err == nil:
			sched.Rev = old.Rev // an existing schedule is replaced, as upstream
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		default:
			if s.count() >= maxSchedules {
				return nil, failf("error creating alarm trigger.")
			}
		}
		if err := s.write(ctx, sched); err != nil {
			return nil, err
		}
		s.schedule(sched, t)
		return success, nil
	}

	if _, err := s.verifyTriggerAuth(ctx, p.str("authKey"), ns, name, event == "DELETE"); err != nil {
		return nil, err
	}
	sched, err := s.read(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, failf("could not find trigger /%s/%s in the database", ns, name)
	}
	if err != nil {
		return nil, err
	}
	switch event {
	case "READ":
		return readView(sched), nil
	case "DELETE":
		if err := s.st.DeleteEntity(ctx, id, sched.Rev); err != nil {
			return nil, fmt.Errorf("alarms: delete %s: %w", id, err)
		}
		s.unschedule(id, nil)
		if s.forget != nil { // on a follower this fails: the leader's next reload forgets it
			_ = s.forget(ctx, id)
		}
		return success, nil
	case "PAUSE":
		if sched.Status.Active {
			sched.Status = Status{Active: false, DateChanged: now.UnixMilli(),
				Reason: &Reason{Kind: "USER", Message: "Paused by the PAUSE lifecycle event"}}
			if err := s.write(ctx, sched); err != nil {
				return nil, err
			}
		}
		s.unschedule(id, nil)
		return success, nil
	}
	// UPDATE and UNPAUSE re-arm the schedule.
	if event == "UPDATE" {
		if sched, err = sched.update(p, now); err != nil {
			return nil, err
		}
	} else {
		sched.Status = Status{Active: true, DateChanged: now.UnixMilli()}
	}
	t, err := sched.arm(now)
	if err != nil {
		return nil, failf("%s", err.Error())
	}
	if err := s.write(ctx, sched); err != nil {
		return nil, err
	}
	s.schedule(sched, t)
	return success, nil
}

// triggerName is the trigger's name in a triggerName parameter
// ("/ns/name", or a name relative to the default namespace).
func triggerName(qname string) string {
	if !strings.HasPrefix(qname, "/") {
		return qname
	}
	parts := strings.SplitN(qname[1:], "/", 2)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// verifyTriggerAuth is upstream's check that authKey may read the trigger
// (for DELETE, a missing trigger is fine); it returns the key's identity.
func (s *Service) verifyTriggerAuth(ctx context.Context, authKey, ns, name string, isDelete bool) (*api.Identity, error) {
	denied := failf("Trigger authentication request failed.")
	uuid, key, ok := strings.Cut(authKey, ":")
	if !ok || uuid == "" || key == "" || !api.ValidName(name) {
		return nil, denied
	}
	owner, err := s.st.GetIdentity(ctx, uuid, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, denied
	case err != nil:
		return nil, fmt.Errorf("alarms: identity of the trigger's key: %w", err)
	case owner.Namespace != ns:
		return nil, denied
	}
	raw, err := s.st.GetEntity(ctx, ns+"/"+name)
	switch {
	case err == nil && store.EntityKind(raw) == "trigger":
		return owner, nil
	case errors.Is(err, store.ErrNotFound) && isDelete:
		return owner, nil
	case err == nil, errors.Is(err, store.ErrNotFound):
		return nil, denied
	}
	return nil, fmt.Errorf("alarms: read trigger %s/%s: %w", ns, name, err)
}

// readView is the READ result: upstream's {config, status}.
func readView(s *Schedule) json.RawMessage {
	config := map[string]any{"name": s.Name, "namespace": s.Namespace, "payload": s.Payload, "strict": false}
	if s.Strict != nil {
		config["strict"] = s.Strict
	}
	if s.Feed == FeedOnce {
		config["date"] = s.Date
		if s.DeleteAfterFire != "" {
			config["deleteAfterFire"] = s.DeleteAfterFire
		}
	} else {
		if s.StartDate != nil {
			config["startDate"] = s.StartDate
		}
		if s.StopDate != nil {
			config["stopDate"] = s.StopDate
		}
		if s.Minutes > 0 {
			config["minutes"] = s.Minutes
		} else {
			config["cron"] = s.Cron
			if s.Timezone != "" {
				config["timezone"] = s.Timezone
			}
		}
	}
	status := map[string]any{"active": s.Status.Active, "dateChanged": s.Status.DateChanged,
		"dateChangedISO": time.UnixMilli(s.Status.DateChanged).UTC().Format("2006-01-02T15:04:05Z")}
	if s.Status.Reason != nil {
		status["reason"] = s.Status.Reason
	}
	b, _ := json.Marshal(map[string]any{"config": config, "status": status})
	return b
}

// read loads a schedule document.
func (s *Service) read(ctx context.Context, id string) (*Schedule, error) {
	raw, err := s.st.GetEntity(ctx, id)
	if err != nil {
		return nil, err
	}
	var sched Schedule
	if err := json.Unmarshal(raw, &sched); err != nil || sched.EntityType != entityType {
		return nil, fmt.Errorf("alarms: schedule %s: %w", id, store.ErrCorrupted)
	}
	return &sched, nil
}

// write stores a schedule at its revision and records the new one.
func (s *Service) write(ctx context.Context, sched *Schedule) error {
	rev, err := s.st.PutEntity(ctx, sched.ID, sched.Rev, sched)
	if err != nil {
		return fmt.Errorf("alarms: write %s: %w", sched.ID, err)
	}
	sched.Rev = rev
	return nil
}

// --- scheduler -----------------------------------------------------------

func (s *Service) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// schedule arms sched (replacing what was armed for its trigger).
func (s *Service) schedule(sched *Schedule, t *timer) {
	s.mu.Lock()
	if !s.running { // the scheduler's controller loads it
		s.mu.Unlock()
		return
	}
	if old, ok := s.entries[sched.ID]; ok {
		heap.Remove(&s.queue, old.index)
		delete(s.entries, sched.ID)
	}
	if next := t.next(s.now()); !next.IsZero() {
		e := &entry{sched: sched, timer: t, next: next, left: sched.MaxTriggers}
		s.entries[sched.ID] = e
		heap.Push(&s.queue, e)
	}
	s.mu.Unlock()
	s.wake()
}

// unschedule disarms the schedule id; with only set, only if that schedule
// is still the armed one.
func (s *Service) unschedule(id string, only *Schedule) {
	s.mu.Lock()
	if e, ok := s.entries[id]; ok && (only == nil || e.sched == only) {
		heap.Remove(&s.queue, e.index)
		delete(s.entries, id)
	}
	s.mu.Unlock()
	s.wake()
}

func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run is the scheduler loop: it hands due fires to the workers and sleeps
// until the next one (or a change).
func (s *Service) run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := s.now()
		var due []fireJob
		s.mu.Lock()
		for len(s.queue) > 0 && !s.queue[0].next.After(now) {
			e := s.queue[0]
			job := fireJob{sched: e.sched, at: e.next}
			if e.left > 0 {
				e.left--
				if e.left == 0 {
					job.last = "Automatically disabled after reaching max triggers"
				}
			}
			e.next = e.timer.next(e.next)
			if !e.next.IsZero() && !e.next.After(now) {
				e.next = e.timer.next(now) // fires missed while busy are skipped
			}
			if job.last == "" && e.next.IsZero() {
				job.last = lastFireReason(e.sched)
			}
			if job.last != "" {
				heap.Remove(&s.queue, e.index)
				delete(s.entries, e.sched.ID)
			} else {
				heap.Fix(&s.queue, 0)
			}
			due = append(due, job)
		}
		wait := time.Hour
		if len(s.queue) > 0 {
			wait = s.queue[0].next.Sub(now)
		}
		s.mu.Unlock()
		for _, j := range due {
			select {
			case s.jobs <- j:
			default:
				s.log.Warn("alarm fire dropped: too many fires pending", "trigger", "/"+j.sched.Namespace+"/"+j.sched.Name)
				if j.last != "" {
					s.finish(ctx, j, nil)
				}
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
	}
}

// lastFireReason is why a schedule with no further fire is disabled.
func lastFireReason(sched *Schedule) string {
	switch sched.Feed {
	case FeedOnce:
		return "Automatically disabled after firing once"
	case FeedInterval:
		return "Automatically disabled after firing last scheduled interval trigger"
	}
	return "Automatically disabled after firing last scheduled cron trigger"
}

// fire fires one due alarm as the owner of its key, retrying transient
// failures, then ends the schedule if that was its last fire.
func (s *Service) fire(ctx context.Context, j fireJob) {
	trigger := "/" + j.sched.Namespace + "/" + j.sched.Name
	if s.record != nil {
		ok, err := s.record(ctx, j.sched.ID, j.at)
		if err != nil {
			s.log.Warn("alarm not fired: its tick could not be recorded", "trigger", trigger, "tick", j.at, "err", err)
			return
		}
		if !ok {
			s.log.Info("alarm tick fired already", "trigger", trigger, "tick", j.at)
			s.finish(ctx, j, nil)
			return
		}
	}
	uuid, key, _ := strings.Cut(j.sched.APIKey, ":")
	owner, err := s.st.GetIdentity(ctx, uuid, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.disable(ctx, j.sched, http.StatusUnauthorized, "Trigger automatically disabled: Received a 401 status code when firing the trigger")
		} else {
			s.log.Error("alarm not fired: owner unknown", "trigger", trigger, "err", err)
		}
		s.finish(ctx, j, nil)
		return
	}
	throttled := 0
	for attempt := 0; ; attempt++ {
		fctx, cancel := context.WithTimeout(ctx, fireTimeout)
		id, err := s.ctl.FireTrigger(fctx, owner, j.sched.Name, j.sched.Payload, api.KeyValues{}.Set(TickAnnotation, j.at.UnixMilli()))
		cancel()
		if err == nil {
			s.log.Debug("alarm fired", "trigger", trigger, "activationId", id)
			break
		}
		status := controller.HTTPStatus(err)
		if status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusConflict && status != http.StatusTooManyRequests {
			s.log.Info("alarm disabled", "trigger", trigger, "status", status, "err", err)
			s.disable(ctx, j.sched, status, fmt.Sprintf("Trigger automatically disabled: Received a %d status code when firing the trigger", status))
			break
		}
		if status == http.StatusTooManyRequests {
			throttled++
		}
		if attempt >= fireRetries || ctx.Err() != nil {
			if throttled == attempt+1 {
				s.disable(ctx, j.sched, http.StatusTooManyRequests, "Automatically disabled after continuously receiving a 429 status code when firing the trigger")
			} else {
				s.log.Error("alarm not fired", "trigger", trigger, "attempts", attempt+1, "err", err)
			}
			break
		}
		delay := max(time.Second, time.Duration(throttled*throttled)*time.Second)
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
	s.finish(ctx, j, owner)
}

// finish ends a schedule after its last fire: a once alarm with
// deleteAfterFire is deleted with its trigger (and, for "rules", the
// trigger's rules); otherwise the schedule is disabled with the reason.
func (s *Service) finish(ctx context.Context, j fireJob, owner *api.Identity) {
	if j.last == "" {
		return
	}
	if j.sched.Feed == FeedOnce && (j.sched.DeleteAfterFire == "true" || j.sched.DeleteAfterFire == "rules") && owner != nil {
		if err := s.st.DeleteEntity(ctx, j.sched.ID, j.sched.Rev); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("alarm schedule not deleted after firing", "id", j.sched.ID, "err", err)
		}
		if err := s.ctl.DeleteTrigger(ctx, owner, j.sched.Name, j.sched.DeleteAfterFire == "rules"); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("trigger not deleted after firing once", "trigger", "/"+j.sched.Namespace+"/"+j.sched.Name, "err", err)
		}
		return
	}
	s.disable(ctx, j.sched, 0, j.last)
}

// disable marks a schedule inactive with a reason and disarms it, unless
// it changed since it was armed (then the newer version stands).
func (s *Service) disable(ctx context.Context, sched *Schedule, statusCode int, msg string) {
	defer s.unschedule(sched.ID, sched)
	for range storeRetries {
		cur, err := s.read(ctx, sched.ID)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("alarm schedule not disabled", "id", sched.ID, "err", err)
			}
			return
		}
		if (sched.Rev != "" && cur.Rev != sched.Rev) || !cur.Status.Active {
			return
		}
		cur.Status = Status{Active: false, DateChanged: s.now().UnixMilli(),
			Reason: &Reason{Kind: "AUTO", StatusCode: statusCode, Message: msg}}
		err = s.write(ctx, cur)
		if err == nil || !errors.Is(err, store.ErrConflict) {
			if err != nil {
				s.log.Warn("alarm schedule not disabled", "id", sched.ID, "err", err)
			}
			return
		}
	}
}

// entryHeap orders entries by next fire.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
