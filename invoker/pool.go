package invoker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// warmKey identifies which activations may share a warm container: the same
// invoking namespace and the same action revision (never across namespaces).
type warmKey struct {
	Namespace string
	Action    string // doc id "ns/[pkg/]name"
	Revision  string
	Kind      string
	MemoryMB  int
	// Concurrency is how many activations may run in one container at the
	// same time (0 or 1: one at a time).
	Concurrency int
}

// maxActive is the number of activations a container of k may run at once.
func (k warmKey) maxActive() int { return max(k.Concurrency, 1) }

// stemKey identifies a prewarmed, uninitialized container.
type stemKey struct {
	Kind     string
	MemoryMB int
}

// pooled is a container the pool tracks.
type pooled struct {
	c        Container
	key      warmKey
	memoryMB int
	lastUse  time.Time
	// logs hands the container's output to the activations running in it.
	logs *logRouter

	// ready is closed once the container exists (c and logs are set) or its
	// creation failed (createErr); activations that joined a container still
	// being created wait for it.
	ready     chan struct{}
	createErr error

	// Under Pool.mu: active counts the activations using the container;
	// inShared says it is listed as having room for one more; doomed says
	// it must not take new activations and goes when the last one leaves.
	active   int
	inShared bool
	doomed   bool

	// initLock (capacity 1) is held by the activation that initializes the
	// container; initialized and initFailure are read and written under it.
	initLock    chan struct{}
	initialized bool
	initFailure *timedOutcome
	// expires is when an unused reactive stem cell is removed (zero: never).
	expires time.Time

	// Pausing (containers implementing Pauser): gen changes whenever the
	// container leaves the idle list (under Pool.mu), so a pause scheduled
	// for an earlier idle period does nothing; pmu orders Pause and Resume.
	gen        uint64
	pauseTimer *time.Timer
	pmu        sync.Mutex
	paused     bool
	// pausedNow mirrors paused for the metrics, which read it under Pool.mu
	// (pause takes pmu before Pool.mu, so they cannot take pmu).
	pausedNow atomic.Bool
}

// PoolConfig bounds the container pool.
type PoolConfig struct {
	// UserMemoryMB is the memory all containers together may claim.
	UserMemoryMB int
	// IdleTimeout removes warm containers idle that long.
	IdleTimeout time.Duration
	// StemCells are prewarmed containers kept ready per kind and memory.
	StemCells map[stemKey]int
	// Images maps a kind to its image (containerd).
	Images map[string]string
	// Env is given to every container.
	Env map[string]string
	// PauseGrace is how long a warm container that implements Pauser stays
	// running after an activation before it is frozen (default
	// DefaultPauseGrace; negative: never). The next activation resumes it.
	PauseGrace time.Duration
	// Reactive makes the stem cells of a key follow demand (upstream's
	// reactive prewarming): every PrewarmCheckInterval, stem cells unused
	// for their TTL are removed and the key's count becomes
	// clamp(coldStarts/Threshold*Increment, MinCount, MaxCount), or MinCount
	// when the interval had no cold start of that kind and memory.
	Reactive map[stemKey]ReactiveConfig
	// PrewarmCheckInterval is that interval (default 1 minute).
	PrewarmCheckInterval time.Duration
}

// ReactiveConfig is one stem cell's reactive prewarming.
type ReactiveConfig struct {
	MinCount, MaxCount   int
	TTL                  time.Duration
	Threshold, Increment int
}

// DefaultPauseGrace is upstream's pause grace.
const DefaultPauseGrace = 10 * time.Second

