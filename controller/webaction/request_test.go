package webaction_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller/webaction"
)

const msgReserved = "Request defines parameters that are not allowed (e.g., reserved properties)."

// decoded is the action's view of its arguments.
func decoded(t *testing.T, args map[string]json.RawMessage) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, raw := range args {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("argument %s is not JSON: %s", k, raw)
		}
		out[k] = v
	}
	return out
}

// wantAPIError checks that err is an *api.Error with the status and message
// the client sees.
func wantAPIError(t *testing.T, what string, err error, status int, msg string) {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) {
		t.Errorf("%s: error %v, want %d %q", what, err, status, msg)
		return
	}
	if e.Status != status || e.Message != msg {
		t.Errorf("%s: %d %q, want %d %q", what, e.Status, e.Message, status, msg)
	}
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestArgumentsContext(t *testing.T) {
	t.Parallel()
	in := webaction.Request{Method: "DELETE", Path: "/a/b%20c/", Host: "example.com:3233", RawQuery: "name=Ada&n=1",
		Header: header("X-Custom", "v1", "X-Twice", "first", "X-Twice", "last", "Accept", "*/*",
			"Content-Length", "0", "Transfer-Encoding", "chunked")}
	args, err := webaction.Arguments(in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"__ow_method": "delete",
		"__ow_path":   "/a/b%20c/",
		"__ow_headers": map[string]any{"x-custom": "v1", "x-twice": "last", "accept": "*/*",
			"host": "example.com:3233"},
		"name": "Ada",
		"n":    "1",
	}
	if got := decoded(t, args); !reflect.DeepEqual(got, want) {
		t.Errorf("arguments = %v\nwant        %v", got, want)
	}

	in.User = "guest"
	args, err = webaction.Arguments(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := decoded(t, args)["__ow_user"]; got != "guest" {
		t.Errorf("__ow_user = %v, want guest", got)
	}
}

func TestArgumentsBodies(t *testing.T) {
	t.Parallel()
	png := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff}
	cases := []struct {
		name, query, contentType, body string
		// fields are arguments the body or query must set; absent lists
		// arguments that must not be there.
		fields      map[string]any
		absent      []string
		headerCType string // __ow_headers content-type ("" = not checked)
	}{
		{name: "no body", query: "q=1", fields: map[string]any{"q": "1"}, absent: []string{"__ow_body"}},
		{name: "json object merges, beating the query", query: "name=q&other=o", contentType: "application/json",
			body: `{"name":"b","x":{"y":1}}`, fields: map[string]any{"name": "b", "other": "o", "x": map[string]any{"y": 1.0}},
			absent: []string{"__ow_body"}, headerCType: "application/json"},
		{name: "+json object merges", contentType: "application/cloudevents+json", body: `{"a":1}`,
			fields: map[string]any{"a": 1.0}, absent: []string{"__ow_body"}},
		{name: "json array", contentType: "application/json", body: `[1,"a b",false]`,
			fields: map[string]any{"__ow_body": []any{1.0, "a b", false}}},
		{name: "json string", contentType: "application/json", body: `"str"`, fields: map[string]any{"__ow_body": "str"}},
		{name: "json number", contentType: "application/json", body: ` 99 `, fields: map[string]any{"__ow_body": 99.0}},
		{name: "json boolean", contentType: "application/json", body: `true`, fields: map[string]any{"__ow_body": true}},
		{name: "blank json", contentType: "application/json", body: "  \n", absent: []string{"__ow_body"}},
		{name: "form merges", query: "f1=q", contentType: "application/x-www-form-urlencoded", body: "f1=v+1&f2=%26&f3=a;b&f3=last",
			fields: map[string]any{"f1": "v 1", "f2": "&", "f3": "last"}, absent: []string{"__ow_body"}},
		{name: "text", contentType: "text/html; charset=UTF-8", body: "1,2,3", fields: map[string]any{"__ow_body": "1,2,3"}},
		{name: "plain text", contentType: "text/plain", body: "just text", fields: map[string]any{"__ow_body": "just text"}},
		{name: "unregistered type with charset is text", contentType: "application/x-thing; charset=latin1", body: "t",
			fields: map[string]any{"__ow_body": "t"}},
		{name: "binary", contentType: "image/png", body: string(png),
			fields: map[string]any{"__ow_body": base64.StdEncoding.EncodeToString(png)}},
		{name: "unregistered type is binary", contentType: "application/x-thing", body: "t",
			fields: map[string]any{"__ow_body": base64.StdEncoding.EncodeToString([]byte("t"))}},
		{name: "image with charset stays binary", contentType: "image/svg; charset=UTF-8", body: "t",
			fields: map[string]any{"__ow_body": base64.StdEncoding.EncodeToString([]byte("t"))}},
		{name: "unparsable type is binary", contentType: "nonsense", body: "t",
			fields: map[string]any{"__ow_body": base64.StdEncoding.EncodeToString([]byte("t"))}, headerCType: "nonsense"},
		{name: "untyped body is octet-stream", body: "t",
			fields:      map[string]any{"__ow_body": base64.StdEncoding.EncodeToString([]byte("t"))},
			headerCType: "application/octet-stream"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if c.contentType != "" {
				h.Set("Content-Type", c.contentType)
			}
			args, err := webaction.Arguments(webaction.Request{Method: "POST", Header: h, RawQuery: c.query, Body: []byte(c.body)})
			if err != nil {
				t.Fatal(err)
			}
			got := decoded(t, args)
			for k, want := range c.fields {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %#v, want %#v", k, got[k], want)
				}
			}
			for _, k := range c.absent {
				if v, ok := got[k]; ok {
					t.Errorf("%s = %#v, want none", k, v)
				}
			}
			if c.headerCType != "" {
				if ct := got["__ow_headers"].(map[string]any)["content-type"]; ct != c.headerCType {
					t.Errorf("__ow_headers content-type = %v, want %s", ct, c.headerCType)
				}
			}
		})
	}
}

