package wskcompat

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// webPNG is the image actions/nodejs/webhttp.js answers at /png.
const webPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"

const msgReserved = "Request defines parameters that are not allowed (e.g., reserved properties)."

// TestWebActions drives web actions with plain HTTP requests,
// the actions created through openwhisk-client-go with the annotations
// `wsk action create --web true` sets. The standalone server throttles guest
// at 60 invocations a minute: the subtests stay well below.
func TestWebActions(t *testing.T) {
	srv := harness.Start(t)
	c := srv.Client

	t.Run("Arguments", func(t *testing.T) { testWebArguments(t, srv, c) })
	t.Run("HTTPResponses", func(t *testing.T) { testWebHTTPResponses(t, srv, c) })
	t.Run("Extensions", func(t *testing.T) { testWebExtensions(t, srv, c) })
	t.Run("Python", func(t *testing.T) { testWebPython(t, srv, c) })
	t.Run("RawHTTP", func(t *testing.T) { testWebRawHTTP(t, srv, c) })
	t.Run("RequireWhiskAuth", func(t *testing.T) { testWebRequireWhiskAuth(t, srv, c) })
	t.Run("CORS", func(t *testing.T) { testWebCORS(t, srv, c) })
	t.Run("NotFound", func(t *testing.T) { testWebNotFound(t, srv, c) })
	t.Run("Package", func(t *testing.T) { testWebPackage(t, srv, c) })
}

// webAnnotations are `wsk action create --web true`'s annotations, then extra
// key/value pairs (a later key replaces an earlier one).
func webAnnotations(extra ...any) whisk.KeyValueArr {
	kvs := whisk.KeyValueArr{{Key: "web-export", Value: true}, {Key: "final", Value: true}, {Key: "raw-http", Value: false}}
	for i := 0; i+1 < len(extra); i += 2 {
		key := extra[i].(string)
		replaced := false
		for j := range kvs {
			if kvs[j].Key == key {
				kvs[j].Value, replaced = extra[i+1], true
			}
		}
		if !replaced {
			kvs = append(kvs, whisk.KeyValue{Key: key, Value: extra[i+1]})
		}
	}
	return kvs
}

// createWebAction creates a web action from a file under actions/.
func createWebAction(t *testing.T, c *whisk.Client, name, kind, file string, params whisk.KeyValueArr, extra ...any) {
	t.Helper()
	a := newAction(name, kind, actionSource(t, file))
	a.Annotations = webAnnotations(extra...)
	a.Parameters = params
	got := mustInsert(t, c, a, false)
	if v, ok := clientAnnotation(got.Annotations, "web-export"); !ok || v != true {
		t.Fatalf("created action annotations = %v, want web-export true", got.Annotations)
	}
}

// webURL is the web path of guest's action in the default package.
func webURL(name string) string { return "/api/v1/web/" + harness.GuestNamespace + "/default/" + name }

// webDo sends a request without following redirects. headers are
// "Name", "value" pairs; a "Content-Type" among them types the body.
func webDo(t *testing.T, srv *harness.Server, method, path string, body []byte, headers ...string) rawResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.APIHost+path, rd)
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	client := &http.Client{Timeout: 90 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// webJSON checks a 200 JSON answer and decodes it.
func webJSON(t *testing.T, r rawResponse) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.Status, r.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object (%v): %s", err, r.Body)
	}
	return m
}

// webError checks an error answer in upstream's {"error","code"} shape.
func webError(t *testing.T, what string, r rawResponse, status int, msg string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d; body %s", what, r.Status, status, r.Body)
		return
	}
	var e struct{ Error, Code string }
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error != msg || e.Code != r.Header.Get("X-Request-ID") {
		t.Errorf("%s: body %s, want error %q with code = X-Request-ID", what, r.Body, msg)
	}
}

