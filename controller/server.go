// Package controller serves the OpenWhisk REST API on echo: routes (one file
// per collection), authentication and entitlement, throttles, entity caches,
// sequences and conductors, and trigger-to-rule fan-out. Activations go to
// invokers through the load balancer (package loadbalancer); web-action
// transcoding lives in package webaction.
package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/internal/metrics"
	"github.com/brisk-serverless/brisk/loadbalancer"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
)

// Config configures the API server.
type Config struct {
	Manifest *api.Manifest
	Limits   api.Limits
	// BuildInfo is reported at GET /api/v1.
	Build, BuildNo string
	// NamespaceLimits reads per-namespace throttle overrides (optional).
	NamespaceLimits LimitsSource
	// Cluster is the controllers' Raft group, for /controllers (optional).
	Cluster Cluster
	// Metrics is served at /metrics and counts requests and throttle
	// rejections (nil: no /metrics).
	Metrics *metrics.Metrics
	// MetricsOffAPI keeps /metrics off the API (it is served elsewhere);
	// requests are still counted.
	MetricsOffAPI bool
	// WebDomain, when set, serves namespace NS's web actions at
	// NS.<WebDomain>/<package>/<action> (upstream's edge rewrite).
	WebDomain string
	// MaxURILength bounds the request URI (path and query, bytes); a longer
	// one is 414 (0: no bound).
	MaxURILength int
}

// Server is the controller's HTTP API.
type Server struct {
	cfg       Config
	echo      *echo.Echo
	store     *store.Store
	balancer  *loadbalancer.Balancer
	auth      *authenticator
	actions   *actionCache
	webOwners nsIdentityCache // web.go
	throttles *throttles
	feeds     *triggerState // triggers.go: fire fan-out bound, built-in (feed) actions
	log       *slog.Logger

	// Background work started by requests (sequences, trigger fan-out) and
	// loops (the cache link) run in goroutines the server owns: bg ends
	// them, loops ends the loops, and Close waits for them all.
	bg        context.Context
	stopBg    context.CancelFunc
	loops     context.Context
	stopLoops context.CancelFunc
	owned     sync.WaitGroup
	ownedMu   sync.Mutex
	closing   bool
	// composites holds one token per running topmost sequence or composition.
	composites chan struct{}
}

// New builds the API server. Activations go to invokers through lb.
func New(cfg Config, st *store.Store, lb *loadbalancer.Balancer, log *slog.Logger) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	auth := newAuthenticator(st)
	s := &Server{cfg: cfg, echo: e, store: st, balancer: lb, auth: auth, actions: newActionCache(),
		throttles: newThrottles(cfg.Limits, auth.cachedLimits(cfg.NamespaceLimits)), log: log,
		composites: make(chan struct{}, maxCompositeRuns), feeds: newTriggerState()}
	s.throttles.metrics = cfg.Metrics
	s.bg, s.stopBg = context.WithCancel(context.Background())
	s.loops, s.stopLoops = context.WithCancel(s.bg)
	e.HTTPErrorHandler = s.handleError
	e.Pre(s.limitURI)
	e.Pre(s.namespaceSubdomain)
	e.Pre(s.transactionID)
	e.Pre(s.cors)
	e.Use(s.countRequests)
	s.routes()
	return s
}

// SetClusterSize tells the server how many controllers share the
// namespaces' throttles (the Raft group's live size): each enforces its
// share, as upstream's controllers do.
func (s *Server) SetClusterSize(n int) { s.throttles.setControllers(n) }

// Handler is the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// errClosing is returned for work offered to a server that is closing.
var errClosing = errors.New("controller is shutting down")

// goOwned runs f in a goroutine the server owns, with the server's
// background context; it fails once Close began.
func (s *Server) goOwned(f func(ctx context.Context)) error { return s.goWith(s.bg, f) }

func (s *Server) goWith(ctx context.Context, f func(ctx context.Context)) error {
	s.ownedMu.Lock()
	defer s.ownedMu.Unlock()
	if s.closing {
		return &api.Error{Status: http.StatusServiceUnavailable, Message: api.MsgUnavailable, Err: errClosing}
	}
	s.owned.Add(1)
	go func() {
		defer s.owned.Done()
		f(ctx)
	}()
	return nil
}

