package controller

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// Web actions (API.md §7): /api/v1/web/{ns}/{pkg|default}/{action}[.ext][/path],
// served without authentication, run blocking as the owner of {ns}, their
// result transcoded into an HTTP response by the extension.

const webPath = "/api/v1/web"

// isWebPath tells whether a request path is under the web action prefix;
// the API's CORS middleware leaves those to web.go.
func isWebPath(p string) bool { return p == webPath || strings.HasPrefix(p, webPath+"/") }

// Upstream's messages for web actions.
const (
	msgWebPropertyNotFound = "Response does not include requested property."
	msgWebResponseNotReady = "Response not yet ready."
	msgWebUnknownType      = "Response did not specify a known content-type."
	msgWebTypeMismatch     = "Response type in header did not match generated content type."
	msgWebProcessingError  = "There was an error processing your request."
	msgWebNotAcceptable    = "Resource representation is only available with these types:\n"
)

func msgWebInvalidMedia(mediaType string) string {
	return "Response is not valid '" + mediaType + "'."
}

// CORS headers of web actions (upstream's CorsSettings.WebActions) and of the
// REST API (for OPTIONS on web paths that name no action).
const (
	webAllowMethods     = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
	apiAllowMethods     = "GET, DELETE, POST, PUT, HEAD"
	defaultAllowHeaders = "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
)

// The __ow_* arguments; a request may not set any of them itself.
const (
	owMethod  = "__ow_method"
	owHeaders = "__ow_headers"
	owPath    = "__ow_path"
	owUser    = "__ow_user"
	owQuery   = "__ow_query"
	owBody    = "__ow_body"
)

var owReserved = []string{owMethod, owHeaders, owPath, owUser, owQuery, owBody}

// webExtensions are the supported extensions in upstream's matching order;
// no known extension means .http.
var webExtensions = []string{".http", ".json", ".html", ".svg", ".text"}

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
	t.ext = ".http"
	for _, ext := range webExtensions {
		if base, cut := strings.CutSuffix(seg[2], ext); cut {
			t.fqn.Name, t.ext = base, ext
			break
		}
	}
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
	var final []string
	if annotationTrue(ann, "final") {
		for _, p := range target.Parameters {
			if !isNullJSON(p.Value) {
				final = append(final, p.Key)
			}
		}
	}
	payload, err := webArguments(req, t.path, body, user, annotationTrue(ann, "raw-http"), final)
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
		return &api.Error{Status: http.StatusAccepted, Message: msgWebResponseNotReady}
	}
	result := bytes.TrimSpace(res.Record.Response.Result)
	if len(result) == 0 {
		result = []byte("{}")
	}
	switch res.Record.Response.StatusCode {
	case api.StatusSuccess:
	case api.StatusApplicationError:
		var fields map[string]json.RawMessage
		if json.Unmarshal(result, &fields) != nil || fields["error"] == nil {
			return &api.Error{Status: http.StatusNotFound, Message: msgWebPropertyNotFound}
		}
		result = fields["error"]
	default:
		return webBad(msgWebProcessingError)
	}
	out, err := transcode(t.ext, result)
	if err != nil {
		return err
	}
	return writeWebResponse(c, out)
}

// webBad is a 400 with one of the web messages.
func webBad(msg string) error { return &api.Error{Status: http.StatusBadRequest, Message: msg} }

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

// --- arguments ----------------------------------------------------------------

