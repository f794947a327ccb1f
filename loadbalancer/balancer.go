package loadbalancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
)

// Needs is what scheduling needs to know about an activation's action.
type Needs struct {
	// MemoryMB is the action's memory limit: the slots it books.
	MemoryMB int
	// Timeout is the action's time limit; it sets the completion-ack timeout.
	Timeout time.Duration
	// Blackbox actions (images not in the manifest) go to the blackbox
	// invokers.
	Blackbox bool
	// Concurrency is how many activations of the action share one container
	// (its limits.concurrency where the runtime allows it, else 1). Above 1,
	// one booking of MemoryMB covers that many activations on an invoker
	// (upstream's concurrency-aware slots).
	Concurrency int
}

// NeedsOf derives the Needs of an activation of action from the runtime
// manifest m; minMemoryMB stands in for an action without a memory limit.
func NeedsOf(action *api.Action, m *api.Manifest, minMemoryMB int) Needs {
	n := Needs{MemoryMB: action.Limits.Memory, Timeout: time.Duration(action.Limits.Timeout) * time.Millisecond}
	if n.MemoryMB <= 0 {
		n.MemoryMB = minMemoryMB
	}
	if action.Exec.Kind == "blackbox" {
		n.Blackbox = !nativeBlackbox(m, action.Exec.Image)
	}
	n.Concurrency = 1
	if m != nil && !n.Blackbox {
		if rt, ok := m.Resolve(action.Exec.Kind); ok {
			n.Concurrency = rt.ContainerConcurrency(action.Limits.Concurrency)
		}
	}
	return n
}

// nativeBlackbox reports whether image is one of the manifest's blackbox
// images, which managed invokers run like any runtime (upstream's
// exec.pull is false for them).
func nativeBlackbox(m *api.Manifest, image string) bool {
	if m == nil {
		return false
	}
	for _, bb := range m.Blackboxes {
		if image == bb.Ref() || (bb.Tag == "latest" && image == bb.Prefix+"/"+bb.Name) {
			return true
		}
	}
	return false
}

// InvokerState is an invoker's health as upstream names it.
type InvokerState int

// Upstream's four invoker states (GET /invokers shows their names).
const (
	// InvokerDown (upstream Offline): no ping for 10 s, or disabled.
	InvokerDown InvokerState = iota
	// InvokerUnhealthy: pinging, but test actions fail with system errors
	// (or none has succeeded yet). A new invoker starts here.
	InvokerUnhealthy
	// InvokerUnresponsive: pinging, but activations time out.
	InvokerUnresponsive
	// InvokerUp (upstream Healthy): takes work.
	InvokerUp
)

// String returns upstream's name: up, unhealthy, unresponsive or down.
func (s InvokerState) String() string {
	switch s {
	case InvokerUp:
		return "up"
	case InvokerUnhealthy:
		return "unhealthy"
	case InvokerUnresponsive:
		return "unresponsive"
	default:
		return "down"
	}
}

// InvokerHealth is one invoker as GET /invokers reports it.
type InvokerHealth struct {
	ID    messaging.InvokerInstanceID
	State InvokerState
}

// Name is upstream's invoker name: "invoker<N>", followed by "/<uniqueName>"
// and "/<displayedName>" when the invoker has them.
func (h InvokerHealth) Name() string {
	parts := []string{h.ID.String()}
	if h.ID.UniqueName != "" {
		parts = append(parts, h.ID.UniqueName)
	}
	if h.ID.DisplayedName != "" {
		parts = append(parts, h.ID.DisplayedName)
	}
	return strings.Join(parts, "/")
}

// Config configures a Balancer. Zero fields take upstream's defaults.
type Config struct {
	// ControllerID is this controller's instance id ("0"): it names the
	// health test action and the acknowledgement topic of test actions.
	ControllerID string
	// ClusterSize is how many controllers share the invokers at start;
	// each books at most userMemory/ClusterSize of an invoker (default 1).
	// SetClusterSize changes it as controllers come and go.
	ClusterSize int
	// ManagedFraction (default 0.9) of the invokers, the first ones, run
	// actions of the manifest's kinds; BlackboxFraction (default 0.1), the
	// last ones, run blackbox images. Each set has at least one invoker.
	ManagedFraction, BlackboxFraction float64
	// A booking whose completion never arrives is freed after
	// max(action timeout, 60 s) * TimeoutFactor + TimeoutAddon
	// (defaults 2 and 1 minute).
	TimeoutFactor int
	TimeoutAddon  time.Duration
	// ReadinessFraction is the share of healthy invokers at which
	// GET /invokers/ready answers 200 (default 1: all of them).
	ReadinessFraction float64
	// Static invokers are healthy by construction and never pinged
	// (standalone). Without them, invokers register by pinging (HandlePing)
	// and their health is supervised (health.go).
	Static []messaging.InvokerInstanceID
	// Publisher sends activations and the health test actions.
	Publisher Publisher
	// Records is where the records of lost activations are written
	// (lost.go); without it they only reach a blocking caller.
	Records RecordStore
	Log     *slog.Logger
}