// Pool hands out containers: warm ones for the same namespace and action
// revision first, then a prewarmed stem cell of the kind and memory, then a new
// one, evicting idle containers when the memory budget is exhausted.
type Pool struct {
	cfg     PoolConfig
	factory ContainerFactory
	log     *slog.Logger
	seq     atomic.Int64

	mu       sync.Mutex
	freed    chan struct{} // closed and replaced whenever memory is freed
	usedMB   int
	busy     int // containers running activations
	idle     map[warmKey][]*pooled
	shared   map[warmKey][]*pooled // busy, with room for more activations
	stems    map[stemKey][]*pooled
	starting map[stemKey]int
	desired  map[stemKey]int // stem cells wanted now, per key
	cold     map[stemKey]int // cold starts since the last prewarm check
	closed   bool

	// life bounds the pool's background work (the reaper, reactive
	// prewarming, stem cell refills, pauses); Close cancels it and waits
	// for that work, counted in bg (Add under mu while not closed).
	life     context.Context
	stopLife context.CancelFunc
	bg       sync.WaitGroup
}

// NewPool creates a pool over a factory.
func NewPool(factory ContainerFactory, cfg PoolConfig, log *slog.Logger) *Pool {
	return newPool(context.Background(), factory, cfg, log)
}

// newPool creates a pool whose background work ends with parent (or Close).
func newPool(parent context.Context, factory ContainerFactory, cfg PoolConfig, log *slog.Logger) *Pool {
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.PauseGrace == 0 {
		cfg.PauseGrace = DefaultPauseGrace
	}
	if cfg.PrewarmCheckInterval <= 0 {
		cfg.PrewarmCheckInterval = time.Minute
	}
	desired := map[stemKey]int{}
	for k, n := range cfg.StemCells {
		desired[k] = n
	}
	life, stopLife := context.WithCancel(parent)
	return &Pool{cfg: cfg, factory: factory, log: log, freed: make(chan struct{}),
		idle: map[warmKey][]*pooled{}, shared: map[warmKey][]*pooled{}, stems: map[stemKey][]*pooled{}, starting: map[stemKey]int{},
		desired: desired, cold: map[stemKey]int{}, life: life, stopLife: stopLife}
}

// goLocked runs f in the background, as work Close waits for; p.mu is
// held. Once the pool is closed it does nothing.
func (p *Pool) goLocked(f func()) {
	if p.closed {
		return
	}
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		f()
	}()
}

// Start prewarms the stem cells and runs the idle reaper until ctx ends or
// the pool is closed.
func (p *Pool) Start(ctx context.Context) {
	p.refillStems(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.goLocked(func() {
		t := time.NewTicker(max(p.cfg.IdleTimeout/10, time.Second))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.life.Done():
				return
			case <-t.C:
				p.reap(ctx)
			}
		}
	})
	if len(p.cfg.Reactive) > 0 {
		p.goLocked(func() {
			t := time.NewTicker(p.cfg.PrewarmCheckInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-p.life.Done():
					return
				case <-t.C:
					p.adjustStems(ctx)
				}
			}
		})
	}
}

// adjustStems is the periodic reactive prewarming step.
func (p *Pool) adjustStems(ctx context.Context) {
	now := time.Now()
	var expired []*pooled
	p.mu.Lock()
	for sk, rc := range p.cfg.Reactive {
		keep := p.stems[sk][:0]
		for _, c := range p.stems[sk] {
			if !c.expires.IsZero() && c.expires.Before(now) {
				expired = append(expired, c)
			} else {
				keep = append(keep, c)
			}
		}
		p.stems[sk] = keep
		want := rc.MinCount
		if n := p.cold[sk]; n > 0 && rc.Threshold > 0 {
			want = min(max(rc.MinCount, n/rc.Threshold*rc.Increment), rc.MaxCount)
		}
		p.desired[sk] = want
	}
	p.cold = map[stemKey]int{}
	p.mu.Unlock()
	for _, c := range expired {
		p.discard(c)
	}
	p.refillStems(ctx)
}

