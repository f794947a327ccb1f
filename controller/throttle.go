package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/internal/metrics"
)

// NamespaceLimits are a namespace's throttle overrides (upstream's
// `<ns>/limits` document); nil fields take the system defaults.
type NamespaceLimits struct {
	InvocationsPerMinute  *int `json:"invocationsPerMinute,omitempty"`
	ConcurrentInvocations *int `json:"concurrentInvocations,omitempty"`
	FiresPerMinute        *int `json:"firesPerMinute,omitempty"`

	// Action limit ranges (memory and logs in MB, timeouts in ms), narrowed
	// or widened within the system's range as upstream's allowed* limits.
	MinActionMemory, MaxActionMemory           *int
	MinActionLogs, MaxActionLogs               *int
	MinActionTimeout, MaxActionTimeout         *int
	MinActionConcurrency, MaxActionConcurrency *int

	// StoreActivations false: the namespace's activations are not recorded.
	StoreActivations *bool
}

// actionLimits applies a namespace's action limit ranges to the system
// limits sys: a namespace value replaces the system default of its bound,
// clamped to the system's hard range (upstream's allowedMax*/allowedMin*).
func (l *NamespaceLimits) actionLimits(sys api.Limits) api.Limits {
	out := sys
	if l == nil {
		return out
	}
	lower := func(dst *int, v *int, floor int) {
		if v != nil {
			*dst = max(*v, floor)
		}
	}
	upper := func(dst *int, v *int, ceiling int) {
		if v != nil {
			*dst = min(*v, ceiling)
		}
	}
	lower(&out.MinMemoryMB, l.MinActionMemory, sys.MinMemoryMB)
	upper(&out.MaxMemoryMB, l.MaxActionMemory, sys.MaxMemoryMB)
	lower(&out.MinLogsMB, l.MinActionLogs, sys.MinLogsMB)
	upper(&out.MaxLogsMB, l.MaxActionLogs, sys.MaxLogsMB)
	lower(&out.MinTimeoutMs, l.MinActionTimeout, sys.MinTimeoutMs)
	upper(&out.MaxTimeoutMs, l.MaxActionTimeout, sys.MaxTimeoutMs)
	lower(&out.MinConcurrency, l.MinActionConcurrency, sys.MinConcurrency)
	upper(&out.MaxConcurrency, l.MaxActionConcurrency, sys.MaxConcurrency)
	return out
}

// storesActivations reports whether namespace ns's activations are
// recorded (its limits may say storeActivations false). A failure to read
// the limits stores them.
func (s *Server) storesActivations(ctx context.Context, ns string) bool {
	if s.throttles.source == nil {
		return true
	}
	l, err := s.throttles.source(ctx, ns)
	return err != nil || l == nil || l.StoreActivations == nil || *l.StoreActivations
}

// userLimits is the limits document an activation message carries for the
// invoker: {"storeActivations":false} when ns's activations are not
// recorded, else none.
func (s *Server) userLimits(ctx context.Context, ns string) json.RawMessage {
	if s.storesActivations(ctx, ns) {
		return nil
	}
	return json.RawMessage(`{"storeActivations":false}`)
}

// LimitsSource reads a namespace's overrides; nil result means none.
type LimitsSource func(ctx context.Context, namespace string) (*NamespaceLimits, error)

// maxThrottledNamespaces bounds the throttle tables.
const maxThrottledNamespaces = 100000

// throttles enforces upstream's per-namespace limits: invocations and trigger
// fires per wall-clock minute (the request counts before the check; rejected
// when the count exceeds the limit) and activations in flight (rejected when
// the count has reached the limit). A limit of 0 blocks the namespace.
type throttles struct {
	defaults api.Limits
	source   LimitsSource
	// controllers is how many controllers share each limit (the Raft
	// group's live size): each enforces its share, as upstream's do.
	controllers atomic.Int32
	// metrics counts the rejections (nil: not counted).
	metrics *metrics.Metrics

	mu       sync.Mutex
	minute   int64
	invokes  map[string]int
	fires    map[string]int
	inflight map[string]int
	// owner maps an activation in flight to its namespace, with the time
	// after which its slot is released even without a completion.
	owner map[string]inflightEntry
}

type inflightEntry struct {
	namespace string
	expires   time.Time
}

func newThrottles(defaults api.Limits, source LimitsSource) *throttles {
	t := &throttles{defaults: defaults, source: source, invokes: map[string]int{}, fires: map[string]int{},
		inflight: map[string]int{}, owner: map[string]inflightEntry{}}
	t.controllers.Store(1)
	return t
}

// share is this controller's share of a namespace limit when n controllers
// enforce it, each counting what it admits (upstream's individual limit):
// the limit, raised by a fifth when there are several controllers (their
// load is not split exactly evenly), divided by n, at least 1; 0 stays 0
// (the namespace is blocked).
func share(limit, n int) int {
	if limit <= 0 || n <= 1 {
		return limit
	}
	return max(int(math.Ceil(float64(limit)*1.2))/n, 1)
}

