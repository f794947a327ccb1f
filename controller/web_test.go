package controller_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
)

const webPrefix = "/api/v1/web/guest/default/"

// newWebEnv is newInvokeEnv with throttles out of the way and an optional
// shorter blocking wait.
func newWebEnv(t *testing.T, waitMs int) *env {
	t.Helper()
	k := startKafka(t)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Driver: "brisk-embedded", DSN: filepath.Join(t.TempDir(), "brisk.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, s := range []api.SubjectDoc{
		{ID: "guest", Subject: "guest", Namespaces: []api.NamespaceKey{{Name: "guest", UUID: guestUUID, Key: guestKey}}},
		{ID: "whisk.system", Subject: "whisk.system", Namespaces: []api.NamespaceKey{{Name: "whisk.system", UUID: systemUUID, Key: systemKey}}},
	} {
		if err := st.EnsureSubject(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	limits := api.DefaultLimits()
	limits.InvocationsPerMinute, limits.ConcurrentInvocations = 100000, 1000
	if waitMs > 0 {
		limits.MaxBlockingWaitMs = waitMs
	}
	srv := controller.New(controller.Config{Manifest: api.DefaultManifest(), Limits: limits,
		Build: "2024-01-01T00:00:00Z", BuildNo: "brisk-test"}, st, k.balancer, quietLogger())
	return &env{t: t, store: st, h: srv.Handler()}
}

// webAnnotations are what `wsk action create --web true` sets, plus extra.
func webAnnotations(extra ...any) []any {
	kv := api.KeyValues{}.Set("web-export", true).Set("final", true).Set("raw-http", false)
	for i := 0; i+1 < len(extra); i += 2 {
		kv = kv.Set(extra[i].(string), extra[i+1])
	}
	out := []any{}
	for _, p := range kv {
		out = append(out, map[string]any{"key": p.Key, "value": p.Value})
	}
	return out
}

// putWebAction creates guest/name as a web action; the fake invoker answers
// with b (nil: the arguments as result).
func (e *env) putWebAction(name string, b behaviour, params []any, extra ...any) {
	e.t.Helper()
	if b != nil {
		startKafka(e.t).inv.on(name, b)
	}
	body := map[string]any{"annotations": webAnnotations(extra...)}
	if params != nil {
		body["parameters"] = params
	}
	e.putAction(actionsPath+name, body)
}

// webReq sends a request to a web path with optional body and headers
// ("Name", "value" pairs).
func (e *env) webReq(method, path string, body []byte, headers ...string) *response {
	e.t.Helper()
	var req *http.Request
	if body != nil {
		req = httptest.NewRequest(method, path, bytes.NewReader(body))
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return e.serve(req)
}

// returns answers success with a fixed result.
func returns(result string) behaviour { return answer(api.StatusSuccess, json.RawMessage(result)) }

// args decodes the echoed arguments of a .json response.
func args(t *testing.T, r *response) map[string]any {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	return r.object(t)
}

func TestWebArguments(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 0)
	e.putWebAction("wa-echo", nil, []any{map[string]any{"key": "greeting", "value": "hi"}})

	r := e.webReq(http.MethodGet, webPrefix+"wa-echo.json?name=Ada&n=1", nil, "X-Custom", "v1", "Accept", "*/*")
	a := args(t, r)
	if a["__ow_method"] != "get" || a["__ow_path"] != "" || a["name"] != "Ada" || a["n"] != "1" || a["greeting"] != "hi" {
		t.Errorf("arguments = %v", a)
	}
	h, _ := a["__ow_headers"].(map[string]any)
	if h["x-custom"] != "v1" || h["accept"] != "*/*" || h["host"] == nil {
		t.Errorf("__ow_headers = %v", h)
	}
	if _, ok := a["__ow_user"]; ok {
		t.Errorf("anonymous request has __ow_user: %v", a)
	}
	if _, ok := a["__ow_body"]; ok {
		t.Errorf("request without body has __ow_body: %v", a)
	}
	if api.CheckActivationID(r.header.Get("x-openwhisk-activation-id")) != nil {
		t.Errorf("no activation id header: %v", r.header)
	}

	// The rest of the path, other methods, credentials.
	req := httptest.NewRequest(http.MethodDelete, webPrefix+"wa-echo.json/a/b%20c/", nil)
	req.SetBasicAuth(guestUUID, guestKey)
	a = args(t, e.serve(req))
	if a["__ow_method"] != "delete" || a["__ow_path"] != "/a/b%20c/" || a["__ow_user"] != "guest" {
		t.Errorf("arguments = %v", a)
	}
	// Invalid credentials make an anonymous request, not a 401.
	req = httptest.NewRequest(http.MethodGet, webPrefix+"wa-echo.json", nil)
	req.SetBasicAuth(guestUUID, strings.Repeat("x", 64))
	if a = args(t, e.serve(req)); a["__ow_user"] != nil {
		t.Errorf("invalid credentials gave __ow_user %v", a["__ow_user"])
	}

	// Bodies: a JSON object merges (beating the query), other JSON values,
	// text and binary go to __ow_body, forms merge.
	a = args(t, e.webReq(http.MethodPost, webPrefix+"wa-echo.json?name=q&other=o", []byte(`{"name":"b","x":{"y":1}}`), "Content-Type", "application/json"))
	if a["name"] != "b" || a["other"] != "o" || !reflect.DeepEqual(a["x"], map[string]any{"y": 1.0}) {
		t.Errorf("JSON object body: %v", a)
	}
	if h := a["__ow_headers"].(map[string]any); h["content-type"] != "application/json" {
		t.Errorf("__ow_headers content-type = %v", h["content-type"])
	}
	for body, want := range map[string]any{`[1,"a b",false]`: []any{1.0, "a b", false}, `"str"`: "str", `99`: 99.0, `true`: true} {
		a = args(t, e.webReq(http.MethodPut, webPrefix+"wa-echo.json", []byte(body), "Content-Type", "application/json"))
		if !reflect.DeepEqual(a["__ow_body"], want) {
			t.Errorf("JSON body %s: __ow_body = %#v, want %#v", body, a["__ow_body"], want)
		}
	}
	a = args(t, e.webReq(http.MethodPost, webPrefix+"wa-echo.json", []byte(`{"a":1}`), "Content-Type", "application/cloudevents+json"))
	if a["a"] != 1.0 {
		t.Errorf("+json object body not merged: %v", a)
	}
	a = args(t, e.webReq(http.MethodPost, webPrefix+"wa-echo.json", []byte("1,2,3"), "Content-Type", "text/html; charset=UTF-8"))
	if a["__ow_body"] != "1,2,3" {
		t.Errorf("text body: __ow_body = %v", a["__ow_body"])
	}
	png := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff}
	a = args(t, e.webReq(http.MethodPost, webPrefix+"wa-echo.json", png, "Content-Type", "image/png"))
	if a["__ow_body"] != base64.StdEncoding.EncodeToString(png) {
		t.Errorf("binary body: __ow_body = %v", a["__ow_body"])
	}
	a = args(t, e.webReq(http.MethodPost, webPrefix+"wa-echo.json", []byte("f1=v+1&f2=%26"), "Content-Type", "application/x-www-form-urlencoded"))
	if a["f1"] != "v 1" || a["f2"] != "&" {
		t.Errorf("form body: %v", a)
	}
	wantError(t, e.webReq(http.MethodPost, webPrefix+"wa-echo.json", []byte(`{"a":`), "Content-Type", "application/json"),
		http.StatusBadRequest, "The request content was malformed:\nunexpected end of JSON input")
}

func TestWebRawHTTP(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 0)
	e.putWebAction("wa-raw", nil, []any{map[string]any{"key": "x", "value": "fixed"}}, "raw-http", true)

	a := args(t, e.webReq(http.MethodPost, webPrefix+"wa-raw.json?x=overridden&k=v%20w", []byte(`{"x":"o","k":2}`), "Content-Type", "application/json"))
	if a["__ow_query"] != "x=overridden&k=v%20w" || a["__ow_body"] != base64.StdEncoding.EncodeToString([]byte(`{"x":"o","k":2}`)) {
		t.Errorf("raw arguments = %v", a)
	}
	if a["x"] != "fixed" || a["k"] != nil {
		t.Errorf("raw action got query or body fields merged: %v", a)
	}
	a = args(t, e.webReq(http.MethodPost, webPrefix+"wa-raw.json", []byte("a=b&c=d"), "Content-Type", "application/x-www-form-urlencoded"))
	if a["__ow_body"] != "a=b&c=d" || a["__ow_query"] != "" {
		t.Errorf("raw form = %v", a)
	}
	a = args(t, e.webReq(http.MethodGet, webPrefix+"wa-raw.json", nil))
	if a["__ow_body"] != "" || a["__ow_query"] != "" {
		t.Errorf("raw without body or query: %v", a)
	}
	// Reserved names are not refused in raw mode: they are not merged.
	if a = args(t, e.webReq(http.MethodGet, webPrefix+"wa-raw.json?__ow_method=x", nil)); a["__ow_method"] != "get" {
		t.Errorf("raw __ow_method = %v", a["__ow_method"])
	}
}