// Upstream's defaults (whisk.loadbalancer, whisk.controller).
const (
	DefaultManagedFraction   = 0.9
	DefaultBlackboxFraction  = 0.1
	DefaultTimeoutFactor     = 2
	DefaultTimeoutAddon      = time.Minute
	DefaultInvokerUserMemory = 2048
	// minSlotMB is the least an invoker's share can be: one action of the
	// smallest memory limit.
	minSlotMB = 128
	// stdActionTimeout is upstream's default action time limit, the floor
	// of the completion-ack timeout.
	stdActionTimeout = 60 * time.Second
	// maxInvokers bounds the invoker table: a ping naming a larger instance
	// is refused.
	maxInvokers = 4096
	// maxBookings bounds the activations one controller tracks in flight.
	maxBookings = 1 << 20
	// overloadLogEvery rate-limits the overload warning.
	overloadLogEvery = 10 * time.Second
)

// Balancer is upstream's sharding container-pool balancer. Each activation
// goes to its home invoker, chosen by a hash of the invoking namespace and the
// action's name, if that invoker is up and has free memory slots; otherwise
// it steps through the invokers by a step size coprime with their number. When
// no invoker has room, a random healthy one is overloaded.
type Balancer struct {
	cfg Config
	log *slog.Logger
	// afterFunc schedules forced completions (time.AfterFunc; tests replace it).
	afterFunc func(time.Duration, func()) stopper

	mu       sync.Mutex
	invokers []*invokerEntry // by instance number
	managed  invokerSet
	blackbox invokerSet
	bookings map[string]*booking
	// overloads counts random assignments since the last warning.
	overloads    int
	overloadLast time.Time

	health healthSupervisor // health.go

	// wmu guards waiting, the channels of blocking publishers by
	// activation id (publish.go).
	wmu     sync.Mutex
	waiting map[string]chan json.RawMessage

	// controller is this controller's instance id, put into every message.
	controller messaging.ControllerInstanceID
	// lost handles an activation whose completion will never come (forced
	// completion, or its invoker stopped pinging): recordLost (lost.go),
	// replaced in tests. It runs in a goroutine the balancer owns.
	lost func(ctx context.Context, msg *messaging.ActivationMessage)
	// owned tracks the goroutines the balancer starts (lost records, health
	// supervision); ctx ends them, Close stops and waits for them.
	owned  sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
	closed bool // under mu: no more goroutines are started
	// lostSlots bounds the records of lost activations written at once.
	lostSlots chan struct{}
}

// stopper is the part of *time.Timer the balancer uses.
type stopper interface{ Stop() bool }

// invokerSet is the managed or the blackbox share of the invokers.
type invokerSet struct {
	first, size int // invokers[first : first+size]
	steps       []int
}

// invokerEntry is one invoker: its id, health and free memory slots.
type invokerEntry struct {
	id      messaging.InvokerInstanceID
	state   InvokerState
	slotsMB int // capacity: userMemory / clusterSize
	freeMB  int // may go below 0 when overloaded
	fsm     healthFSM
	// shared counts, per action whose containers take several activations,
	// the containers' worth of memory booked and the activations booked.
	shared map[string]*sharedSlots
}

// sharedSlots is one action's bookings on one invoker when its containers
// are shared: containers*memory is booked for active activations.
type sharedSlots struct {
	containers, active int
}

// hasRoom reports whether e can take one more activation of a shared
// action without booking more memory.
func (e *invokerEntry) hasRoom(key string, concurrency int) bool {
	s := e.shared[key]
	return s != nil && s.active < s.containers*concurrency
}