// webArguments builds the action's arguments from the request: the __ow_*
// context, then (unless raw) query parameters and body fields, the body
// winning. Query or body fields naming a reserved or final parameter are
// refused.
func webArguments(req *http.Request, path string, body []byte, user *api.Identity, raw bool, final []string) (map[string]json.RawMessage, error) {
	args := map[string]json.RawMessage{}
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		args[k] = b
	}
	set(owMethod, strings.ToLower(req.Method))
	headers := map[string]string{}
	for k, v := range req.Header {
		if len(v) > 0 {
			headers[strings.ToLower(k)] = v[len(v)-1]
		}
	}
	delete(headers, "content-length")
	delete(headers, "transfer-encoding")
	if req.Host != "" {
		headers["host"] = req.Host
	}
	ct := req.Header.Get("Content-Type")
	if ct == "" && len(body) > 0 {
		ct = "application/octet-stream"
		headers["content-type"] = ct
	}
	set(owHeaders, headers)
	set(owPath, path)
	if user != nil {
		set(owUser, user.Namespace)
	}
	hasEntity := ct != "" || len(body) > 0
	mt, params, err := parseMediaType(ct)
	if err != nil {
		mt, params = "application/octet-stream", nil
	}
	class := mediaClassOf(mt, params)

	if raw {
		set(owQuery, req.URL.RawQuery)
		switch {
		case !hasEntity:
			set(owBody, "")
		case class == mediaBinary || mt == "application/json":
			set(owBody, base64.StdEncoding.EncodeToString(body))
		default:
			set(owBody, string(body))
		}
		return args, nil
	}

	query, err := parseForm(req.URL.RawQuery)
	if err != nil {
		return nil, api.BadRequest(api.MsgBadRequest)
	}
	var fields map[string]json.RawMessage // a JSON object or form body
	var opaque json.RawMessage            // any other body, as __ow_body
	switch {
	case !hasEntity:
	case isJSONFamily(mt):
		if len(bytes.TrimSpace(body)) == 0 {
			break
		}
		var probe any
		if err := json.Unmarshal(body, &probe); err != nil {
			return nil, api.Malformed(err.Error())
		}
		if t := bytes.TrimSpace(body); t[0] == '{' {
			if err := json.Unmarshal(t, &fields); err != nil {
				return nil, api.Malformed(err.Error())
			}
		} else {
			opaque = bytes.TrimSpace(body)
		}
	case mt == "application/x-www-form-urlencoded":
		form, err := parseForm(string(body))
		if err != nil {
			return nil, api.Malformed("the form data could not be decoded")
		}
		fields = map[string]json.RawMessage{}
		for k, v := range form {
			b, _ := json.Marshal(v)
			fields[k] = b
		}
	case class == mediaBinary:
		opaque, _ = json.Marshal(base64.StdEncoding.EncodeToString(body))
	default:
		opaque, _ = json.Marshal(string(body))
	}

	reserved := append(append([]string{}, owReserved...), final...)
	for _, k := range reserved {
		_, inQuery := query[k]
		_, inBody := fields[k]
		if inQuery || inBody {
			return nil, api.BadRequest(api.MsgReservedParams)
		}
	}
	for k, v := range query {
		set(k, v)
	}
	for k, v := range fields {
		args[k] = v
	}
	if opaque != nil {
		args[owBody] = opaque
	}
	return args, nil
}

// parseForm decodes a query string or form body; the last value of a
// repeated key wins. A ';' is an ordinary character.
func parseForm(s string) (map[string]string, error) {
	out := map[string]string{}
	for part := range strings.SplitSeq(s, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("decode %q: %w", part, err)
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("decode %q: %w", part, err)
		}
		out[k] = v
	}
	return out, nil
}

// --- media types --------------------------------------------------------------

// mediaClass is how a media type carries text, as upstream's HTTP layer
// (pekko-http) classifies it.
type mediaClass int

const (
	mediaBinary  mediaClass = iota
	mediaOpen               // text in any charset (rendered with charset=UTF-8)
	mediaFixedCS            // text in a fixed charset (UTF-8, not rendered)
)

// textMediaTypes are the registered media types that are not binary.
var textMediaTypes = func() map[string]mediaClass {
	m := map[string]mediaClass{}
	for _, t := range []string{"application/json", "application/json-patch+json", "application/merge-patch+json",
		"application/problem+json", "application/vnd.api+json", "application/x-www-form-urlencoded", "text/event-stream"} {
		m[t] = mediaFixedCS
	}
	for _, t := range []string{"atom+xml", "base64", "javascript", "rss+xml", "soap+xml", "vnd.google-earth.kml+xml",
		"x-latex", "x-vrml", "xhtml+xml", "xml-dtd", "xml", "problem+xml"} {
		m["application/"+t] = mediaOpen
	}
	for _, t := range []string{"asp", "cache-manifest", "calendar", "css", "csv", "html", "markdown", "mcf", "plain",
		"richtext", "tab-separated-values", "uri-list", "vnd.wap.wml", "vnd.wap.wmlscript", "x-asm", "x-c",
		"x-component", "x-h", "x-java-source", "x-pascal", "x-script", "x-scriptcsh", "x-scriptelisp", "x-scriptksh",
		"x-scriptlisp", "x-scriptperl", "x-scriptperl-module", "x-scriptphyton", "x-scriptrexx", "x-scriptscheme",
		"x-scriptsh", "x-scripttcl", "x-scripttcsh", "x-scriptzsh", "x-server-parsed-html", "x-setext", "x-sgml",
		"x-speech", "x-uuencode", "x-vcalendar", "x-vcard", "xml"} {
		m["text/"+t] = mediaOpen
	}
	return m
}()