// Acquire returns a container for key: one already running activations of
// key with room for another (when key allows more than one at a time), else
// an idle warm one, a prewarmed stem cell, or a new one. Every container
// Acquire returns goes back with exactly one Return or Destroy.
func (p *Pool) Acquire(ctx context.Context, key warmKey) (*pooled, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, fmt.Errorf("pool closed: %w", ErrContainerStart)
		}
		if list := p.shared[key]; len(list) > 0 {
			c := list[0]
			c.active++
			if c.active >= key.maxActive() {
				p.unshareLocked(c)
			}
			p.mu.Unlock()
			if err := p.joined(ctx, c); err != nil {
				return nil, err
			}
			return c, nil
		}
		if list := p.idle[key]; len(list) > 0 {
			c := list[len(list)-1]
			p.idle[key] = list[:len(list)-1]
			if len(p.idle[key]) == 0 {
				delete(p.idle, key)
			}
			p.leaveIdleLocked(c)
			p.takeLocked(c)
			p.mu.Unlock()
			if err := p.resume(ctx, c); err != nil {
				p.log.Warn("resume container", "container", c.c.ID(), "err", err)
				p.Destroy(c)
				continue
			}
			return c, nil
		}
		sk := stemKey{Kind: key.Kind, MemoryMB: key.MemoryMB}
		if list := p.stems[sk]; len(list) > 0 {
			c := list[len(list)-1]
			p.stems[sk] = list[:len(list)-1]
			c.key = key
			c.expires = time.Time{}
			if rc, ok := p.cfg.Reactive[sk]; ok {
				// Backfill to the minimum; the periodic check raises it.
				p.desired[sk] = rc.MinCount
			}
			p.takeLocked(c)
			p.goLocked(func() { p.refillStems(p.life) })
			p.mu.Unlock()
			return c, nil
		}
		if p.reserveLocked(key.MemoryMB) {
			if _, ok := p.cfg.StemCells[sk]; ok {
				p.cold[sk]++
			}
			// Listed before it exists, so that activations arriving meanwhile
			// join it instead of starting containers of their own.
			c := &pooled{key: key, memoryMB: key.MemoryMB, ready: make(chan struct{}), initLock: make(chan struct{}, 1)}
			p.takeLocked(c)
			p.mu.Unlock()
			err := p.start(ctx, c)
			if err == nil {
				return c, nil
			}
			p.Destroy(c)
			return nil, err
		}
		wait := p.freed
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %d MB of container memory: %w", key.MemoryMB, ctx.Err())
		case <-wait:
		}
	}
}

// takeLocked gives a container that was not in use to its first activation.
func (p *Pool) takeLocked(c *pooled) {
	p.busy++
	c.active = 1
	c.doomed = false
	if c.key.maxActive() > 1 {
		p.shareLocked(c)
	}
}

// joined waits until a container an activation joined is usable.
func (p *Pool) joined(ctx context.Context, c *pooled) error {
	select {
	case <-c.ready:
	case <-ctx.Done():
		p.Return(c) // only this activation's share: the container stays for the others
		return fmt.Errorf("waiting for a container being started: %w", ctx.Err())
	}
	if c.createErr != nil {
		p.Destroy(c)
		return c.createErr
	}
	if err := p.resume(ctx, c); err != nil {
		p.Destroy(c)
		return fmt.Errorf("resume container %s: %w", c.c.ID(), err)
	}
	return nil
}

func (p *Pool) shareLocked(c *pooled) {
	if !c.inShared {
		c.inShared = true
		p.shared[c.key] = append(p.shared[c.key], c)
	}
}

func (p *Pool) unshareLocked(c *pooled) {
	if !c.inShared {
		return
	}
	c.inShared = false
	list := p.shared[c.key]
	if i := slices.Index(list, c); i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(p.shared, c.key)
	} else {
		p.shared[c.key] = list
	}
}

// reserveLocked claims memory, evicting idle containers (least recently used
// first) when needed.
func (p *Pool) reserveLocked(mb int) bool {
	for p.usedMB+mb > p.cfg.UserMemoryMB {
		victim := p.oldestIdleLocked()
		if victim == nil {
			return false
		}
		p.usedMB -= victim.memoryMB
		p.goLocked(func() { p.destroy(victim) })
	}
	p.usedMB += mb
	return true
}