// book books mem (or a place in a shared container) on e.
func (e *invokerEntry) book(bk *booking) {
	if bk.concurrency <= 1 {
		e.freeMB -= bk.memoryMB
		return
	}
	if e.shared == nil {
		e.shared = map[string]*sharedSlots{}
	}
	s := e.shared[bk.shareKey]
	if s == nil {
		s = &sharedSlots{}
		e.shared[bk.shareKey] = s
	}
	if s.active >= s.containers*bk.concurrency {
		s.containers++
		e.freeMB -= bk.memoryMB
	}
	s.active++
}

// unbook returns what book took.
func (e *invokerEntry) unbook(bk *booking) {
	if bk.concurrency <= 1 {
		e.freeMB += bk.memoryMB
		return
	}
	s := e.shared[bk.shareKey]
	if s == nil {
		return
	}
	s.active--
	if s.active <= (s.containers-1)*bk.concurrency {
		s.containers--
		e.freeMB += bk.memoryMB
	}
	if s.active <= 0 {
		delete(e.shared, bk.shareKey)
	}
}

// booking is one scheduled activation awaiting its completion.
type booking struct {
	invoker  int
	memoryMB int
	timer    stopper
	msg      *messaging.ActivationMessage
	// release is the publisher's callback, called once when the booking ends.
	release func()
	// concurrency > 1: the booking shares containers with the other
	// bookings of shareKey (invoking namespace, action, revision, memory).
	concurrency int
	shareKey    string
}

// New returns a balancer. With cfg.Static the invokers are fixed and up;
// otherwise it knows no invoker until they ping (see HandlePing and Start).
func New(cfg Config) *Balancer {
	if cfg.ClusterSize < 1 {
		cfg.ClusterSize = 1
	}
	if cfg.ManagedFraction == 0 && cfg.BlackboxFraction == 0 {
		cfg.ManagedFraction, cfg.BlackboxFraction = DefaultManagedFraction, DefaultBlackboxFraction
	}
	cfg.ManagedFraction = math.Max(0, math.Min(1, cfg.ManagedFraction))
	cfg.BlackboxFraction = math.Max(1-cfg.ManagedFraction, math.Min(1, cfg.BlackboxFraction))
	if cfg.TimeoutFactor <= 0 {
		cfg.TimeoutFactor = DefaultTimeoutFactor
	}
	if cfg.TimeoutAddon <= 0 {
		cfg.TimeoutAddon = DefaultTimeoutAddon
	}
	if cfg.ReadinessFraction <= 0 || cfg.ReadinessFraction > 1 {
		cfg.ReadinessFraction = 1
	}
	if cfg.ControllerID == "" {
		cfg.ControllerID = "0"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	b := &Balancer{cfg: cfg, log: cfg.Log.With("component", "balancer"), bookings: map[string]*booking{},
		afterFunc:  func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) },
		waiting:    map[string]chan json.RawMessage{},
		controller: messaging.NewControllerInstanceID(cfg.ControllerID),
		lostSlots:  make(chan struct{}, maxLostWriters)}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.lost = b.recordLost
	b.health.init(b)
	for _, id := range cfg.Static {
		e := b.entryLocked(id)
		e.state = InvokerUp
		e.fsm.static = true
	}
	return b
}

// StaticInvokers lists n invokers of DefaultInvokerUserMemory, for
// Config.Static (standalone runs invoker0 in its own process).
func StaticInvokers(n int) []messaging.InvokerInstanceID {
	ids := make([]messaging.InvokerInstanceID, n)
	for i := range ids {
		ids[i] = messaging.NewInvokerInstanceID(i, DefaultInvokerUserMemory)
	}
	return ids
}

// ControllerID is the instance id put into activation messages.
func (b *Balancer) ControllerID() messaging.ControllerInstanceID { return b.controller }

// CompletedTopic is the topic this controller's acknowledgements arrive on
// (consumed by HandleAck).
func (b *Balancer) CompletedTopic() string { return messaging.CompletedTopic(b.controller.AsString) }

// Start starts the balancer's background work until Close: the health
// supervision of invokers that register by pinging (none for static
// invokers).
func (b *Balancer) Start() {
	if len(b.cfg.Static) > 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.goLocked(b.superviseHealth)
	b.goLocked(b.sendTestActions)
}

// goLocked runs f in a goroutine the balancer owns, unless it is closed.
func (b *Balancer) goLocked(f func(ctx context.Context)) bool {
	if b.closed {
		return false
	}
	b.owned.Add(1)
	go func() {
		defer b.owned.Done()
		f(b.ctx)
	}()
	return true
}