// binaryFamilies are the main types whose registered media types are binary.
var binaryFamilies = map[string]bool{"image": true, "audio": true, "video": true, "font": true, "multipart": true, "message": true}

// mediaClassOf classifies a parsed media type: registered text types by the
// table; unregistered ones are text when they name a charset, else binary.
func mediaClassOf(mt string, params map[string]string) mediaClass {
	if c, ok := textMediaTypes[mt]; ok {
		return c
	}
	main, _, _ := strings.Cut(mt, "/")
	if _, ok := params["charset"]; ok && !binaryFamilies[main] {
		return mediaOpen
	}
	return mediaBinary
}

// parseMediaType parses a Content-Type value that must name a type and a
// subtype.
func parseMediaType(v string) (string, map[string]string, error) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return "", nil, fmt.Errorf("media type %q: %w", v, err)
	}
	main, sub, ok := strings.Cut(mt, "/")
	if !ok || main == "" || sub == "" {
		return "", nil, fmt.Errorf("media type %q has no subtype", v)
	}
	return mt, params, nil
}

func isJSONFamily(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// renderContentType renders a media type as the response's Content-Type:
// UTF-8 is the charset of every text type.
func renderContentType(mt string, params map[string]string, class mediaClass) string {
	p := map[string]string{}
	for k, v := range params {
		if k != "charset" {
			p[k] = v
		}
	}
	s := mime.FormatMediaType(mt, p)
	if s == "" {
		s = mt
	}
	if class == mediaOpen {
		s += "; charset=UTF-8"
	}
	return s
}

// base64Body matches what upstream takes for base64 (Exec.isBinaryCode).
var base64Body = regexp.MustCompile(`^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$`)

func looksBase64(s string) bool {
	t := strings.TrimSpace(s)
	return len(t) > 0 && len(t)%4 == 0 && base64Body.MatchString(t)
}

func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("base64 body: %w", err)
	}
	return b, nil
}

// --- transcoding --------------------------------------------------------------

// webResponse is a transcoded result.
type webResponse struct {
	status      int
	contentType string // "" with a nil body: an empty response
	body        []byte
	// mediaType and offered drive content negotiation against Accept;
	// offered is upstream's text for the 406 ("" = no negotiation).
	mediaType, offered string
	headers            [][2]string
}

// transcode turns the result (or the error projection) into the response
// the extension asks for.
func transcode(ext string, v json.RawMessage) (*webResponse, error) {
	v = bytes.TrimSpace(v)
	var obj map[string]json.RawMessage
	isObj := json.Unmarshal(v, &obj) == nil && obj != nil
	field := func(names ...string) (json.RawMessage, bool) {
		if !isObj {
			return v, true
		}
		for _, n := range names {
			if f, ok := obj[n]; ok {
				return f, true
			}
		}
		return nil, false
	}
	switch ext {
	case ".json":
		if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
			return nil, webBad(msgWebInvalidMedia("application/json"))
		}
		return &webResponse{status: http.StatusOK, contentType: "application/json", body: prettyJSON(v),
			mediaType: "application/json", offered: "application/json"}, nil
	case ".html", ".svg":
		mt, name, ct := "text/html", "html", "text/html; charset=UTF-8"
		if ext == ".svg" {
			mt, name, ct = "image/svg+xml", "svg", "image/svg+xml"
		}
		f, _ := field("body", name)
		f = bytes.TrimSpace(f)
		var s string
		if len(f) == 0 || f[0] != '"' || json.Unmarshal(f, &s) != nil {
			return nil, webBad(msgWebInvalidMedia(mt))
		}
		return &webResponse{status: http.StatusOK, contentType: ct, body: []byte(s), mediaType: mt, offered: ct}, nil
	case ".text":
		f, ok := field("body", "text")
		if !ok {
			return nil, &api.Error{Status: http.StatusNotFound, Message: msgWebPropertyNotFound}
		}
		var b []byte
		var s string
		switch f = bytes.TrimSpace(f); {
		case len(f) > 0 && (f[0] == '{' || f[0] == '['):
			b = prettyJSON(f)
		case len(f) > 0 && f[0] == '"' && json.Unmarshal(f, &s) == nil:
			b = []byte(s)
		default:
			b = append([]byte(nil), f...)
		}
		return &webResponse{status: http.StatusOK, contentType: "text/plain; charset=UTF-8", body: b,
			mediaType: "text/plain", offered: "text/plain"}, nil
	default:
		return transcodeHTTP(v, obj, isObj)
	}
}

