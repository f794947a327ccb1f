package controller

import (
	"context"
	"sync"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

const (
	// actionCacheTTL bounds how long an action read stays cached.
	actionCacheTTL = 5 * time.Minute
	// maxCachedActions bounds the cache; past it the cache starts over.
	maxCachedActions = 10000
)

type cachedAction struct {
	doc     *api.ActionDoc
	expires time.Time
}

// actionCache keeps action documents for the invoke path. This controller
// invalidates an entry on every write it makes; coherence across several
// controllers comes with the cacheInvalidation topic (distributed mode).
type actionCache struct {
	mu  sync.Mutex
	m   map[string]cachedAction
	gen uint64 // bumped by every invalidation
}

func newActionCache() *actionCache { return &actionCache{m: map[string]cachedAction{}} }

func (c *actionCache) get(ctx context.Context, st *store.Store, id string) (*api.ActionDoc, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[id]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.doc, nil
	}
	doc, err := st.GetAction(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return doc, nil // a write raced with this read: do not cache what may be stale
	}
	if len(c.m) >= maxCachedActions {
		clear(c.m)
	}
	c.m[id] = cachedAction{doc: doc, expires: now.Add(actionCacheTTL)}
	return doc, nil
}

func (c *actionCache) invalidate(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.gen++
	c.mu.Unlock()
}