func (p *Pool) oldestIdleLocked() *pooled {
	var (
		victim *pooled
		vk     warmKey
		vi     int
	)
	for k, list := range p.idle {
		for i, c := range list {
			if victim == nil || c.lastUse.Before(victim.lastUse) {
				victim, vk, vi = c, k, i
			}
		}
	}
	if victim == nil {
		return nil
	}
	p.leaveIdleLocked(victim)
	list := p.idle[vk]
	p.idle[vk] = append(list[:vi:vi], list[vi+1:]...)
	if len(p.idle[vk]) == 0 {
		delete(p.idle, vk)
	}
	return victim
}

func (p *Pool) release(mb int) {
	p.mu.Lock()
	p.usedMB -= mb
	close(p.freed)
	p.freed = make(chan struct{})
	p.mu.Unlock()
}

// create starts a container that is not yet anybody's (a stem cell).
func (p *Pool) create(ctx context.Context, kind string, mb int) (*pooled, error) {
	c := &pooled{key: warmKey{Kind: kind, MemoryMB: mb}, memoryMB: mb, ready: make(chan struct{}), initLock: make(chan struct{}, 1)}
	if err := p.start(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// start creates the container behind c and closes c.ready.
func (p *Pool) start(ctx context.Context, c *pooled) error {
	n := p.seq.Add(1)
	kind := c.key.Kind
	ct, err := p.factory.Create(ctx, ContainerSpec{
		Name: fmt.Sprintf("brisk_%d", n), Kind: kind, Image: p.cfg.Images[kind], MemoryMB: c.memoryMB, Env: p.cfg.Env,
	})
	if err != nil {
		err = fmt.Errorf("create %s container: %w", kind, err)
		c.createErr = err
	} else {
		c.c, c.logs, c.lastUse = ct, newLogRouter(ct.Logs()), time.Now()
	}
	close(c.ready)
	return err
}

// Return gives back an activation's share of a healthy container; the
// container becomes idle (and may be paused) when its last activation
// returns it.
func (p *Pool) Return(c *pooled) { p.leave(c, true) }

// Destroy gives back an activation's share of a container that must not be
// reused: it takes no new activations and is removed when the last one
// running in it is done.
func (p *Pool) Destroy(c *pooled) { p.leave(c, false) }

func (p *Pool) leave(c *pooled, healthy bool) {
	p.mu.Lock()
	c.active--
	if !healthy || p.closed {
		c.doomed = true
	}
	if c.doomed {
		p.unshareLocked(c)
		last := c.active <= 0
		if last {
			p.busy--
		}
		p.mu.Unlock()
		if last {
			p.discard(c)
		}
		return
	}
	c.lastUse = time.Now()
	if c.active > 0 {
		p.shareLocked(c) // room for one more
	} else {
		p.busy--
		p.unshareLocked(c)
		p.idle[c.key] = append(p.idle[c.key], c)
		if _, ok := c.c.(Pauser); ok && p.cfg.PauseGrace > 0 {
			gen := c.gen
			// Close waits for the pause: Done when it ran or was
			// called off (leaveIdleLocked).
			p.bg.Add(1)
			c.pauseTimer = time.AfterFunc(p.cfg.PauseGrace, func() {
				defer p.bg.Done()
				p.pause(c, gen)
			})
		}
	}
	close(p.freed) // a waiter for this key may now take it
	p.freed = make(chan struct{})
	p.mu.Unlock()
}

// leaveIdleLocked marks c as no longer idle: a pending pause is called off.
func (p *Pool) leaveIdleLocked(c *pooled) {
	c.gen++
	if c.pauseTimer != nil {
		if c.pauseTimer.Stop() {
			p.bg.Done() // it will not run
		}
		c.pauseTimer = nil
	}
}

// pause freezes c if it is still in the idle period gen.
func (p *Pool) pause(c *pooled, gen uint64) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	p.mu.Lock()
	still := c.gen == gen && !p.closed && p.life.Err() == nil
	p.mu.Unlock()
	if !still || c.paused {
		return
	}
	ctx, cancel := context.WithTimeout(p.life, 10*time.Second)
	defer cancel()
	if err := c.c.(Pauser).Pause(ctx); err != nil {
		p.log.Warn("pause container", "container", c.c.ID(), "err", err)
		return
	}
	c.paused = true
	c.pausedNow.Store(true)
}

// resume thaws c if it was paused.
func (p *Pool) resume(ctx context.Context, c *pooled) error {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if !c.paused {
		return nil
	}
	if err := c.c.(Pauser).Resume(ctx); err != nil {
		return err
	}
	c.paused = false
	c.pausedNow.Store(false)
	return nil
}

// discard removes a container nobody uses and frees its memory.
func (p *Pool) discard(c *pooled) {
	p.destroy(c)
	p.release(c.memoryMB)
}

func (p *Pool) destroy(c *pooled) {
	if c.c == nil {
		return // it was never created
	}
	// Not bounded by the pool's life: Close destroys containers after it
	// has ended.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.c.Destroy(ctx); err != nil {
		p.log.Warn("destroy container", "container", c.c.ID(), "err", err,
			"hint", "it may be left running; the next start of the invoker removes leftovers")
	}
}