// transcodeHTTP interprets {statusCode, headers, body} (.http and no extension).
func transcodeHTTP(v json.RawMessage, obj map[string]json.RawMessage, isObj bool) (*webResponse, error) {
	invalid := webBad(msgWebInvalidMedia("message/http"))
	if !isObj {
		return nil, invalid
	}
	out := &webResponse{}
	if raw, ok := obj["headers"]; ok {
		var hs map[string]json.RawMessage
		if json.Unmarshal(raw, &hs) != nil || hs == nil {
			return nil, invalid
		}
		for k, hv := range hs {
			vals, ok := headerValues(hv)
			if !ok {
				return nil, invalid
			}
			for _, s := range vals {
				out.headers = append(out.headers, [2]string{k, s})
			}
		}
	}
	code := 0
	if raw, ok := obj["statusCode"]; ok {
		var n json.Number
		var s string
		var err error
		switch {
		case json.Unmarshal(raw, &n) == nil:
			code, err = wholeNumber(n)
		case json.Unmarshal(raw, &s) == nil:
			code, err = strconv.Atoi(s)
		default:
			err = errors.New("not a number")
		}
		// Final statuses only: 1xx would not end the exchange.
		if err != nil || code < 200 || code > 599 {
			return nil, invalid
		}
	}
	status := func(def int) int {
		if code != 0 {
			return code
		}
		return def
	}
	contentType, hasCT := "", false
	for _, h := range out.headers {
		if strings.EqualFold(h[0], "Content-Type") {
			contentType, hasCT = h[1], true
			break
		}
	}
	body := bytes.TrimSpace(obj["body"])
	var str string
	switch {
	case len(body) == 0 || string(body) == "null" || string(body) == `""`:
		out.status = status(http.StatusNoContent)
		return out, nil
	case body[0] == '"':
		if json.Unmarshal(body, &str) != nil {
			return nil, invalid
		}
		out.status = status(http.StatusOK)
		mt, params := "text/html", map[string]string(nil)
		if hasCT {
			var err error
			if mt, params, err = parseMediaType(contentType); err != nil {
				return nil, webBad(msgWebUnknownType)
			}
		}
		class := mediaClassOf(mt, params)
		switch {
		case class == mediaBinary, isJSONFamily(mt) && looksBase64(str):
			b, err := decodeBase64(str)
			if err != nil {
				return nil, webBad(msgWebTypeMismatch)
			}
			out.body = b
		default:
			out.body = []byte(str)
		}
		out.contentType = renderContentType(mt, params, class)
		out.mediaType, out.offered = mt, out.contentType
		return out, nil
	default: // any other JSON value: a JSON response
		out.status = status(http.StatusOK)
		mt := "application/json"
		if hasCT {
			var err error
			if mt, _, err = parseMediaType(contentType); err != nil {
				return nil, webBad(msgWebTypeMismatch)
			}
		}
		if !isJSONFamily(mt) {
			return nil, webBad(msgWebTypeMismatch)
		}
		out.body, out.contentType = prettyJSON(body), mt
		out.mediaType, out.offered = mt, mt
		return out, nil
	}
}