func testWebArguments(t *testing.T, srv *harness.Server, c *whisk.Client) {
	name := uniqueName("web-echo")
	createWebAction(t, c, name, kindNode, "nodejs/echo.js", whisk.KeyValueArr{{Key: "greeting", Value: "hi"}})

	r := webDo(t, srv, http.MethodGet, webURL(name)+".json/extra/path?name=Ada&n=1", nil, "X-Compat", "yes")
	a := webJSON(t, r)
	if a["__ow_method"] != "get" || a["__ow_path"] != "/extra/path" || a["name"] != "Ada" || a["n"] != "1" || a["greeting"] != "hi" {
		t.Errorf("arguments = %v", a)
	}
	if h, _ := a["__ow_headers"].(map[string]any); h["x-compat"] != "yes" || h["host"] != srv.Addr {
		t.Errorf("__ow_headers = %v", a["__ow_headers"])
	}
	if _, ok := a["__ow_user"]; ok {
		t.Errorf("anonymous request got __ow_user = %v", a["__ow_user"])
	}
	// The activation is the owner's: readable with guest's key.
	id := r.Header.Get("x-openwhisk-activation-id")
	if act := waitActivation(t, c, id, false); act.Name != name || act.Namespace != harness.GuestNamespace {
		t.Errorf("activation %s = %s/%s", id, act.Namespace, act.Name)
	}

	a = webJSON(t, webDo(t, srv, http.MethodPost, webURL(name)+".json?name=query", []byte(`{"name":"Bob","list":[1,2]}`), "Content-Type", "application/json"))
	if a["__ow_method"] != "post" || a["__ow_path"] != "" || a["name"] != "Bob" || !reflect.DeepEqual(a["list"], []any{1.0, 2.0}) {
		t.Errorf("JSON body arguments = %v", a)
	}
	a = webJSON(t, webDo(t, srv, http.MethodPut, webURL(name)+".json", []byte("just text"), "Content-Type", "text/plain"))
	if a["__ow_body"] != "just text" || a["__ow_method"] != "put" {
		t.Errorf("text body arguments = %v", a)
	}

	webError(t, "final parameter", webDo(t, srv, http.MethodGet, webURL(name)+".json?greeting=bye", nil), http.StatusBadRequest, msgReserved)
	webError(t, "reserved in query", webDo(t, srv, http.MethodGet, webURL(name)+".json?__ow_method=x", nil), http.StatusBadRequest, msgReserved)
	webError(t, "reserved in body", webDo(t, srv, http.MethodPost, webURL(name)+".json", []byte(`{"__ow_headers":{}}`), "Content-Type", "application/json"),
		http.StatusBadRequest, msgReserved)
}

