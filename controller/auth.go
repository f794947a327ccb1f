package controller

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// identityTTL bounds how long a key stays cached. Admin changes evict keys
// at once when they are announced (see cache.go); the TTL bounds the rest.
const identityTTL = time.Minute

// maxCachedIdentities bounds the identity cache.
const maxCachedIdentities = 10000

// limitsTTL bounds how long a namespace's limits stay cached.
const limitsTTL = time.Minute

// maxCachedLimits bounds the namespace limits cache.
const maxCachedLimits = 10000

// authenticator resolves Basic credentials to identities and namespaces to
// their limits (both from the subjects database), with caches.
type authenticator struct {
	st         *store.Store
	identities *ttlCache[*api.Identity]
	limits     *ttlCache[*NamespaceLimits] // nil value: no overrides
}

func newAuthenticator(st *store.Store) *authenticator {
	return &authenticator{st: st,
		identities: newTTLCache[*api.Identity](identityTTL, maxCachedIdentities),
		limits:     newTTLCache[*NamespaceLimits](limitsTTL, maxCachedLimits)}
}

func (a *authenticator) lookup(ctx context.Context, uuid, key string) (*api.Identity, error) {
	return a.identities.load(ctx, uuid+":"+key, func(ctx context.Context) (*api.Identity, error) {
		return a.st.GetIdentity(ctx, uuid, key)
	})
}

// evictIdentity forgets the identity of the credential uuid:key.
func (a *authenticator) evictIdentity(uuid, key string) { a.identities.evict(uuid + ":" + key) }

// evictLimits forgets a namespace's limits.
func (a *authenticator) evictLimits(ns string) { a.limits.evict(ns) }

// cachedLimits wraps src with the limits cache (nil stays nil).
func (a *authenticator) cachedLimits(src LimitsSource) LimitsSource {
	if src == nil {
		return nil
	}
	return func(ctx context.Context, ns string) (*NamespaceLimits, error) {
		return a.limits.load(ctx, ns, func(ctx context.Context) (*NamespaceLimits, error) { return src(ctx, ns) })
	}
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
// checks that the caller owns it: every collection but packages and the
// actions inside packages is private to its namespace. resource names what is
// accessed, for the 403 message.
func namespace(c echo.Context, entity string) (string, error) {
	ns, owner, err := targetNamespace(c)
	if err != nil {
		return "", err
	}
	if !owner {
		res := ns
		if entity != "" {
			res += "/" + entity
		}
		return "", api.Forbidden(res)
	}
	return ns, nil
}

// targetNamespace resolves and validates the :ns path parameter without
// entitlement and reports whether the caller owns it. Callers that let other
// namespaces in (reading packages, reading and invoking actions inside
// readable packages) check entitlement themselves; writes stay with the owner.
func targetNamespace(c echo.Context) (ns string, owner bool, err error) {
	id := identity(c)
	ns = param(c, "ns")
	if ns == "_" {
		ns = id.Namespace
	}
	if err := api.CheckNamespace(ns); err != nil {
		return "", false, err
	}
	return ns, ns == id.Namespace, nil
}
