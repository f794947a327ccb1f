package webaction

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/brisk-serverless/brisk/api"
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

// Request is what the arguments of a web action are built from.
type Request struct {
	Method   string      // the HTTP method, any case
	Path     string      // __ow_path: the rest of the path after the action segment, "" if none
	Host     string      // the Host of the request, "" if unknown
	Header   http.Header // the request headers (Host and framing headers are handled apart)
	RawQuery string      // the query string, still escaped
	Body     []byte      // the whole request body
	// User is the namespace of valid credentials sent with the request, ""
	// for an anonymous request (no __ow_user then).
	User string
	// Raw is the raw-http annotation: query and body are passed as
	// __ow_query and __ow_body instead of being merged.
	Raw bool
	// Final names the parameters the request may not set (the action's
	// non-null parameters when it is annotated final).
	Final []string
}

// Arguments builds the action's arguments from a request: the __ow_* context,
// then (unless raw) query parameters and body fields, the body winning.
// Query or body fields naming a reserved or final parameter are refused with
// upstream's 400; a body that does not parse as its media type is a 400
// "The request content was malformed".
func Arguments(r Request) (map[string]json.RawMessage, error) {
	args := map[string]json.RawMessage{}
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		args[k] = b
	}
	set(owMethod, strings.ToLower(r.Method))
	headers := map[string]string{}
	for k, v := range r.Header {
		if len(v) > 0 {
			headers[strings.ToLower(k)] = v[len(v)-1]
		}
	}
	delete(headers, "content-length")
	delete(headers, "transfer-encoding")
	if r.Host != "" {
		headers["host"] = r.Host
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" && len(r.Body) > 0 {
		ct = "application/octet-stream"
		headers["content-type"] = ct
	}
	set(owHeaders, headers)
	set(owPath, r.Path)
	if r.User != "" {
		set(owUser, r.User)
	}
	hasEntity := ct != "" || len(r.Body) > 0
	mt, params, err := parseMediaType(ct)
	if err != nil {
		mt, params = "application/octet-stream", nil
	}
	class := mediaClassOf(mt, params)

	if r.Raw {
		set(owQuery, r.RawQuery)
		switch {
		case !hasEntity:
			set(owBody, "")
		case class == mediaBinary || mt == "application/json":
			set(owBody, base64.StdEncoding.EncodeToString(r.Body))
		default:
			set(owBody, string(r.Body))
		}
		return args, nil
	}

	query, err := parseForm(r.RawQuery)
	if err != nil {
		return nil, &api.Error{Status: http.StatusBadRequest, Message: api.MsgBadRequest, Err: err}
	}
	var fields map[string]json.RawMessage // a JSON object or form body
	var opaque json.RawMessage            // any other body, as __ow_body
	switch body := r.Body; {
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
			malformed := api.Malformed("the form data could not be decoded")
			malformed.Err = err
			return nil, malformed
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

	reserved := append(append([]string{}, owReserved...), r.Final...)
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