func TestWebReservedAndFinal(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 0)
	e.putWebAction("wa-final", nil, []any{
		map[string]any{"key": "y", "value": "Y"}, map[string]any{"key": "empty", "value": nil}})

	for _, p := range []string{"__ow_method", "__ow_headers", "__ow_path", "__ow_user", "__ow_query", "__ow_body"} {
		wantError(t, e.webReq(http.MethodGet, webPrefix+"wa-final.json?"+p+"=YYY", nil), http.StatusBadRequest, api.MsgReservedParams)
		wantError(t, e.webReq(http.MethodPost, webPrefix+"wa-final.json", []byte(`{"`+p+`":"YYY"}`), "Content-Type", "application/json"),
			http.StatusBadRequest, api.MsgReservedParams)
	}
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wa-final.json?y=overridden", nil), http.StatusBadRequest, api.MsgReservedParams)
	wantError(t, e.webReq(http.MethodPost, webPrefix+"wa-final.json", []byte("y=o"), "Content-Type", "application/x-www-form-urlencoded"),
		http.StatusBadRequest, api.MsgReservedParams)
	if a := args(t, e.webReq(http.MethodGet, webPrefix+"wa-final.json?empty=overridden", nil)); a["empty"] != "overridden" || a["y"] != "Y" {
		t.Errorf("a null parameter is not final: %v", a)
	}

	// Without the final annotation, parameters may be overridden.
	e.putAction(actionsPath+"wa-notfinal", map[string]any{
		"annotations": []any{map[string]any{"key": "web-export", "value": true}},
		"parameters":  []any{map[string]any{"key": "y", "value": "Y"}}})
	if a := args(t, e.webReq(http.MethodGet, webPrefix+"wa-notfinal.json?y=o", nil)); a["y"] != "o" {
		t.Errorf("not final: y = %v", a["y"])
	}
}