// StartCacheLink links this controller's caches with the other
// controllers' through the cacheInvalidation topic (RunCacheInvalidation) in
// a goroutine the server owns, until Close. The channel receives the link's
// end: nil after Close, else why it stopped.
func (s *Server) StartCacheLink(brokers []string, producer *messaging.Producer, instanceID string) <-chan error {
	done := make(chan error, 1)
	err := s.goWith(s.loops, func(ctx context.Context) {
		done <- s.RunCacheInvalidation(ctx, brokers, producer, instanceID)
	})
	if err != nil {
		done <- err
	}
	return done
}

// Close ends the server's background work: the cache link stops at once;
// running sequences and compositions and trigger fan-outs get until ctx
// ends to finish, then are cancelled. Close returns when all have returned.
// Call it after the HTTP server stopped and before the store closes.
func (s *Server) Close(ctx context.Context) {
	s.ownedMu.Lock()
	s.closing = true
	s.ownedMu.Unlock()
	s.stopLoops()
	done := make(chan struct{})
	go func() { s.owned.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.stopBg()
		<-done
	}
	s.stopBg()
}

// routes registers every route: the unauthenticated ones (meta.go,
// metrics.go, invokers.go, web.go) and, behind authentication, one group per
// collection, each in the collection's file.
func (s *Server) routes() {
	e := s.echo
	s.metaRoutes(e)
	s.metricsRoutes(e)
	s.invokerRoutes(e)
	s.controllerRoutes(e)
	s.webRoutes(e)

	v1 := e.Group("/api/v1/namespaces", s.authenticate)
	s.namespaceRoutes(v1)
	s.actionRoutes(v1)
	s.packageRoutes(v1)
	s.triggerRoutes(v1)
	s.ruleRoutes(v1)
	s.activationRoutes(v1)
}

// otherMethods lists the HTTP methods a route does not serve (OPTIONS and
// HEAD are left to the CORS and GET handling).
func otherMethods(served ...string) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch} {
		if !slices.Contains(served, m) {
			out = append(out, m)
		}
	}
	return out
}

// methodNotAllowed answers 405 with upstream's message.
func methodNotAllowed(supported string) echo.HandlerFunc {
	return func(c echo.Context) error {
		return api.Errorf(http.StatusMethodNotAllowed, "HTTP method not allowed, supported methods: %s", supported)
	}
}

// collectionRoutes registers list for a collection's paths: GET lists; other
// methods on the bare collection ("actions") are 405 as upstream's collection
// routes answer, and on the collection with a trailing slash ("actions/", an
// entity with an empty name) 404: upstream's deployment has no route for an
// empty name (its web-action route accepts every method first, which cancels
// the collection's method rejection).
func collectionRoutes(g *echo.Group, list echo.HandlerFunc, paths ...string) {
	for _, path := range paths {
		g.GET(path, list)
		if strings.HasSuffix(path, "/") {
			g.Match(otherMethods("GET"), path, emptyName)
		} else {
			g.Match(otherMethods("GET"), path, methodNotAllowed("GET"))
		}
	}
}

// emptyName answers a write to an entity with an empty name: the route does
// not exist.
func emptyName(echo.Context) error { return echo.ErrNotFound }

// ctxKey holds per-request values.
const (
	keyTID      = "brisk.tid"
	keyIdentity = "brisk.identity"
)

func tid(c echo.Context) string { s, _ := c.Get(keyTID).(string); return s }

// transactionID gives every request an id, echoed in X-Request-ID and in error bodies.
func (s *Server) transactionID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get("X-Request-ID")
		if id == "" || strings.HasPrefix(id, "sid_") || len(id) > 64 {
			id = api.NewTransactionID()
		}
		c.Set(keyTID, id)
		c.Response().Header().Set("X-Request-ID", id)
		return next(c)
	}
}