func testWebHTTPResponses(t *testing.T, srv *harness.Server, c *whisk.Client) {
	name := uniqueName("web-http")
	createWebAction(t, c, name, kindNode, "nodejs/webhttp.js", nil)

	r := webDo(t, srv, http.MethodGet, webURL(name)+"/redirect", nil)
	if r.Status != http.StatusFound || r.Header.Get("Location") != "https://openwhisk.apache.org/" {
		t.Errorf("redirect: %d %v", r.Status, r.Header)
	}
	png, _ := base64.StdEncoding.DecodeString(webPNG)
	r = webDo(t, srv, http.MethodGet, webURL(name)+".http/png", nil)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "image/png" || !bytes.Equal(r.Body, png) {
		t.Errorf("png: %d %q %q", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	r = webDo(t, srv, http.MethodPost, webURL(name)+"/cookies", nil)
	if r.Status != http.StatusCreated || string(r.Body) != "<p>made</p>" || r.Header.Get("Content-Type") != "text/html; charset=UTF-8" ||
		!reflect.DeepEqual(r.Header.Values("Set-Cookie"), []string{"a=b", "c=d; Path=/"}) {
		t.Errorf("cookies: %d %v %q", r.Status, r.Header, r.Body)
	}
	r = webDo(t, srv, http.MethodPatch, webURL(name)+"/json", nil)
	var body map[string]any
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(r.Body, &body) != nil || body["method"] != "patch" {
		t.Errorf("json: %d %q %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	if r = webDo(t, srv, http.MethodGet, webURL(name)+"/empty", nil); r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Errorf("empty: %d %q", r.Status, r.Body)
	}
	// An application error answers with its "error" field.
	if r = webDo(t, srv, http.MethodGet, webURL(name)+"/teapot", nil); r.Status != http.StatusTeapot || string(r.Body) != "short and stout" {
		t.Errorf("teapot: %d %q", r.Status, r.Body)
	}
}

func testWebExtensions(t *testing.T, srv *harness.Server, c *whisk.Client) {
	name := uniqueName("web-page")
	createWebAction(t, c, name, kindNode, "nodejs/webpage.js", nil)

	cases := []struct{ ext, ct, body string }{
		{".html?name=Ada", "text/html; charset=UTF-8", "<html><body>hello Ada</body></html>"},
		{".svg", "image/svg+xml", `<svg xmlns="http://www.w3.org/2000/svg"><circle cx="3" cy="3" r="3"/></svg>`},
		{".text", "text/plain; charset=UTF-8", "plain stranger"},
	}
	for _, cs := range cases {
		r := webDo(t, srv, http.MethodGet, webURL(name)+cs.ext, nil)
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != cs.ct || string(r.Body) != cs.body {
			t.Errorf("%s: %d %q %q, want 200 %q %q", cs.ext, r.Status, r.Header.Get("Content-Type"), r.Body, cs.ct, cs.body)
		}
	}
	a := webJSON(t, webDo(t, srv, http.MethodGet, webURL(name)+".json", nil))
	if a["text"] != "plain stranger" || len(a) != 3 {
		t.Errorf(".json = %v", a)
	}
	webError(t, ".html with Accept: application/json", webDo(t, srv, http.MethodGet, webURL(name)+".html", nil, "Accept", "application/json"),
		http.StatusNotAcceptable, "Resource representation is only available with these types:\ntext/html; charset=UTF-8")
	// No html/svg/text field: upstream's texts.
	echo := uniqueName("web-echo")
	createWebAction(t, c, echo, kindNode, "nodejs/echo.js", nil)
	webError(t, "echo .html", webDo(t, srv, http.MethodGet, webURL(echo)+".html", nil), http.StatusBadRequest, "Response is not valid 'text/html'.")
}

func testWebPython(t *testing.T, srv *harness.Server, c *whisk.Client) {
	name := uniqueName("web-py")
	createWebAction(t, c, name, kindPython, "python/webhello.py", nil)
	r := webDo(t, srv, http.MethodGet, webURL(name)+"?name=Grace", nil)
	if r.Status != http.StatusOK || string(r.Body) != "hello Grace" || r.Header.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Errorf("python web action: %d %q %q", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
}

func testWebRawHTTP(t *testing.T, srv *harness.Server, c *whisk.Client) {
	name := uniqueName("web-raw")
	createWebAction(t, c, name, kindNode, "nodejs/echo.js", whisk.KeyValueArr{{Key: "x", Value: "fixed"}}, "raw-http", true)
	body := []byte(`{"x":"overridden"}`)
	a := webJSON(t, webDo(t, srv, http.MethodPost, webURL(name)+".json?x=q&k=v", body, "Content-Type", "application/json"))
	if a["__ow_query"] != "x=q&k=v" || a["__ow_body"] != base64.StdEncoding.EncodeToString(body) || a["x"] != "fixed" || a["k"] != nil {
		t.Errorf("raw arguments = %v", a)
	}
}

func testWebRequireWhiskAuth(t *testing.T, srv *harness.Server, c *whisk.Client) {
	const unauthorized = "Authentication is possible but has failed or not yet been provided."
	secret := uniqueName("web-secret")
	createWebAction(t, c, secret, kindNode, "nodejs/echo.js", nil, "require-whisk-auth", "let-me-in")
	webError(t, "no secret", webDo(t, srv, http.MethodGet, webURL(secret)+".json", nil), http.StatusUnauthorized, unauthorized)
	webError(t, "wrong secret", webDo(t, srv, http.MethodGet, webURL(secret)+".json", nil, "X-Require-Whisk-Auth", "nope"), http.StatusUnauthorized, unauthorized)
	webJSON(t, webDo(t, srv, http.MethodGet, webURL(secret)+".json", nil, "X-Require-Whisk-Auth", "let-me-in"))

	user := uniqueName("web-user")
	createWebAction(t, c, user, kindNode, "nodejs/echo.js", nil, "require-whisk-auth", true)
	webError(t, "anonymous", webDo(t, srv, http.MethodGet, webURL(user)+".json", nil), http.StatusUnauthorized, unauthorized)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(srv.Auth))
	a := webJSON(t, webDo(t, srv, http.MethodGet, webURL(user)+".json", nil, "Authorization", basic))
	if a["__ow_user"] != harness.GuestNamespace {
		t.Errorf("__ow_user = %v, want %s", a["__ow_user"], harness.GuestNamespace)
	}
}

func testWebCORS(t *testing.T, srv *harness.Server, c *whisk.Client) {
	name := uniqueName("web-cors")
	createWebAction(t, c, name, kindNode, "nodejs/webhttp.js", nil)
	const methods = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
	r := webDo(t, srv, http.MethodOptions, webURL(name)+"/options", nil, "Access-Control-Request-Headers", "x-custom")
	if r.Status != http.StatusOK || len(r.Body) != 0 || r.Header.Get("Access-Control-Allow-Origin") != "*" ||
		r.Header.Get("Access-Control-Allow-Methods") != methods || r.Header.Get("Access-Control-Allow-Headers") != "x-custom" {
		t.Errorf("OPTIONS: %d %v %q", r.Status, r.Header, r.Body)
	}
	r = webDo(t, srv, http.MethodGet, webURL(name)+"/empty", nil)
	if r.Header.Get("Access-Control-Allow-Methods") != methods ||
		r.Header.Get("Access-Control-Allow-Headers") != "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent" {
		t.Errorf("GET CORS headers: %v", r.Header)
	}

	custom := uniqueName("web-options")
	createWebAction(t, c, custom, kindNode, "nodejs/webhttp.js", nil, "web-custom-options", true)
	r = webDo(t, srv, http.MethodOptions, webURL(custom)+"/options", nil)
	if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "https://example.com" ||
		r.Header.Get("Access-Control-Allow-Methods") != "OPTIONS, GET" || r.Header.Get("Access-Control-Allow-Headers") != "" {
		t.Errorf("custom OPTIONS: %d %v", r.Status, r.Header)
	}
}

func testWebNotFound(t *testing.T, srv *harness.Server, c *whisk.Client) {
	private := uniqueName("web-private")
	mustInsert(t, c, newAction(private, kindNode, actionSource(t, "nodejs/echo.js")), false)
	notExported := "The requested resource does not exist."
	for what, path := range map[string]string{
		"not exported":      webURL(private) + ".json",
		"missing action":    webURL(uniqueName("web-missing")),
		"unknown namespace": "/api/v1/web/" + uniqueName("nobody") + "/default/" + private + ".json",
		"missing package":   "/api/v1/web/guest/" + uniqueName("nopkg") + "/" + private + ".json",
	} {
		webError(t, what, webDo(t, srv, http.MethodGet, path, nil), http.StatusNotFound, notExported)
	}
	webError(t, "no action segment", webDo(t, srv, http.MethodGet, "/api/v1/web/guest/default", nil), http.StatusNotFound,
		"The requested resource could not be found.")
}

func testWebPackage(t *testing.T, srv *harness.Server, c *whisk.Client) {
	pkg := uniqueName("web-pkg")
	_, resp, err := c.Packages.Insert(&whisk.Package{Name: pkg, Parameters: whisk.KeyValueArr{{Key: "place", Value: "package"}}}, false)
	if err != nil {
		t.Fatalf("create package: status %s: %v", status(resp), err)
	}
	name := pkg + "/echo"
	createWebAction(t, c, name, kindNode, "nodejs/echo.js", nil)
	a := webJSON(t, webDo(t, srv, http.MethodGet, "/api/v1/web/guest/"+pkg+"/echo.json?q=1", nil))
	if a["place"] != "package" || a["q"] != "1" {
		t.Errorf("arguments in a package = %v", a)
	}
	webError(t, "package action by the default package", webDo(t, srv, http.MethodGet, webURL("echo")+".json", nil),
		http.StatusNotFound, "The requested resource does not exist.")
}
