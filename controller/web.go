package controller

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller/webaction"
	"github.com/brisk-serverless/brisk/store"
)

// Web actions: /api/v1/web/{ns}/{pkg|default}/{action}[.ext][/path],
// served without authentication, run blocking as the owner of {ns}, their
// result transcoded into an HTTP response by the extension. This file is the
// HTTP handler (route, action, annotations, CORS, credentials, activation);
// the transcoding rules both ways are package webaction's.

const webPath = "/api/v1/web"

// isWebPath tells whether a request path is under the web action prefix;
// the API's CORS middleware leaves those to web.go.
func isWebPath(p string) bool { return p == webPath || strings.HasPrefix(p, webPath+"/") }

// CORS headers of web actions (upstream's CorsSettings.WebActions) and of the
// REST API (for OPTIONS on web paths that name no action).
const (
	webAllowMethods     = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
	apiAllowMethods     = "GET, DELETE, POST, PUT, HEAD"
	defaultAllowHeaders = "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
)

// webRoutes registers the web action routes. They are outside the
// authenticated /api/v1/namespaces group: credentials are optional.
func (s *Server) webRoutes(e *echo.Echo) {
	methods := []string{http.MethodGet, http.MethodDelete, http.MethodPost, http.MethodPut,
		http.MethodHead, http.MethodOptions, http.MethodPatch}
	others := []string{http.MethodConnect, http.MethodTrace, echo.PROPFIND, echo.REPORT}
	for _, p := range []string{webPath, webPath + "/*"} {
		e.Match(methods, p, s.webAction)
		e.Match(others, p, methodNotAllowed("GET, DELETE, POST, PUT, HEAD, OPTIONS, PATCH"))
	}
}

// webTarget is what a web path addresses.
type webTarget struct {
	fqn  api.FullyQualifiedName
	ext  string
	path string // __ow_path: the rest of the path after the action segment
}

// parseWebPath splits an escaped request path. ok is false when the path
// does not have the shape of a web action route (upstream: no route).
func parseWebPath(escaped string) (t webTarget, ok bool, nameOK bool) {
	rest, found := strings.CutPrefix(escaped, webPath+"/")
	if !found {
		return t, false, false
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) < 3 {
		return t, false, false
	}
	var seg [3]string
	for i := range seg {
		u, err := url.PathUnescape(parts[i])
		if err != nil {
			return t, false, false
		}
		seg[i] = u
	}
	if !api.ValidName(seg[0]) || (seg[1] != "default" && !api.ValidName(seg[1])) || !api.ValidName(seg[2]) {
		return t, false, false
	}
	t.fqn = api.FullyQualifiedName{Namespace: seg[0], Name: seg[2]}
	if seg[1] != "default" {
		t.fqn.Package = seg[1]
	}
	t.fqn.Name, t.ext = webaction.SplitExtension(seg[2])
	if len(parts) == 4 {
		t.path = "/" + parts[3]
	}
	return t, true, api.ValidName(t.fqn.Name)
}

// webAction serves one web action request.
func (s *Server) webAction(c echo.Context) error {
	req := c.Request()
	h := c.Response().Header()
	t, ok, nameOK := parseWebPath(req.URL.EscapedPath())
	if !ok {
		if req.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Allow-Methods", apiAllowMethods)
			h.Set("Access-Control-Allow-Headers", defaultAllowHeaders)
			return c.String(http.StatusOK, "OK")
		}
		return echo.ErrNotFound
	}
	if !nameOK {
		return api.ErrNotFound
	}
	ctx := req.Context()
	owner, err := s.webOwner(ctx, t.fqn.Namespace)
	if err != nil {
		return err
	}
	target, err := s.resolveAction(ctx, owner, t.fqn)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrWrongCollection) || errors.Is(err, store.ErrCorrupted) {
			return api.ErrNotFound
		}
		return err
	}
	ann := target.Doc.Annotations
	if !annotationTrue(ann, "web-export") {
		return api.ErrNotFound
	}
	limit := s.cfg.Limits.MaxPayloadBytes
	if req.ContentLength > int64(limit) {
		return tooLarge(req.ContentLength, limit)
	}

	customOptions := annotationTrue(ann, "web-custom-options")
	if !customOptions {
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", webAllowMethods)
		if v := req.Header.Values("Access-Control-Request-Headers"); len(v) > 0 {
			h.Set("Access-Control-Allow-Headers", v[0])
		} else {
			h.Set("Access-Control-Allow-Headers", defaultAllowHeaders)
		}
		if req.Method == http.MethodOptions {
			return c.NoContent(http.StatusOK)
		}
	}
	user := s.webUser(c)
	if !(customOptions && req.Method == http.MethodOptions) && !webAuthorized(ann, req.Header, user) {
		return &api.Error{Status: http.StatusUnauthorized, Message: api.DefaultMessage(http.StatusUnauthorized)}
	}

	body, err := io.ReadAll(io.LimitReader(req.Body, int64(limit)+1))
	if err != nil {
		return api.Malformed("could not read the request body")
	}
	if len(body) > limit {
		return tooLarge(int64(len(body)), limit)
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		if err := api.CheckJSONDepth(body, api.MaxJSONDepth); err != nil {
			return err
		}
	}
	var final []string
	if annotationTrue(ann, "final") {
		for _, p := range target.Parameters {
			if !isNullJSON(p.Value) {
				final = append(final, p.Key)
			}
		}
	}
	in := webaction.Request{Method: req.Method, Path: t.path, Host: req.Host, Header: req.Header,
		RawQuery: req.URL.RawQuery, Body: body, Raw: annotationTrue(ann, "raw-http"), Final: final}
	if user != nil {
		in.User = user.Namespace
	}
	payload, err := webaction.Arguments(in)
	if err != nil {
		return err
	}
	res, err := s.activate(ctx, activation{Identity: owner, Target: target, Payload: payload, Blocking: true,
		Wait: time.Duration(s.cfg.Limits.MaxBlockingWaitMs) * time.Millisecond, TransID: tid(c)})
	if err != nil {
		return err
	}
	h.Set("x-openwhisk-activation-id", res.ActivationID)
	if res.Record == nil {
		return webaction.NotReady()
	}
	result, err := webaction.Select(res.Record.Response.StatusCode, res.Record.Response.Result)
	if err != nil {
		return err
	}
	out, err := webaction.Transcode(t.ext, result)
	if err != nil {
		return err
	}
	return writeWebResponse(c, out)
}

