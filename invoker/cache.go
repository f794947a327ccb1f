package invoker

import (
	"context"
	"sync"

	"github.com/brisk-serverless/brisk/api"
)

// maxCachedActions bounds the action cache; past it the cache starts over.
const maxCachedActions = 4096

// actionCache keeps action documents by id. An entry is used only when its
// revision equals the one the activation message names, so a stale entry
// can never run: a changed action has a new revision and is read again.
type actionCache struct {
	mu sync.Mutex
	m  map[string]*api.ActionDoc
}

func newActionCache() *actionCache { return &actionCache{m: map[string]*api.ActionDoc{}} }

// get returns the action id at revision rev, reading the store on a miss.
func (c *actionCache) get(ctx context.Context, st Store, id, rev string) (*api.ActionDoc, error) {
	if rev != "" {
		c.mu.Lock()
		doc, ok := c.m[id]
		c.mu.Unlock()
		if ok && doc.Rev == rev {
			return doc, nil
		}
	}
	doc, err := st.GetAction(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxCachedActions {
		clear(c.m)
	}
	c.m[id] = doc
	c.mu.Unlock()
	return doc, nil
}