// setControllers sets how many controllers share the limits.
func (t *throttles) setControllers(n int) { t.controllers.Store(int32(max(n, 1))) }

// limitsFor resolves the effective limits of a namespace.
// actionLimitsFor is the system limits with namespace ns's action limit
// ranges applied.
func (t *throttles) actionLimitsFor(ctx context.Context, ns string) (api.Limits, error) {
	if t.source == nil {
		return t.defaults, nil
	}
	l, err := t.source(ctx, ns)
	if err != nil {
		return api.Limits{}, err
	}
	return l.actionLimits(t.defaults), nil
}

func (t *throttles) limitsFor(ctx context.Context, ns string) (perMinute, concurrent, fires int, err error) {
	perMinute, concurrent, fires = t.defaults.InvocationsPerMinute, t.defaults.ConcurrentInvocations, t.defaults.FiresPerMinute
	if t.source == nil {
		return perMinute, concurrent, fires, nil
	}
	l, err := t.source(ctx, ns)
	if err != nil || l == nil {
		return perMinute, concurrent, fires, err
	}
	if l.InvocationsPerMinute != nil {
		perMinute = *l.InvocationsPerMinute
	}
	if l.ConcurrentInvocations != nil {
		concurrent = *l.ConcurrentInvocations
	}
	if l.FiresPerMinute != nil {
		fires = *l.FiresPerMinute
	}
	return perMinute, concurrent, fires, nil
}

// rollLocked starts new per-minute counts when the wall-clock minute changed.
func (t *throttles) rollLocked(now time.Time) {
	m := now.UnixMilli() / 60000
	if m != t.minute || len(t.owner) > maxThrottledNamespaces {
		t.minute = m
		clear(t.invokes)
		clear(t.fires)
		for id, e := range t.owner {
			if now.After(e.expires) {
				t.releaseLocked(id)
			}
		}
	}
}

func tooMany(format string, args ...any) error {
	return &api.Error{Status: http.StatusTooManyRequests, Message: fmt.Sprintf(format, args...)}
}

// admitInvoke counts an invocation, checks the rate and concurrency limits
// and, when admitted, holds a slot in flight for the activation until the
// returned release is called (or until the slot expires: upstream releases a
// slot whose completion never comes after max(timeout, 60 s) * 2 + 1 min).
// release may be called more than once; only the first call counts.
func (t *throttles) admitInvoke(ctx context.Context, ns, activationID string, actionTimeout time.Duration) (release func(), err error) {
	if err := t.admit(ctx, ns, activationID, actionTimeout); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { t.release(activationID) }) }, nil
}

func (t *throttles) admit(ctx context.Context, ns, activationID string, actionTimeout time.Duration) error {
	perMinute, concurrent, _, err := t.limitsFor(ctx, ns)
	if err != nil {
		return fmt.Errorf("limits of %s: %w", ns, err)
	}
	n := int(t.controllers.Load())
	perMinute, concurrent = share(perMinute, n), share(concurrent, n)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rollLocked(time.Now())
	t.invokes[ns]++
	if n := t.invokes[ns]; n > perMinute {
		t.metrics.Throttled(metrics.LimitInvocationsPerMinute, ns)
		return tooMany("Too many requests in the last minute (count: %d, allowed: %d).", n, perMinute)
	}
	if n := t.inflight[ns]; n >= concurrent {
		t.metrics.Throttled(metrics.LimitConcurrentInvocations, ns)
		return tooMany("Too many concurrent requests in flight (count: %d, allowed: %d).", n, concurrent)
	}
	t.inflight[ns]++
	t.owner[activationID] = inflightEntry{namespace: ns, expires: time.Now().Add(max(actionTimeout, time.Minute)*2 + time.Minute)}
	return nil
}

// admitFire counts a trigger fire and checks firesPerMinute.
func (t *throttles) admitFire(ctx context.Context, ns string) error {
	_, _, fires, err := t.limitsFor(ctx, ns)
	if err != nil {
		return fmt.Errorf("limits of %s: %w", ns, err)
	}
	fires = share(fires, int(t.controllers.Load()))
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rollLocked(time.Now())
	t.fires[ns]++
	if n := t.fires[ns]; n > fires {
		t.metrics.Throttled(metrics.LimitFiresPerMinute, ns)
		return tooMany("Too many requests in the last minute (count: %d, allowed: %d).", n, fires)
	}
	return nil
}

// release frees an activation's slot in flight.
func (t *throttles) release(activationID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.releaseLocked(activationID)
}

func (t *throttles) releaseLocked(activationID string) {
	e, ok := t.owner[activationID]
	if !ok {
		return
	}
	delete(t.owner, activationID)
	if t.inflight[e.namespace]--; t.inflight[e.namespace] <= 0 {
		delete(t.inflight, e.namespace)
	}
}