// limitURI refuses a request URI longer than the configured bound with 414
// and the text upstream's controllers (pekko-http's max-uri-length) answer.
func (s *Server) limitURI(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if n := s.cfg.MaxURILength; n > 0 && len(c.Request().RequestURI) > n {
			return c.String(http.StatusRequestURITooLong, fmt.Sprintf("URI length exceeds the configured limit of %d characters", n))
		}
		return next(c)
	}
}

// cors adds upstream's CORS headers and answers OPTIONS.
func (s *Server) cors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isWebPath(c.Request().URL.Path) {
			return next(c) // web actions have their own CORS rules (web.go)
		}
		h := c.Response().Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, DELETE, POST, PUT, HEAD")
		h.Set("Access-Control-Allow-Headers", "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent")
		if c.Request().Method == http.MethodOptions {
			return c.String(http.StatusOK, "OK")
		}
		return next(c)
	}
}

// handleError renders every error in upstream's {"error","code"} shape. This
// is the one place where domain errors become HTTP statuses.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg, domain := domainErrorStatus(err)
	var he *echo.HTTPError
	if !domain && errors.As(err, &he) {
		status = he.Code
		switch status {
		case http.StatusNotFound:
			msg = api.MsgRouteNotFound
		case http.StatusMethodNotAllowed:
			msg = "HTTP method not allowed, supported methods: " + c.Response().Header().Get("Allow")
		case http.StatusRequestEntityTooLarge:
			msg = api.MsgTooLarge
		default:
			msg = api.DefaultMessage(status)
		}
	}
	if status >= 500 {
		s.log.Error("request failed", "tid", tid(c), "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if c.Request().Method == http.MethodOptions && status == http.StatusMethodNotAllowed {
		_ = c.String(http.StatusOK, "OK")
		return
	}
	_ = c.JSON(status, map[string]string{"error": msg, "code": tid(c)})
}

// domainErrorStatus maps a domain error to its HTTP status and upstream's
// message; ok is false for errors that are not the domain's.
func domainErrorStatus(err error) (status int, msg string, ok bool) {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable, store.MsgUnavailable, true
	case errors.As(err, new(*api.Error)):
		e, _ := api.AsError(err)
		return e.Status, e.Message, true
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, api.MsgNotFound, true
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, api.MsgConcurrentMod, true
	case errors.Is(err, store.ErrWrongCollection):
		return http.StatusConflict, api.MsgWrongCollection, true
	case errors.Is(err, store.ErrCorrupted):
		return http.StatusInternalServerError, api.MsgCorrupted, true
	case errors.Is(err, loadbalancer.ErrUnencodable):
		return http.StatusBadRequest, api.MsgMalformedPrefix + "the arguments cannot be passed on as JSON", true
	case errors.Is(err, loadbalancer.ErrNoInvokers), errors.Is(err, errClosing):
		return http.StatusServiceUnavailable, api.MsgUnavailable, true
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, api.MsgUnavailable, true
	}
	return http.StatusInternalServerError, api.MsgInternal, false
}

// readBody reads at most limit bytes of the request body; more is a 413 with
// upstream's message.
func readBody(c echo.Context, limit int) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > int64(limit) {
		return nil, api.Errorf(http.StatusRequestEntityTooLarge, "Request larger than allowed: %d > %d bytes.", r.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, api.Malformed("could not read the request body")
	}
	if len(b) > limit {
		return nil, api.Errorf(http.StatusRequestEntityTooLarge, "Request larger than allowed: %d > %d bytes.", len(b), limit)
	}
	if len(b) > 0 {
		ct := r.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			msg := "The request's Content-Type is not supported. Expected:\napplication/json"
			if ct != "" {
				msg = "The request's Content-Type [" + ct + "] is not supported. Expected:\napplication/json"
			}
			return nil, &api.Error{Status: http.StatusUnsupportedMediaType, Message: msg}
		}
		if err := api.CheckJSONDepth(b, api.MaxJSONDepth); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// jsonOK writes v with status.
func jsonOK(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	return c.JSONBlob(status, b)
}
