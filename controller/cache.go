package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
)

// The controller caches three things read on every request: identities by
// key (auth.go), namespace limits (auth.go) and entity documents by id (here,
// for the invoke path). Each entry lives at most its TTL. A write made through
// this controller evicts the entry at once and is announced on the
// cacheInvalidation topic with upstream's CacheInvalidationMessage, so every
// other controller evicts it too (a controller ignores its own messages).
// Admin changes (users, keys, limits) are announced the same way: by the
// running standalone when `brisk admin` talks to it, or by `brisk admin
// --kafka` (see cmd/brisk/admin.go); otherwise the TTLs bound how long a
// change takes to be seen.
//
// Cache keys are upstream's: an entity is {"mainId": "ns/[pkg/]name"}, an
// identity {"mainId": uuid, "secondaryId": key}, a namespace's limits
// {"mainId": "ns/limits"}.

const (
	// entityCacheTTL bounds how long an entity read stays cached.
	entityCacheTTL = 5 * time.Minute
	// maxCachedEntities bounds the entity cache.
	maxCachedEntities = 10000
	// invalidationQueue bounds the invalidations waiting to be published;
	// past it they are dropped (and the TTLs bound the staleness).
	invalidationQueue = 1024
	// invalidationSendTimeout bounds publishing one invalidation.
	invalidationSendTimeout = 5 * time.Second
)

// ttlCache is a bounded map whose entries expire. A load that raced with an
// eviction of its key does not store what it read, so an eviction is never
// undone by a read that started before it.
type ttlCache[V any] struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[string]ttlEntry[V]
	// seq counts evictions; evicted holds the seq of each key's latest
	// eviction while loads are in flight, and floor replaces it when it grows
	// past max (every load that started before floor is then not stored).
	seq     uint64
	floor   uint64
	evicted map[string]uint64
	loading int

	hits, misses atomic.Uint64
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any](ttl time.Duration, max int) *ttlCache[V] {
	return &ttlCache[V]{ttl: ttl, max: max, m: map[string]ttlEntry[V]{}, evicted: map[string]uint64{}}
}

// load returns the cached value of key, or calls fetch and caches its value.
// Errors are not cached.
func (c *ttlCache[V]) load(ctx context.Context, key string, fetch func(context.Context) (V, error)) (V, error) {
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.m[key]; ok && now.Before(e.expires) {
		c.mu.Unlock()
		c.hits.Add(1)
		return e.v, nil
	}
	start := c.seq
	c.loading++
	c.mu.Unlock()
	c.misses.Add(1)

	v, err := fetch(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.loading--
	raced := start < c.floor || c.evicted[key] > start
	if c.loading == 0 {
		clear(c.evicted)
		c.floor = c.seq
	}
	if err != nil || raced {
		return v, err
	}
	if len(c.m) >= c.max {
		c.shrinkLocked(now)
	}
	c.m[key] = ttlEntry[V]{v: v, expires: now.Add(c.ttl)}
	return v, nil
}

// shrinkLocked drops expired entries, then arbitrary ones down to 90% of max.
func (c *ttlCache[V]) shrinkLocked(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) < c.max*9/10 {
			break
		}
		delete(c.m, k)
	}
}

// evict removes key, and keeps loads in flight from storing it.
func (c *ttlCache[V]) evict(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	c.seq++
	if c.loading == 0 {
		return
	}
	if len(c.evicted) >= c.max {
		clear(c.evicted)
		c.floor = c.seq
		return
	}
	c.evicted[key] = c.seq
}

// cachedEntity is an entity document; action is set for actions.
type cachedEntity struct {
	raw    json.RawMessage
	action *api.ActionDoc
}

// actionCache keeps entity documents (actions, and the raw documents of the
// other collections) for the invoke path, and holds the link to the other
// controllers that every invalidation goes through.
type actionCache struct {
	entities *ttlCache[cachedEntity]
	peers    *peers
}

func newActionCache() *actionCache {
	return &actionCache{entities: newTTLCache[cachedEntity](entityCacheTTL, maxCachedEntities), peers: newPeers()}
}

func (c *actionCache) load(ctx context.Context, st *store.Store, id string) (cachedEntity, error) {
	return c.entities.load(ctx, id, func(ctx context.Context) (cachedEntity, error) {
		raw, err := st.GetEntity(ctx, id)
		if err != nil {
			return cachedEntity{}, err
		}
		e := cachedEntity{raw: raw}
		if store.EntityKind(raw) == "action" {
			var doc api.ActionDoc
			if err := json.Unmarshal(raw, &doc); err != nil {
				return cachedEntity{}, fmt.Errorf("entity %s: %w: %v", id, store.ErrCorrupted, err)
			}
			e.action = &doc
		}
		return e, nil
	})
}

// get returns the action document id (shared: callers must not modify it).
func (c *actionCache) get(ctx context.Context, st *store.Store, id string) (*api.ActionDoc, error) {
	e, err := c.load(ctx, st, id)
	if err != nil {
		return nil, err
	}
	if e.action == nil {
		return nil, fmt.Errorf("entity %s: %w", id, store.ErrWrongCollection)
	}
	return e.action, nil
}

// getEntity returns any entity document id as raw JSON (shared: callers must
// not modify it), e.g. a package on the invoke path.
func (c *actionCache) getEntity(ctx context.Context, st *store.Store, id string) (json.RawMessage, error) {
	e, err := c.load(ctx, st, id)
	if err != nil {
		return nil, err
	}
	return e.raw, nil
}

// invalidate evicts an entity after this controller wrote or deleted it, and
// tells the other controllers.
func (c *actionCache) invalidate(id string) {
	c.entities.evict(id)
	c.peers.notify(messaging.CacheKey{MainID: id})
}