// Close stops the balancer's background work and waits for it. Records of
// lost activations being written get until ctx ends to finish. Bookings
// still open are left: their activations end after the controller stops.
func (b *Balancer) Close(ctx context.Context) {
	b.mu.Lock()
	b.closed = true
	for _, bk := range b.bookings {
		bk.timer.Stop()
	}
	b.mu.Unlock()
	b.health.stop()
	done := make(chan struct{})
	go func() { b.owned.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		b.cancel()
		<-done
	}
	b.cancel()
}

// SetClusterSize sets how many controllers share the invokers (the live
// members of the controllers' Raft group): every invoker's share for this
// controller becomes userMemory/n, and what is booked stays booked.
func (b *Balancer) SetClusterSize(n int) {
	n = max(n, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if n == b.cfg.ClusterSize {
		return
	}
	b.cfg.ClusterSize = n
	for _, e := range b.invokers {
		slots := b.slotsFor(userMemoryMB(e.id))
		e.freeMB += slots - e.slotsMB
		e.slotsMB = slots
	}
	b.log.Info("invoker shares follow the controllers", "controllers", n)
}

// slotsFor is an invoker's share of memory for this controller.
func (b *Balancer) slotsFor(userMemoryMB int) int {
	return max(userMemoryMB/b.cfg.ClusterSize, minSlotMB)
}

// entryLocked returns the entry of id's instance, growing the table (with
// entries that are down) as upstream does when a new invoker pings.
func (b *Balancer) entryLocked(id messaging.InvokerInstanceID) *invokerEntry {
	n := id.Instance
	mb := userMemoryMB(id)
	for len(b.invokers) <= n {
		pad := messaging.NewInvokerInstanceID(len(b.invokers), mb)
		b.invokers = append(b.invokers, &invokerEntry{id: pad, state: InvokerDown, slotsMB: b.slotsFor(mb), freeMB: b.slotsFor(mb)})
		b.resizeLocked()
	}
	e := b.invokers[n]
	if userMemoryMB(e.id) != mb { // restarted with another memory size
		slots := b.slotsFor(mb)
		e.freeMB += slots - e.slotsMB
		e.slotsMB = slots
	}
	e.id = id
	return e
}

// userMemoryMB reads an instance id's user memory (DefaultInvokerUserMemory
// when it does not parse).
func userMemoryMB(id messaging.InvokerInstanceID) int {
	n, err := messaging.ParseByteSize(id.UserMemory)
	if err != nil || n <= 0 {
		return DefaultInvokerUserMemory
	}
	return int(n >> 20)
}

// resizeLocked recomputes the managed and blackbox sets after the number of
// invokers changed.
func (b *Balancer) resizeLocked() {
	n := len(b.invokers)
	managed := min(n, max(1, int(math.Ceil(float64(n)*b.cfg.ManagedFraction))))
	blackboxes := min(n, max(1, int(math.Floor(float64(n)*b.cfg.BlackboxFraction))))
	b.managed = invokerSet{first: 0, size: managed, steps: pairwiseCoprimeNumbersUntil(managed)}
	b.blackbox = invokerSet{first: n - blackboxes, size: blackboxes, steps: pairwiseCoprimeNumbersUntil(blackboxes)}
}

// schedule books the activation on an invoker and returns the invoker's
// number; release is called once when the booking ends. The error wraps
// ErrNoInvokers when no invoker can take it.
//
// Lifecycle of one booking: schedule books memory on an invoker; then
// exactly one of unschedule (the message could not be sent), completed (the
// invoker's completion or combined acknowledgement), forceCompletion (no
// acknowledgement in time) or abandonLocked (the invoker stopped pinging)
// ends it, through endLocked.
func (b *Balancer) schedule(msg *messaging.ActivationMessage, needs Needs, release func()) (int, error) {
	mem := max(needs.MemoryMB, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.bookings) >= maxBookings {
		return 0, &api.Error{Status: http.StatusServiceUnavailable, Err: ErrNoInvokers,
			Message: fmt.Sprintf("No invokers available: %d activations are in flight.", len(b.bookings))}
	}
	set := b.managed
	if needs.Blackbox {
		set = b.blackbox
	}
	bk := &booking{invoker: -1, memoryMB: mem, msg: msg, release: release, concurrency: max(needs.Concurrency, 1)}
	if bk.concurrency > 1 {
		bk.shareKey = fmt.Sprintf("%s %s %s %d %d", msg.User.Namespace.Name, msg.Action.String(), msg.Revision, mem, bk.concurrency)
	}
	chosen, overloaded := -1, false
	if set.size > 0 {
		hash := generateHash(msg.User.Namespace.Name, msg.Action.String())
		home := int(hash % uint32(set.size))
		step := set.steps[int(hash%uint32(len(set.steps)))]
		chosen, overloaded = b.scheduleLocked(set, home, step, bk)
	}
	if chosen < 0 {
		return 0, b.noInvokersLocked(set, needs.Blackbox)
	}
	timeout := max(needs.Timeout, stdActionTimeout)*time.Duration(b.cfg.TimeoutFactor) + b.cfg.TimeoutAddon
	id := msg.ActivationID
	if old, ok := b.bookings[id]; ok { // the same activation scheduled twice: keep one booking
		b.endLocked(id, old)
	}
	bk.timer = b.afterFunc(timeout, func() { b.forceCompletion(id, bk) })
	b.bookings[id] = bk
	if overloaded {
		b.overloads++
		if now := time.Now(); now.Sub(b.overloadLast) >= overloadLogEvery {
			// With static invokers (standalone) a full invoker just keeps the
			// message in Kafka a while: not worth a warning.
			level := slog.LevelWarn
			if len(b.cfg.Static) > 0 {
				level = slog.LevelDebug
			}
			b.log.Log(b.ctx, level, "system is overloaded: activations placed on a random healthy invoker",
				"count", b.overloads, "last", "invoker"+fmt.Sprint(chosen))
			b.overloads, b.overloadLast = 0, now
		}
	}
	return chosen, nil
}

// scheduleLocked probes set from home by step for an invoker that is up and
// has mem free; after a full round it force-books a random healthy invoker.
// It returns -1 when no invoker of the set is up.
func (b *Balancer) scheduleLocked(set invokerSet, home, step int, bk *booking) (int, bool) {
	idx := home
	for range set.size {
		e := b.invokers[set.first+idx]
		if e.state == InvokerUp && (e.freeMB >= bk.memoryMB || bk.concurrency > 1 && e.hasRoom(bk.shareKey, bk.concurrency)) {
			e.book(bk)
			bk.invoker = e.id.Instance
			return e.id.Instance, false
		}
		idx = (idx + step) % set.size
	}
	var healthy []*invokerEntry
	for _, e := range b.invokers[set.first : set.first+set.size] {
		if e.state == InvokerUp {
			healthy = append(healthy, e)
		}
	}
	if len(healthy) == 0 {
		return -1, false
	}
	e := healthy[rand.IntN(len(healthy))]
	e.book(bk)
	bk.invoker = e.id.Instance
	return e.id.Instance, true
}

// noInvokersLocked builds the 503 for a set with no invoker up.
func (b *Balancer) noInvokersLocked(set invokerSet, blackbox bool) error {
	kind := "invokers"
	if blackbox {
		kind = "blackbox invokers"
	}
	var msg string
	if set.size == 0 {
		msg = "No invokers available: no invoker has registered yet."
	} else {
		counts := map[InvokerState]int{}
		for _, e := range b.invokers[set.first : set.first+set.size] {
			counts[e.state]++
		}
		var parts []string
		for _, s := range []InvokerState{InvokerDown, InvokerUnhealthy, InvokerUnresponsive} {
			if counts[s] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
			}
		}
		msg = fmt.Sprintf("No invokers available: 0 of %d %s are up (%s).", set.size, kind, strings.Join(parts, ", "))
	}
	return &api.Error{Status: http.StatusServiceUnavailable, Message: msg, Err: ErrNoInvokers}
}