func TestWebNotFound(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 0)
	e.putAction(actionsPath+"wa-private", nil)
	e.putAction(actionsPath+"wa-stringexport", map[string]any{"annotations": []any{map[string]any{"key": "web-export", "value": "true"}}})
	e.putWebAction("wa-ok", returns(`{"ok":true}`), nil)

	for _, p := range []string{
		webPrefix + "wa-private.json", webPrefix + "wa-private", webPrefix + "wa-stringexport.json",
		webPrefix + "wa-missing.json", "/api/v1/web/nobody/default/wa-ok.json", "/api/v1/web/guest/nopkg/wa-ok.json",
		webPrefix + "wa-ok.xyz",
	} {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodOptions} {
			r := e.webReq(m, p, nil)
			wantError(t, r, http.StatusNotFound, api.MsgNotFound)
			if r.header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("%s %s: CORS headers on a missing action", m, p)
			}
		}
	}
	// Paths that are not web action routes.
	for _, p := range []string{"/api/v1/web", "/api/v1/web/guest", "/api/v1/web/guest/default", "/api/v1/web/guest/default/",
		webPrefix + ".json", "/api/v1/web/guest//wa-ok", "/api/v1/web/gu%2Fest/default/wa-ok", "/api/v1/web/-bad/default/wa-ok"} {
		wantError(t, e.webReq(http.MethodGet, p, nil), http.StatusNotFound, api.MsgRouteNotFound)
		r := e.webReq(http.MethodOptions, p, nil)
		wantStatus(t, r, http.StatusOK)
		if string(r.body) != "OK" || r.header.Get("Access-Control-Allow-Methods") != "GET, DELETE, POST, PUT, HEAD" {
			t.Errorf("OPTIONS %s: %q %v", p, r.body, r.header)
		}
	}
	// The action is reachable, and the API's namespace rules do not apply.
	wantStatus(t, e.webReq(http.MethodGet, webPrefix+"wa-ok.json", nil), http.StatusOK)
	wantError(t, e.webReq(http.MethodTrace, webPrefix+"wa-ok.json", nil), http.StatusMethodNotAllowed,
		"HTTP method not allowed, supported methods: GET, DELETE, POST, PUT, HEAD, OPTIONS, PATCH")
}

