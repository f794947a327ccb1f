package controller

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// identityTTL bounds how long a key stays cached (keys change only through
// the admin tool; issue 4 adds explicit invalidation).
const identityTTL = time.Minute

// maxCachedIdentities bounds the identity cache.
const maxCachedIdentities = 10000

type cachedIdentity struct {
	id      *api.Identity
	expires time.Time
}

// authenticator resolves Basic credentials to identities, with a cache.
type authenticator struct {
	st    *store.Store
	mu    sync.Mutex
	cache map[string]cachedIdentity
}

func newAuthenticator(st *store.Store) *authenticator {
	return &authenticator{st: st, cache: map[string]cachedIdentity{}}
}

func (a *authenticator) lookup(ctx context.Context, uuid, key string) (*api.Identity, error) {
	ck := uuid + ":" + key
	now := time.Now()
	a.mu.Lock()
	if e, ok := a.cache[ck]; ok && now.Before(e.expires) {
		a.mu.Unlock()
		return e.id, nil
	}
	a.mu.Unlock()
	id, err := a.st.GetIdentity(ctx, uuid, key)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxCachedIdentities {
		clear(a.cache)
	}
	a.cache[ck] = cachedIdentity{id: id, expires: now.Add(identityTTL)}
	a.mu.Unlock()
	return id, nil
}

// authenticate is the middleware that requires valid Basic credentials.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		uuid, key, ok := c.Request().BasicAuth()
		if !ok {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="OpenWhisk secure realm"`)
			if c.Request().Header.Get("Authorization") == "" {
				return api.ErrAuthRequired
			}
			return api.ErrAuthInvalid
		}
		if len(key) != 64 || uuid == "" || strings.ContainsAny(uuid, "/") {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="OpenWhisk secure realm"`)
			return api.ErrAuthInvalid
		}
		id, err := s.auth.lookup(c.Request().Context(), uuid, key)
		if errors.Is(err, store.ErrNotFound) {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="OpenWhisk secure realm"`)
			return api.ErrAuthInvalid
		}
		if err != nil {
			return &api.Error{Status: http.StatusServiceUnavailable, Message: api.MsgUnavailable, Err: err}
		}
		c.Set(keyIdentity, id)
		return next(c)
	}
}

func identity(c echo.Context) *api.Identity { id, _ := c.Get(keyIdentity).(*api.Identity); return id }

// namespace resolves the :ns path parameter ("_" is the caller's own) and
// checks that the caller may use it. resource names what is accessed, for the
// 403 message.
func namespace(c echo.Context, entity string) (string, error) {
	id := identity(c)
	ns := param(c, "ns")
	if ns == "_" {
		ns = id.Namespace
	}
	if err := api.CheckNamespace(ns); err != nil {
		return "", err
	}
	if ns != id.Namespace {
		res := ns
		if entity != "" {
			res += "/" + entity
		}
		return "", api.Forbidden(res)
	}
	return ns, nil
}