// unschedule ends a booking whose message was never sent.
func (b *Balancer) unschedule(activationID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bk, ok := b.bookings[activationID]; ok {
		b.endLocked(activationID, bk)
	}
}

// endLocked ends a booking: it returns the booking's memory to its invoker
// and tells the publisher (release). Every booking ends here, once.
func (b *Balancer) endLocked(activationID string, bk *booking) {
	delete(b.bookings, activationID)
	bk.timer.Stop()
	if bk.invoker >= 0 && bk.invoker < len(b.invokers) {
		b.invokers[bk.invoker].unbook(bk)
	}
	if bk.release != nil {
		bk.release()
	}
}

// invokerHealthTransID is upstream's transaction id of health test actions.
const invokerHealthTransID = "sid_invokerHealth"

// completed handles an acknowledgement that frees an invoker's slot: it
// ends the booking and tells the invoker's health supervision how the
// activation ended; acknowledgements of test actions (which have no
// booking) count for health only.
func (b *Balancer) completed(ack messaging.AcknowledgementMessage) {
	result := resultSuccess
	if ack.IsSystemError {
		result = resultSystemError
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, ok := b.bookings[ack.ActivationID]
	switch {
	case ok:
		b.endLocked(ack.ActivationID, bk)
		b.health.finishedLocked(bk.invoker, result, time.Now())
	case ack.TransID.ID == invokerHealthTransID:
		b.health.finishedLocked(ack.Instance.Instance, result, time.Now())
	default:
		// Late after a forced completion, or for another controller's books.
		b.log.Debug("completion without booking", "activation", ack.ActivationID, "invoker", ack.Instance.Instance)
	}
}

// forceCompletion ends a booking whose completion did not arrive in time,
// counts a timeout against its invoker and gives the activation up as lost.
func (b *Balancer) forceCompletion(activationID string, bk *booking) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur, ok := b.bookings[activationID]; !ok || cur != bk {
		return // completed meanwhile
	}
	b.endLocked(activationID, bk)
	b.log.Warn("forced completion: no acknowledgement in time", "activation", activationID, "invoker", bk.invoker)
	b.health.finishedLocked(bk.invoker, resultTimeout, time.Now())
	b.lostLocked(bk)
}