// peers publishes this controller's invalidations on the cacheInvalidation
// topic, from a bounded queue, while RunCacheInvalidation runs.
type peers struct {
	queue   chan messaging.CacheKey
	mu      sync.Mutex
	self    string // this controller's instance id; "" while not running
	dropped atomic.Uint64
}

func newPeers() *peers { return &peers{queue: make(chan messaging.CacheKey, invalidationQueue)} }

func (p *peers) instance() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.self
}

// notify queues keys for the other controllers; without a running link, or
// when the queue is full, the keys are dropped.
func (p *peers) notify(keys ...messaging.CacheKey) {
	if p.instance() == "" {
		return
	}
	for _, k := range keys {
		select {
		case p.queue <- k:
		default:
			p.dropped.Add(1)
		}
	}
}

// send publishes queued keys until ctx ends.
func (p *peers) send(ctx context.Context, producer *messaging.Producer, self string, log *slog.Logger) {
	for {
		var k messaging.CacheKey
		select {
		case <-ctx.Done():
			return
		case k = <-p.queue:
		}
		raw, err := json.Marshal(messaging.CacheInvalidationMessage{Key: k, InstanceID: self})
		if err == nil {
			sctx, cancel := context.WithTimeout(ctx, invalidationSendTimeout)
			err = producer.Send(sctx, messaging.CacheInvalidationTopic, raw)
			cancel()
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("publish cache invalidation; other controllers will see the change when their entry expires",
				"key", k.MainID, "err", err)
		}
		if n := p.dropped.Swap(0); n > 0 {
			log.Warn("cache invalidation queue full; invalidations dropped", "dropped", n)
		}
	}
}

// ErrCacheInvalidationRunning is returned by a second RunCacheInvalidation.
var ErrCacheInvalidationRunning = errors.New("cache invalidation already running")

// RunCacheInvalidation links this controller's caches with the other
// controllers' through the cacheInvalidation topic until ctx ends: it
// publishes every eviction this controller makes as instance instanceID (upstream
// names controllers "controller<N>"), and consumes the others' in consumer
// group "cacheInvalidation<instanceID>", so that every controller sees every
// message. It returns nil when ctx ends, or the consumer's error.
func (s *Server) RunCacheInvalidation(ctx context.Context, brokers []string, producer *messaging.Producer, instanceID string) error {
	if instanceID == "" {
		return errors.New("cache invalidation: empty instance id")
	}
	p := s.actions.peers
	p.mu.Lock()
	if p.self != "" {
		p.mu.Unlock()
		return ErrCacheInvalidationRunning
	}
	p.self = instanceID
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.self = ""
		p.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		p.send(ctx, producer, instanceID, s.log)
	}()
	cons := messaging.NewConsumer(brokers, messaging.CacheInvalidationTopic+instanceID, messaging.CacheInvalidationTopic,
		messaging.ConsumerOptions{Logger: s.log, CommitInterval: time.Second, MaxWait: 250 * time.Millisecond})
	err := cons.Run(ctx, s.HandleCacheInvalidation)
	cancel()
	<-sent
	if cerr := cons.Close(); err == nil && ctx.Err() == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cache invalidation: %w", err)
	}
	return nil
}

// HandleCacheInvalidation handles one message of the cacheInvalidation topic:
// it evicts the key from this controller's caches, unless this controller
// sent it.
func (s *Server) HandleCacheInvalidation(_ context.Context, value []byte) error {
	var m messaging.CacheInvalidationMessage
	if err := json.Unmarshal(value, &m); err != nil {
		return fmt.Errorf("cache invalidation message: %w", err)
	}
	if m.Key.MainID == "" {
		return errors.New("cache invalidation message: empty key")
	}
	if self := s.actions.peers.instance(); self != "" && m.InstanceID == self {
		return nil
	}
	s.evict(m.Key)
	return nil
}

// Invalidate evicts keys from this controller's caches and tells the other
// controllers. It is how changes made outside the API (users, keys and
// limits by `brisk admin`) reach the caches at once.
func (s *Server) Invalidate(keys ...messaging.CacheKey) {
	for _, k := range keys {
		s.evict(k)
	}
	s.actions.peers.notify(keys...)
}

// evict removes a key from whichever cache holds it.
func (s *Server) evict(k messaging.CacheKey) {
	if k.SecondaryID != "" {
		s.auth.evictIdentity(k.MainID, k.SecondaryID)
		return
	}
	if ns, ok := strings.CutSuffix(k.MainID, messaging.LimitsSuffix); ok {
		s.auth.evictLimits(ns)
	}
	s.actions.entities.evict(k.MainID)
}

// LimitsFromStore is a LimitsSource reading the namespace limits documents
// (`<ns>/limits`, written by `brisk admin limits set`) from st. The server
// caches what it returns, coherently with admin changes.
func LimitsFromStore(st *store.Store) LimitsSource {
	return func(ctx context.Context, ns string) (*NamespaceLimits, error) {
		l, err := st.GetLimits(ctx, ns)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &NamespaceLimits{InvocationsPerMinute: l.InvocationsPerMinute,
			ConcurrentInvocations: l.ConcurrentInvocations, FiresPerMinute: l.FiresPerMinute,
			MinActionMemory: l.MinActionMemory, MaxActionMemory: l.MaxActionMemory,
			MinActionLogs: l.MinActionLogs, MaxActionLogs: l.MaxActionLogs,
			MinActionTimeout: l.MinActionTimeout, MaxActionTimeout: l.MaxActionTimeout,
			MinActionConcurrency: l.MinActionConcurrency, MaxActionConcurrency: l.MaxActionConcurrency,
			StoreActivations: l.StoreActivations}, nil
	}
}
