package webaction

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/brisk-serverless/brisk/api"
)

// Upstream's messages for web action responses.
const (
	msgPropertyNotFound = "Response does not include requested property."
	msgResponseNotReady = "Response not yet ready."
	msgUnknownType      = "Response did not specify a known content-type."
	msgTypeMismatch     = "Response type in header did not match generated content type."
	msgProcessingError  = "There was an error processing your request."
	msgNotAcceptable    = "Resource representation is only available with these types:\n"
)

func msgInvalidMedia(mediaType string) string {
	return "Response is not valid '" + mediaType + "'."
}

// The extensions of a web path. No known extension means HTTP.
const (
	ExtHTTP = ".http"
	ExtJSON = ".json"
	ExtHTML = ".html"
	ExtSVG  = ".svg"
	ExtText = ".text"
)

// extensions are the supported extensions in upstream's matching order.
var extensions = []string{ExtHTTP, ExtJSON, ExtHTML, ExtSVG, ExtText}

// SplitExtension splits the action segment of a web path into the action
// name and its extension; a segment without a known extension is the name
// itself, with ExtHTTP.
func SplitExtension(segment string) (name, ext string) {
	for _, ext := range extensions {
		if base, cut := strings.CutSuffix(segment, ext); cut {
			return base, ext
		}
	}
	return segment, ExtHTTP
}

func bad(msg string) error { return &api.Error{Status: http.StatusBadRequest, Message: msg} }

// NotReady is upstream's 202 for a web action whose activation did not end
// within the blocking wait.
func NotReady() error {
	return &api.Error{Status: http.StatusAccepted, Message: msgResponseNotReady}
}

// Select picks the value a finished activation answers with: the whole
// result on success, the "error" field of an application error (a 404 if it
// has none), and upstream's 400 for developer and system errors. An empty
// result is the empty object.
func Select(statusCode int, result json.RawMessage) (json.RawMessage, error) {
	result = bytes.TrimSpace(result)
	if len(result) == 0 {
		result = []byte("{}")
	}
	switch statusCode {
	case api.StatusSuccess:
		return result, nil
	case api.StatusApplicationError:
		var fields map[string]json.RawMessage
		if json.Unmarshal(result, &fields) != nil || fields["error"] == nil {
			return nil, &api.Error{Status: http.StatusNotFound, Message: msgPropertyNotFound}
		}
		return fields["error"], nil
	default:
		return nil, bad(msgProcessingError)
	}
}

// Response is a transcoded result, ready to be written.
type Response struct {
	Status int
	// Header holds the action's own headers (.http only), names canonical,
	// values on one line; they replace any default header of the same name.
	// Content-Type, Content-Length and Transfer-Encoding are never among them.
	Header http.Header
	// ContentType and Body are the entity; a nil Body is a response without
	// one (write the status alone).
	ContentType string
	Body        []byte
	// mediaType and offered drive content negotiation against Accept;
	// offered is upstream's text for the 406 ("" = no negotiation).
	mediaType, offered string
}

// Negotiate checks the response against the request's Accept header values:
// upstream's 406 when none of them admits the response's media type. No
// Accept (or none that parses) admits everything; q=0 excludes.
func (r *Response) Negotiate(accept []string) error {
	if r.offered == "" || acceptable(accept, r.mediaType) {
		return nil
	}
	return &api.Error{Status: http.StatusNotAcceptable, Message: msgNotAcceptable + r.offered}
}

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