// lostLocked hands a booking given up to the lost path, in a goroutine the
// balancer owns.
func (b *Balancer) lostLocked(bk *booking) {
	if bk.msg == nil {
		return
	}
	msg := bk.msg
	if !b.goLocked(func(ctx context.Context) { b.lost(ctx, msg) }) {
		b.log.Warn("activation lost while the controller stops: not recorded", "activation", msg.ActivationID)
	}
}

// abandonLocked gives up every booking of invoker n, which stopped pinging
// (it crashed or is cut off): their completions will not come.
func (b *Balancer) abandonLocked(n int) {
	count := 0
	for id, bk := range b.bookings {
		if bk.invoker != n {
			continue
		}
		b.endLocked(id, bk)
		b.lostLocked(bk)
		count++
	}
	if count > 0 {
		b.log.Warn("activations lost with their invoker", "invoker", n, "count", count)
	}
}

// Invokers reports every known invoker in instance order.
func (b *Balancer) Invokers() []InvokerHealth {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]InvokerHealth, len(b.invokers))
	for i, e := range b.invokers {
		out[i] = InvokerHealth{ID: e.id, State: e.state}
	}
	return out
}

// ReadinessFraction is the share of healthy invokers /invokers/ready wants.
func (b *Balancer) ReadinessFraction() float64 { return b.cfg.ReadinessFraction }

// generateHash is upstream's home-invoker hash: the absolute value of the
// XOR of Java's String.hashCode of the invoking namespace's name and the
// action's fully qualified name without version ("ns/[pkg/]action"). Where
// upstream's abs overflows (the XOR is math.MinInt32, and its scheduler
// fails on the negative index), this one reads it as 2^31.
func generateHash(namespace, fqn string) uint32 {
	h := javaStringHash(namespace) ^ javaStringHash(fqn)
	if h < 0 {
		return uint32(-int64(h))
	}
	return uint32(h)
}

// javaStringHash is Java's String.hashCode: s[0]*31^(n-1) + ... + s[n-1]
// over the UTF-16 code units, in 32-bit arithmetic.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 { // a surrogate pair in UTF-16
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// pairwiseCoprimeNumbersUntil lists, in increasing order, the numbers in
// 1..x that are coprime with x and with every number listed before them
// (upstream's step sizes: 10 gives 1, 3, 7).
func pairwiseCoprimeNumbersUntil(x int) []int {
	var out []int
	for cur := 1; cur <= x; cur++ {
		if gcd(cur, x) != 1 {
			continue
		}
		ok := true
		for _, p := range out {
			if gcd(p, cur) != 1 {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, cur)
		}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// errNoPublisher is returned when a test action cannot be sent.
var errNoPublisher = errors.New("balancer has no publisher")

// sendTestAction publishes one health test action to invoker n, bounded by
// a timeout.
func (b *Balancer) sendTestAction(ctx context.Context, n int, msg []byte) error {
	if b.cfg.Publisher == nil {
		return errNoPublisher
	}
	ctx, cancel := context.WithTimeout(ctx, testActionSendTimeout)
	defer cancel()
	if err := b.cfg.Publisher.Send(ctx, messaging.InvokerTopic(n), msg); err != nil {
		return fmt.Errorf("send health test action to invoker%d: %w", n, err)
	}
	return nil
}