// headerValues flattens a header value: a string, number or boolean, or an
// array of those (a repeated header).
func headerValues(raw json.RawMessage) ([]string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		return []string{s}, true
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil, false
		}
		var out []string
		for _, it := range items {
			vs, ok := headerValues(it)
			if !ok {
				return nil, false
			}
			out = append(out, vs...)
		}
		return out, true
	case 't', 'f':
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return nil, false
		}
		return []string{strconv.FormatBool(b)}, true
	case '{', 'n':
		return nil, false
	default:
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return nil, false
		}
		return []string{n.String()}, true
	}
}

// wholeNumber converts a JSON number without a fractional part to an int.
func wholeNumber(n json.Number) (int, error) {
	if i, err := strconv.Atoi(n.String()); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil || f < -1e9 || f > 1e9 || f != float64(int(f)) {
		return 0, fmt.Errorf("status code %s is not a whole number", n)
	}
	return int(f), nil
}

// validHeaderName reports whether s is an HTTP token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// writeWebResponse negotiates against Accept and writes the response, the
// action's headers replacing the defaults of the same name.
func writeWebResponse(c echo.Context, out *webResponse) error {
	req := c.Request()
	if out.offered != "" && !acceptable(req.Header.Values("Accept"), out.mediaType) {
		return &api.Error{Status: http.StatusNotAcceptable, Message: msgWebNotAcceptable + out.offered}
	}
	h := c.Response().Header()
	seen := map[string]bool{}
	for _, kv := range out.headers {
		name := http.CanonicalHeaderKey(kv[0])
		switch name {
		case "Content-Type", "Content-Length", "Transfer-Encoding":
			continue
		}
		if !validHeaderName(name) {
			continue
		}
		value := strings.NewReplacer("\r", " ", "\n", " ").Replace(kv[1])
		if seen[name] {
			h.Add(name, value)
		} else {
			h.Set(name, value)
			seen[name] = true
		}
	}
	if out.body == nil || out.status == http.StatusNoContent || out.status == http.StatusNotModified {
		return c.NoContent(out.status)
	}
	return c.Blob(out.status, out.contentType, out.body)
}

// acceptable tells whether the Accept header admits a media type. No Accept
// (or none that parses) admits everything; q=0 excludes.
func acceptable(accept []string, mt string) bool {
	parsed := false
	main, _, _ := strings.Cut(mt, "/")
	for _, line := range accept {
		for item := range strings.SplitSeq(line, ",") {
			r, params, err := mime.ParseMediaType(strings.TrimSpace(item))
			if err != nil || !strings.Contains(r, "/") {
				continue
			}
			parsed = true
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f <= 0 {
					continue
				}
			}
			rmain, rsub, _ := strings.Cut(r, "/")
			if r == mt || (rsub == "*" && (rmain == "*" || rmain == main)) {
				return true
			}
		}
	}
	return !parsed
}

// prettyJSON prints valid JSON as upstream's responses do (spray-json's
// pretty printer): object members one per line indented by two spaces,
// arrays on one line. Invalid input is returned as is.
func prettyJSON(raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b bytes.Buffer
	if err := prettyValue(dec, &b, 0); err != nil {
		return raw
	}
	return b.Bytes()
}

func prettyValue(dec *json.Decoder, b *bytes.Buffer, indent int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("pretty print: %w", err)
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			b.WriteByte('[')
			for first := true; dec.More(); first = false {
				if !first {
					b.WriteString(", ")
				}
				if err := prettyValue(dec, b, indent); err != nil {
					return err
				}
			}
			b.WriteByte(']')
		} else {
			if !dec.More() {
				b.WriteString("{}")
				_, err := dec.Token()
				return err
			}
			b.WriteString("{\n")
			for first := true; dec.More(); first = false {
				if !first {
					b.WriteString(",\n")
				}
				key, err := dec.Token()
				if err != nil {
					return fmt.Errorf("pretty print: %w", err)
				}
				b.WriteString(strings.Repeat(" ", indent+2))
				writeJSONString(b, fmt.Sprint(key))
				b.WriteString(": ")
				if err := prettyValue(dec, b, indent+2); err != nil {
					return err
				}
			}
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent))
			b.WriteByte('}')
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case string:
		writeJSONString(b, v)
	case json.Number:
		b.WriteString(v.String())
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	}
	return nil
}

// writeJSONString writes s quoted, escaping only what JSON requires.
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