// Transcode turns the selected value (see Select) into the response the
// extension asks for; an unknown extension is ExtHTTP.
func Transcode(ext string, v json.RawMessage) (*Response, error) {
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
	case ExtJSON:
		if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
			return nil, bad(msgInvalidMedia("application/json"))
		}
		return &Response{Status: http.StatusOK, ContentType: "application/json", Body: prettyJSON(v),
			mediaType: "application/json", offered: "application/json"}, nil
	case ExtHTML, ExtSVG:
		mt, name, ct := "text/html", "html", "text/html; charset=UTF-8"
		if ext == ExtSVG {
			mt, name, ct = "image/svg+xml", "svg", "image/svg+xml"
		}
		f, _ := field("body", name)
		f = bytes.TrimSpace(f)
		var s string
		if len(f) == 0 || f[0] != '"' || json.Unmarshal(f, &s) != nil {
			return nil, bad(msgInvalidMedia(mt))
		}
		return &Response{Status: http.StatusOK, ContentType: ct, Body: []byte(s), mediaType: mt, offered: ct}, nil
	case ExtText:
		f, ok := field("body", "text")
		if !ok {
			return nil, &api.Error{Status: http.StatusNotFound, Message: msgPropertyNotFound}
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
		return &Response{Status: http.StatusOK, ContentType: "text/plain; charset=UTF-8", Body: b,
			mediaType: "text/plain", offered: "text/plain"}, nil
	default:
		out, err := transcodeHTTP(obj, isObj)
		if err != nil {
			return nil, err
		}
		if out.Status == http.StatusNoContent || out.Status == http.StatusNotModified {
			out.ContentType, out.Body = "", nil
		}
		return out, nil
	}
}

// transcodeHTTP interprets {statusCode, headers, body} (.http and no extension).
func transcodeHTTP(obj map[string]json.RawMessage, isObj bool) (*Response, error) {
	invalid := bad(msgInvalidMedia("message/http"))
	if !isObj {
		return nil, invalid
	}
	var headers [][2]string
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
				headers = append(headers, [2]string{k, s})
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
	for _, h := range headers {
		if strings.EqualFold(h[0], "Content-Type") {
			contentType, hasCT = h[1], true
			break
		}
	}
	out := &Response{Header: responseHeader(headers)}
	body := bytes.TrimSpace(obj["body"])
	var str string
	switch {
	case len(body) == 0 || string(body) == "null" || string(body) == `""`:
		out.Status = status(http.StatusNoContent)
		return out, nil
	case body[0] == '"':
		if json.Unmarshal(body, &str) != nil {
			return nil, invalid
		}
		out.Status = status(http.StatusOK)
		mt, params := "text/html", map[string]string(nil)
		if hasCT {
			var err error
			if mt, params, err = parseMediaType(contentType); err != nil {
				return nil, bad(msgUnknownType)
			}
		}
		class := mediaClassOf(mt, params)
		switch {
		case class == mediaBinary, isJSONFamily(mt) && looksBase64(str):
			b, err := decodeBase64(str)
			if err != nil {
				return nil, bad(msgTypeMismatch)
			}
			out.Body = b
		default:
			out.Body = []byte(str)
		}
		out.ContentType = renderContentType(mt, params, class)
		out.mediaType, out.offered = mt, out.ContentType
		return out, nil
	default: // any other JSON value: a JSON response
		out.Status = status(http.StatusOK)
		mt := "application/json"
		if hasCT {
			var err error
			if mt, _, err = parseMediaType(contentType); err != nil {
				return nil, bad(msgTypeMismatch)
			}
		}
		if !isJSONFamily(mt) {
			return nil, bad(msgTypeMismatch)
		}
		out.Body, out.ContentType = prettyJSON(body), mt
		out.mediaType, out.offered = mt, mt
		return out, nil
	}
}

// responseHeader keeps the action's headers that may be written: names that
// are HTTP tokens, other than the entity's framing and type, with line breaks
// in values turned into spaces.
func responseHeader(headers [][2]string) http.Header {
	h := http.Header{}
	for _, kv := range headers {
		name := http.CanonicalHeaderKey(kv[0])
		switch name {
		case "Content-Type", "Content-Length", "Transfer-Encoding":
			continue
		}
		if !validHeaderName(name) {
			continue
		}
		h[name] = append(h[name], strings.NewReplacer("\r", " ", "\n", " ").Replace(kv[1]))
	}
	return h
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