func TestWebExtensions(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 0)
	e.putWebAction("wa-multi", returns(`{"html":"<p>hi</p>","svg":"<svg/>","text":"plain","x":{"a":[1,2],"b":{}}}`), nil)
	e.putWebAction("wa-body", returns(`{"body":{"k":"v"}}`), nil)
	e.putWebAction("wa-list", returns(`[1,{"a":"b"}]`), nil)
	e.putWebAction("wa-none", returns(`{"other":1}`), nil)

	cases := []struct {
		path, ct, body string
	}{
		{"wa-multi.json", "application/json", "{\n  \"html\": \"<p>hi</p>\",\n  \"svg\": \"<svg/>\",\n  \"text\": \"plain\",\n  \"x\": {\n    \"a\": [1, 2],\n    \"b\": {}\n  }\n}"},
		{"wa-list.json", "application/json", "[1, {\n  \"a\": \"b\"\n}]"},
		{"wa-multi.html", "text/html; charset=UTF-8", "<p>hi</p>"},
		{"wa-multi.svg", "image/svg+xml", "<svg/>"},
		{"wa-multi.text", "text/plain; charset=UTF-8", "plain"},
		{"wa-body.text", "text/plain; charset=UTF-8", "{\n  \"k\": \"v\"\n}"},
	}
	for _, c := range cases {
		r := e.webReq(http.MethodGet, webPrefix+c.path, nil)
		wantStatus(t, r, http.StatusOK)
		if r.header.Get("Content-Type") != c.ct || string(r.body) != c.body {
			t.Errorf("%s: %q %q, want %q %q", c.path, r.header.Get("Content-Type"), r.body, c.ct, c.body)
		}
	}
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wa-body.html", nil), http.StatusBadRequest, "Response is not valid 'text/html'.")
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wa-body.svg", nil), http.StatusBadRequest, "Response is not valid 'image/svg+xml'.")
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wa-none.text", nil), http.StatusNotFound, "Response does not include requested property.")
	// An object without statusCode, headers or body is an empty response.
	if r := e.webReq(http.MethodGet, webPrefix+"wa-none", nil); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf(".http of an object without body: %d %q", r.status, r.body)
	}
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wa-list.http", nil), http.StatusBadRequest, "Response is not valid 'message/http'.")

	// Content negotiation against Accept.
	r := e.webReq(http.MethodGet, webPrefix+"wa-multi.html", nil, "Accept", "application/json")
	wantError(t, r, http.StatusNotAcceptable, "Resource representation is only available with these types:\ntext/html; charset=UTF-8")
	if api.CheckActivationID(r.header.Get("x-openwhisk-activation-id")) != nil {
		t.Errorf("406 without activation id header")
	}
	wantStatus(t, e.webReq(http.MethodGet, webPrefix+"wa-multi.html", nil, "Accept", "application/json, text/*;q=0.5"), http.StatusOK)
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wa-multi.json", nil, "Accept", "text/html, */*;q=0"),
		http.StatusNotAcceptable, "Resource representation is only available with these types:\napplication/json")
}

func TestWebHTTPResponses(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 0)
	png := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0xff}
	pngB64 := base64.StdEncoding.EncodeToString(png)
	cases := []struct {
		name, result string
		status       int
		ct, body     string
		headers      map[string][]string
	}{
		{"redirect", `{"headers":{"location":"http://openwhisk.org"},"statusCode":302}`, 302, "", "", map[string][]string{"Location": {"http://openwhisk.org"}}},
		{"custom", `{"statusCode":444}`, 444, "", "", nil},
		{"strcode", `{"statusCode":"201","body":"made"}`, 201, "text/html; charset=UTF-8", "made", nil},
		{"empty", `{}`, 204, "", "", nil},
		{"emptystr", `{"body":"","statusCode":200,"headers":{"Content-Type":"application/json","Set-Cookie":"a=b"}}`, 200, "", "", map[string][]string{"Set-Cookie": {"a=b"}}},
		{"cookies", `{"headers":{"Set-Cookie":["a=b","c=d; Path = /"],"X-N":1,"X-B":true},"body":"x"}`, 200, "text/html; charset=UTF-8", "x",
			map[string][]string{"Set-Cookie": {"a=b", "c=d; Path = /"}, "X-N": {"1"}, "X-B": {"true"}}},
		{"png", `{"headers":{"content-type":"image/png"},"body":"` + pngB64 + `"}`, 200, "image/png", string(png), nil},
		{"jsonstring", `{"headers":{"content-type":"application/json"},"body":"hello world"}`, 200, "application/json", "hello world", nil},
		{"jsonb64", `{"headers":{"content-type":"application/json-patch+json"},"body":"` + base64.StdEncoding.EncodeToString([]byte(`{"f":"v"}`)) + `"}`,
			200, "application/json-patch+json", `{"f":"v"}`, nil},
		{"jsonobject", `{"statusCode":201,"body":{"f":"v"}}`, 201, "application/json", "{\n  \"f\": \"v\"\n}", nil},
		{"haljson", `{"headers":{"content-type":"application/hal+json"},"body":{"f":"v"}}`, 200, "application/hal+json", "{\n  \"f\": \"v\"\n}", nil},
		{"number", `{"body":3}`, 200, "application/json", "3", nil},
		{"xml", `{"headers":{"Content-Type":"text/xml"},"body":"<a/>"}`, 200, "text/xml; charset=UTF-8", "<a/>", nil},
		{"corsoverride", `{"headers":{"Access-Control-Allow-Origin":"https://example.com"},"body":"c"}`, 200, "text/html; charset=UTF-8", "c",
			map[string][]string{"Access-Control-Allow-Origin": {"https://example.com"}}},
	}
	for _, c := range cases {
		e.putWebAction("wh-"+c.name, returns(c.result), nil)
	}
	for _, c := range cases {
		for _, ext := range []string{"", ".http"} {
			var accept []string
			if c.body == "" { // empty responses are not negotiated
				accept = []string{"Accept", "image/png"}
			}
			r := e.webReq(http.MethodGet, webPrefix+"wh-"+c.name+ext, nil, accept...)
			if r.status != c.status || r.header.Get("Content-Type") != c.ct || string(r.body) != c.body {
				t.Errorf("%s%s: %d %q %q, want %d %q %q", c.name, ext, r.status, r.header.Get("Content-Type"), r.body, c.status, c.ct, c.body)
			}
			for k, want := range c.headers {
				if got := r.header.Values(k); !reflect.DeepEqual(got, want) {
					t.Errorf("%s%s: header %s = %q, want %q", c.name, ext, k, got, want)
				}
			}
		}
	}
	// HEAD runs the action too.
	r := e.webReq(http.MethodHead, webPrefix+"wh-redirect", nil)
	if r.status != 302 || r.header.Get("Location") != "http://openwhisk.org" {
		t.Errorf("HEAD: %d %v", r.status, r.header)
	}

	bad := []struct{ name, result, msg string }{
		{"badcode", `{"statusCode":"xyz"}`, "Response is not valid 'message/http'."},
		{"fraccode", `{"statusCode":200.5}`, "Response is not valid 'message/http'."},
		{"bigcode", `{"statusCode":600}`, "Response is not valid 'message/http'."},
		{"badheaders", `{"headers":"x"}`, "Response is not valid 'message/http'."},
		{"nestedheader", `{"headers":{"a":{"b":1}}}`, "Response is not valid 'message/http'."},
		{"badtype", `{"headers":{"content-type":"xyzbar"},"body":"hello"}`, "Response did not specify a known content-type."},
		{"mismatch", `{"headers":{"content-type":"text/html"},"body":{"f":"v"}}`, "Response type in header did not match generated content type."},
		{"badbinary", `{"headers":{"content-type":"image/png"},"body":"not base64!"}`, "Response type in header did not match generated content type."},
	}
	for _, c := range bad {
		e.putWebAction("wh-"+c.name, returns(c.result), nil)
		wantError(t, e.webReq(http.MethodGet, webPrefix+"wh-"+c.name, nil), http.StatusBadRequest, c.msg)
	}
}

func TestWebActivationOutcomes(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 300)
	e.putWebAction("wo-apperr", answer(api.StatusApplicationError, json.RawMessage(`{"error":{"statusCode":409,"body":"no hello for you"}}`)), nil)
	e.putWebAction("wo-apperr-json", answer(api.StatusApplicationError, json.RawMessage(`{"error":"bad response type"}`)), nil)
	e.putWebAction("wo-apperr-none", answer(api.StatusApplicationError, json.RawMessage(`{"message":"m"}`)), nil)
	e.putWebAction("wo-deverr", answer(api.StatusDeveloperError, json.RawMessage(`{"error":"boom"}`)), nil)
	e.putWebAction("wo-whiskerr", answer(api.StatusWhiskError, json.RawMessage(`{"error":"boom"}`)), nil)
	e.putWebAction("wo-slow", silent, nil)

	r := e.webReq(http.MethodGet, webPrefix+"wo-apperr", nil)
	if r.status != 409 || string(r.body) != "no hello for you" {
		t.Errorf("application error projection: %d %q", r.status, r.body)
	}
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wo-apperr-json.json", nil), http.StatusBadRequest, "Response is not valid 'application/json'.")
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wo-apperr-none.json", nil), http.StatusNotFound, "Response does not include requested property.")
	for _, name := range []string{"wo-deverr", "wo-whiskerr"} {
		for _, ext := range []string{".json", ".text", ".http"} {
			wantError(t, e.webReq(http.MethodGet, webPrefix+name+ext, nil), http.StatusBadRequest, "There was an error processing your request.")
		}
	}
	r = e.webReq(http.MethodGet, webPrefix+"wo-slow.json", nil)
	wantError(t, r, http.StatusAccepted, "Response not yet ready.")
	if api.CheckActivationID(r.header.Get("x-openwhisk-activation-id")) != nil {
		t.Errorf("202 without activation id header")
	}
}

func TestWebRequireWhiskAuth(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 0)
	e.putWebAction("wr-user", nil, nil, "require-whisk-auth", true)
	e.putWebAction("wr-secret", nil, nil, "require-whisk-auth", "s3cret")
	e.putWebAction("wr-number", nil, nil, "require-whisk-auth", 1234)
	e.putWebAction("wr-off", nil, nil, "require-whisk-auth", false)
	e.putWebAction("wr-custom", returns(`{"headers":{"Access-Control-Allow-Methods":"OPTIONS, GET, PATCH"}}`), nil,
		"require-whisk-auth", true, "web-custom-options", true)
	unauthorized := "Authentication is possible but has failed or not yet been provided."

	wantError(t, e.webReq(http.MethodGet, webPrefix+"wr-user.json", nil), http.StatusUnauthorized, unauthorized)
	req := httptest.NewRequest(http.MethodGet, webPrefix+"wr-user.json", nil)
	req.SetBasicAuth(systemUUID, systemKey) // any valid user, not only the owner
	if a := args(t, e.serve(req)); a["__ow_user"] != "whisk.system" {
		t.Errorf("__ow_user = %v", a["__ow_user"])
	}
	req = httptest.NewRequest(http.MethodGet, webPrefix+"wr-user.json", nil)
	req.SetBasicAuth(guestUUID, systemKey)
	wantError(t, e.serve(req), http.StatusUnauthorized, unauthorized)

	wantError(t, e.webReq(http.MethodGet, webPrefix+"wr-secret.json", nil), http.StatusUnauthorized, unauthorized)
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wr-secret.json", nil, "X-Require-Whisk-Auth", "wrong"), http.StatusUnauthorized, unauthorized)
	args(t, e.webReq(http.MethodGet, webPrefix+"wr-secret.json", nil, "X-Require-Whisk-Auth", "s3cret"))
	args(t, e.webReq(http.MethodGet, webPrefix+"wr-number.json", nil, "X-Require-Whisk-Auth", "1234"))
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wr-number.json", nil), http.StatusUnauthorized, unauthorized)
	args(t, e.webReq(http.MethodGet, webPrefix+"wr-off.json", nil))

	// OPTIONS needs no authentication: answered by the default CORS, or
	// by the action itself with web-custom-options.
	wantStatus(t, e.webReq(http.MethodOptions, webPrefix+"wr-user.json", nil), http.StatusOK)
	r := e.webReq(http.MethodOptions, webPrefix+"wr-custom", nil)
	wantStatus(t, r, http.StatusNoContent)
	if r.header.Get("Access-Control-Allow-Methods") != "OPTIONS, GET, PATCH" || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("custom OPTIONS headers = %v", r.header)
	}
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wr-custom", nil), http.StatusUnauthorized, unauthorized)
}

func TestWebCORS(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 0)
	k := startKafka(t)
	e.putWebAction("wc-default", returns(`{"body":"b"}`), nil)
	e.putWebAction("wc-custom", returns(`{"statusCode":200,"headers":{"Allow":"GET"}}`), nil, "web-custom-options", true)
	invocations := func(name string) int {
		k.inv.mu.Lock()
		defer k.inv.mu.Unlock()
		n := 0
		for _, m := range k.inv.got {
			if m.Action.Name == name && m.User.Namespace.Name == "guest" {
				n++
			}
		}
		return n
	}
	for _, m := range []string{http.MethodGet, http.MethodOptions} {
		for _, reqHeaders := range []string{"", "x-custom-header"} {
			var hs []string
			if reqHeaders != "" {
				hs = []string{"Access-Control-Request-Headers", reqHeaders}
			}
			r := e.webReq(m, webPrefix+"wc-default", nil, hs...)
			wantStatus(t, r, http.StatusOK)
			wantAllow := "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
			if reqHeaders != "" {
				wantAllow = reqHeaders
			}
			if r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Methods") != "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH" ||
				r.header.Get("Access-Control-Allow-Headers") != wantAllow {
				t.Errorf("%s (%q): CORS headers %v", m, reqHeaders, r.header)
			}
			if m == http.MethodOptions && len(r.body) != 0 {
				t.Errorf("OPTIONS body = %q", r.body)
			}
		}
	}
	if n := invocations("wc-default"); n != 2 {
		t.Errorf("wc-default ran %d times, want 2 (OPTIONS does not run it)", n)
	}
	r := e.webReq(http.MethodOptions, webPrefix+"wc-custom", nil, "Access-Control-Request-Headers", "x-custom-header")
	wantStatus(t, r, http.StatusOK)
	if r.header.Get("Allow") != "GET" || r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Headers") != "" {
		t.Errorf("custom options headers = %v", r.header)
	}
	if n := invocations("wc-custom"); n != 1 {
		t.Errorf("wc-custom ran %d times, want 1", n)
	}
}

func TestWebPayloadTooLarge(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 0)
	e.putWebAction("wl-echo", nil, nil)
	limit := api.DefaultLimits().MaxPayloadBytes
	big := []byte(`{"a":"` + strings.Repeat("a", limit) + `"}`)
	wantError(t, e.webReq(http.MethodPost, webPrefix+"wl-echo.json", big, "Content-Type", "application/json"),
		http.StatusRequestEntityTooLarge, "Request larger than allowed: 1048584 > 1048576 bytes.")
	ok := []byte(`{"a":"` + strings.Repeat("a", limit-20) + `"}`)
	wantStatus(t, e.webReq(http.MethodPost, webPrefix+"wl-echo.text", ok, "Content-Type", "application/json"), http.StatusNotFound)
}

func TestWebInPackage(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 0)
	e.putPackage("guest", "wp-pkg")
	e.putAction(actionsPath+"wp-pkg/wp-echo", map[string]any{"annotations": webAnnotations(),
		"parameters": []any{map[string]any{"key": "y", "value": "Y"}}})
	a := args(t, e.webReq(http.MethodGet, "/api/v1/web/guest/wp-pkg/wp-echo.json?q=1", nil))
	if a["y"] != "Y" || a["q"] != "1" {
		t.Errorf("arguments = %v", a)
	}
	wantError(t, e.webReq(http.MethodGet, webPrefix+"wp-echo.json", nil), http.StatusNotFound, api.MsgNotFound)
	k := startKafka(t)
	m := k.inv.message(t, lastActivation(t, e, "/api/v1/web/guest/wp-pkg/wp-echo.json"))
	if m.Action.Path != "guest/wp-pkg" || m.User.Namespace.Name != "guest" {
		t.Errorf("activation message action %+v user %+v", m.Action, m.User.Namespace)
	}
}

// lastActivation runs a web action and returns its activation id.
func lastActivation(t *testing.T, e *env, path string) string {
	t.Helper()
	r := e.webReq(http.MethodGet, path, nil)
	wantStatus(t, r, http.StatusOK)
	return r.header.Get("x-openwhisk-activation-id")
}

// The activation runs as the owner of the namespace in the path, whoever calls.
func TestWebRunsAsOwner(t *testing.T) {
	t.Parallel()
	e := newWebEnv(t, 0)
	e.putWebAction("wu-echo", nil, nil)
	req := httptest.NewRequest(http.MethodGet, webPrefix+"wu-echo.json", nil)
	req.SetBasicAuth(systemUUID, systemKey)
	r := e.serve(req)
	wantStatus(t, r, http.StatusOK)
	m := startKafka(t).inv.message(t, r.header.Get("x-openwhisk-activation-id"))
	want := messaging.Namespace{Name: "guest", UUID: guestUUID}
	if m.User.Namespace != want || m.User.Subject != "guest" {
		t.Errorf("activation user = %+v, want the owner guest", m.User)
	}
}