func (p *Pool) refillStems(ctx context.Context) {
	for sk := range p.cfg.StemCells {
		for {
			p.mu.Lock()
			if p.closed || ctx.Err() != nil || len(p.stems[sk])+p.starting[sk] >= p.desired[sk] || !p.reserveLocked(sk.MemoryMB) {
				p.mu.Unlock()
				break
			}
			p.starting[sk]++
			p.mu.Unlock()
			c, err := p.create(ctx, sk.Kind, sk.MemoryMB)
			p.mu.Lock()
			p.starting[sk]--
			closed := p.closed
			if err == nil && !closed {
				if rc, ok := p.cfg.Reactive[sk]; ok && rc.TTL > 0 {
					c.expires = time.Now().Add(rc.TTL)
				}
				p.stems[sk] = append(p.stems[sk], c)
			}
			p.mu.Unlock()
			if err == nil && closed {
				p.discard(c)
				return
			}
			if err != nil {
				p.release(sk.MemoryMB)
				p.log.Warn("prewarm", "kind", sk.Kind, "err", err,
					"hint", "activations of this kind start cold; check that its runtime can start on this host")
				break
			}
		}
	}
}

func (p *Pool) reap(ctx context.Context) {
	cutoff := time.Now().Add(-p.cfg.IdleTimeout)
	var victims []*pooled
	p.mu.Lock()
	for k, list := range p.idle {
		keep := list[:0]
		for _, c := range list {
			if c.lastUse.Before(cutoff) {
				p.leaveIdleLocked(c)
				victims = append(victims, c)
			} else {
				keep = append(keep, c)
			}
		}
		if len(keep) == 0 {
			delete(p.idle, k)
		} else {
			p.idle[k] = keep
		}
	}
	p.mu.Unlock()
	for _, c := range victims {
		p.discard(c)
	}
}

// Close stops the pool's background work and waits for it, and destroys
// every idle and prewarmed container; busy ones are destroyed when returned.
func (p *Pool) Close() {
	defer p.bg.Wait()
	p.stopLife()
	p.mu.Lock()
	p.closed = true
	var all []*pooled
	for _, list := range p.idle {
		for _, c := range list {
			p.leaveIdleLocked(c)
		}
		all = append(all, list...)
	}
	for _, list := range p.stems {
		all = append(all, list...)
	}
	for _, list := range p.shared {
		for _, c := range list {
			c.inShared = false
		}
	}
	p.idle, p.stems, p.shared = map[warmKey][]*pooled{}, map[stemKey][]*pooled{}, map[warmKey][]*pooled{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Add(1)
		go func() { defer wg.Done(); p.discard(c) }()
	}
	wg.Wait()
}