func tooLarge(n int64, limit int) error {
	return api.Errorf(http.StatusRequestEntityTooLarge, "Request larger than allowed: %d > %d bytes.", n, limit)
}

// annotationTrue tells whether an annotation is the JSON boolean true
// (upstream reads these annotations as booleans: "true" the string is not).
func annotationTrue(kv api.KeyValues, key string) bool {
	return bytes.Equal(bytes.TrimSpace(kv.Get(key)), []byte("true"))
}

// --- identities ---------------------------------------------------------------

// maxWebOwners bounds the cache of namespace owners.
const maxWebOwners = 10000

// nsIdentityCache caches the identity owning a namespace name for a minute
// (as the authenticator caches keys). The zero value is ready to use.
type nsIdentityCache struct {
	mu sync.Mutex
	m  map[string]nsIdentity
}

type nsIdentity struct {
	id      *api.Identity
	expires time.Time
}

// webOwner finds the identity of the namespace in a web path. Upstream leaks
// nothing about a failed lookup: every failure is a 404.
func (s *Server) webOwner(ctx context.Context, ns string) (*api.Identity, error) {
	c := &s.webOwners
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.m[ns]; ok && now.Before(e.expires) {
		c.mu.Unlock()
		return e.id, nil
	}
	c.mu.Unlock()
	id, err := s.store.GetIdentityByNamespace(ctx, ns)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("web action: namespace lookup failed", "namespace", ns, "err", err)
		}
		return nil, api.ErrNotFound
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxWebOwners {
		c.m = map[string]nsIdentity{}
	}
	c.m[ns] = nsIdentity{id: id, expires: now.Add(identityTTL)}
	c.mu.Unlock()
	return id, nil
}

// webUser is the identity of valid Basic credentials on a web request, or
// nil: credentials are optional, and invalid ones make an anonymous request
// (as upstream, which falls back to its unauthenticated route).
func (s *Server) webUser(c echo.Context) *api.Identity {
	uuid, key, ok := c.Request().BasicAuth()
	if !ok || len(key) != 64 || uuid == "" || strings.Contains(uuid, "/") {
		return nil
	}
	id, err := s.auth.lookup(c.Request().Context(), uuid, key)
	if err != nil {
		return nil
	}
	return id
}

// webAuthorized applies the require-whisk-auth annotation: absent or false
// lets everyone in; true requires valid credentials; a string or number must
// equal the X-Require-Whisk-Auth header; anything else lets nobody in.
func webAuthorized(ann api.KeyValues, header http.Header, user *api.Identity) bool {
	raw := bytes.TrimSpace(ann.Get("require-whisk-auth"))
	if len(raw) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return false
	}
	secret := ""
	switch t := v.(type) {
	case bool:
		return !t || user != nil
	case string:
		secret = t
	case json.Number:
		secret = t.String()
	default:
		return false
	}
	got := header.Values("X-Require-Whisk-Auth")
	return len(got) > 0 && subtle.ConstantTimeCompare([]byte(got[0]), []byte(secret)) == 1
}

// --- response -----------------------------------------------------------------

// writeWebResponse negotiates against Accept and writes the response, the
// action's headers replacing the defaults of the same name.
func writeWebResponse(c echo.Context, out *webaction.Response) error {
	if err := out.Negotiate(c.Request().Header.Values("Accept")); err != nil {
		return err
	}
	h := c.Response().Header()
	for name, values := range out.Header {
		h[name] = append([]string(nil), values...)
	}
	if out.Body == nil {
		return c.NoContent(out.Status)
	}
	return c.Blob(out.Status, out.ContentType, out.Body)
}

// namespaceSubdomain serves a namespace's web actions under its own
// subdomain, as upstream's edge does: with Config.WebDomain set, a request
// whose Host is <ns>.<WebDomain> is the request /api/v1/web/<ns>/<path>.
func (s *Server) namespaceSubdomain(next echo.HandlerFunc) echo.HandlerFunc {
	suffix := "." + strings.ToLower(s.cfg.WebDomain)
	return func(c echo.Context) error {
		if s.cfg.WebDomain == "" {
			return next(c)
		}
		r := c.Request()
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		ns, ok := strings.CutSuffix(host, suffix)
		if !ok || ns == "" || strings.Contains(ns, ".") {
			return next(c)
		}
		r.URL.Path = webPath + "/" + ns + r.URL.Path
		if r.URL.RawPath != "" {
			r.URL.RawPath = webPath + "/" + ns + r.URL.RawPath
		}
		return next(c)
	}
}
