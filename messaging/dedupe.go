package messaging

import "sync"

// Recent is a bounded set of the most recently added keys, for a handler to
// recognise a message delivered a second time (delivery is at least once: a
// commit that fails, e.g. during a group rebalance, delivers the message
// again). An invoker keys it by activation id. It is safe for concurrent use.
type Recent struct {
	mu   sync.Mutex
	set  map[string]struct{}
	ring []string // insertion order; the oldest key is evicted first
	next int
}

// NewRecent returns a set that remembers the last n keys (at least 1).
func NewRecent(n int) *Recent {
	n = max(n, 1)
	return &Recent{set: make(map[string]struct{}, n), ring: make([]string, 0, n)}
}

// Add records key and reports whether it is new, that is, not among the
// last n keys added.
func (r *Recent) Add(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.set[key]; ok {
		return false
	}
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, key)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = key
		r.next = (r.next + 1) % len(r.ring)
	}
	r.set[key] = struct{}{}
	return true
}

// Len returns how many keys are remembered.
func (r *Recent) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.set)
}
