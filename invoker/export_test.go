package invoker

import "slices"

// Hooks for the external tests (package invoker_test). Those tests need the
// real process backend, and invoker/process imports this package, so they
// cannot live in package invoker without an import cycle.

type (
	WarmKey = warmKey
	StemKey = stemKey
	Pooled  = pooled
)

// Pool is the invoker's container pool.
func (inv *Invoker) Pool() *Pool { return inv.pool }

// Container is the pooled container.
func (c *pooled) Container() Container { return c.c }

// UsedMB is the memory the pool has handed out or holds.
func (p *Pool) UsedMB() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.usedMB
}

// StemIDs lists the ids of the prewarmed containers of k, sorted.
func (p *Pool) StemIDs(k StemKey) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for _, c := range p.stems[k] {
		ids = append(ids, c.c.ID())
	}
	slices.Sort(ids)
	return ids
}

// Stems returns the prewarmed containers of k.
func (p *Pool) Stems(k StemKey) []Container {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Container
	for _, c := range p.stems[k] {
		out = append(out, c.c)
	}
	return out
}

// IdleIDs lists the ids of the idle warm containers, sorted.
func (p *Pool) IdleIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for _, list := range p.idle {
		for _, c := range list {
			ids = append(ids, c.c.ID())
		}
	}
	slices.Sort(ids)
	return ids
}