func TestArgumentsRefused(t *testing.T) {
	t.Parallel()
	const (
		jsonType = "application/json"
		formType = "application/x-www-form-urlencoded"
	)
	type refusal struct {
		name, query, contentType, body string
		final                          []string
		status                         int
		msg                            string
	}
	cases := []refusal{
		{"malformed json", "", jsonType, `{"a":`, nil, 400, "The request content was malformed:\nunexpected end of JSON input"},
		{"malformed form", "", formType, "a=%zz", nil, 400, "The request content was malformed:\nthe form data could not be decoded"},
		{"malformed query", "a=%zz", "", "", nil, 400, "The request contains bad syntax or cannot be fulfilled."},
		{"final in query", "y=o", "", "", []string{"y"}, 400, msgReserved},
		{"final in form", "", formType, "y=o", []string{"y"}, 400, msgReserved},
		{"final in json", "", jsonType, `{"y":"o"}`, []string{"y"}, 400, msgReserved},
	}
	for _, p := range []string{"__ow_method", "__ow_headers", "__ow_path", "__ow_user", "__ow_query", "__ow_body"} {
		cases = append(cases,
			refusal{p + " in query", p + "=YYY", "", "", nil, 400, msgReserved},
			refusal{p + " in body", "", jsonType, `{"` + p + `":"YYY"}`, nil, 400, msgReserved})
	}
	for _, c := range cases {
		h := http.Header{}
		if c.contentType != "" {
			h.Set("Content-Type", c.contentType)
		}
		_, err := webaction.Arguments(webaction.Request{Method: "POST", Header: h, RawQuery: c.query, Body: []byte(c.body), Final: c.final})
		wantAPIError(t, c.name, err, c.status, c.msg)
	}

	// Parameters that are not final may be set.
	args, err := webaction.Arguments(webaction.Request{Method: "GET", RawQuery: "empty=o&y=o", Final: []string{"other"}})
	if err != nil {
		t.Fatal(err)
	}
	if a := decoded(t, args); a["empty"] != "o" || a["y"] != "o" {
		t.Errorf("arguments = %v", a)
	}
}

func TestArgumentsRawHTTP(t *testing.T) {
	t.Parallel()
	png := []byte{0x89, 'P', 'N', 'G', 0, 0xff}
	cases := []struct {
		name, query, contentType, body string
		wantQuery, wantBody            string
	}{
		{"json is base64", "x=overridden&k=v%20w", "application/json", `{"x":"o","k":2}`,
			"x=overridden&k=v%20w", base64.StdEncoding.EncodeToString([]byte(`{"x":"o","k":2}`))},
		{"form is text", "", "application/x-www-form-urlencoded", "a=b&c=d", "", "a=b&c=d"},
		{"text is text", "", "text/plain", "hi", "", "hi"},
		{"binary is base64", "", "image/png", string(png), "", base64.StdEncoding.EncodeToString(png)},
		{"untyped is base64", "", "", "t", "", base64.StdEncoding.EncodeToString([]byte("t"))},
		{"nothing", "", "", "", "", ""},
		{"reserved names are not merged", "__ow_method=x&__ow_body=y", "", "", "__ow_method=x&__ow_body=y", ""},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.contentType != "" {
			h.Set("Content-Type", c.contentType)
		}
		args, err := webaction.Arguments(webaction.Request{Method: "POST", Header: h, RawQuery: c.query, Body: []byte(c.body),
			Raw: true, Final: []string{"x"}})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		a := decoded(t, args)
		if a["__ow_query"] != c.wantQuery || a["__ow_body"] != c.wantBody || a["__ow_method"] != "post" {
			t.Errorf("%s: __ow_query %q __ow_body %q __ow_method %v, want %q %q post",
				c.name, a["__ow_query"], a["__ow_body"], a["__ow_method"], c.wantQuery, c.wantBody)
		}
		for _, k := range []string{"x", "k", "a"} {
			if v, ok := a[k]; ok {
				t.Errorf("%s: raw request merged %s = %v", c.name, k, v)
			}
		}
	}
}
