package webaction_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller/webaction"
)

const (
	msgInvalidHTTP  = "Response is not valid 'message/http'."
	msgNoProperty   = "Response does not include requested property."
	msgTypeMismatch = "Response type in header did not match generated content type."
)

func TestSplitExtension(t *testing.T) {
	t.Parallel()
	cases := []struct{ segment, name, ext string }{
		{"echo", "echo", ".http"},
		{"echo.http", "echo", ".http"},
		{"echo.json", "echo", ".json"},
		{"echo.html", "echo", ".html"},
		{"echo.svg", "echo", ".svg"},
		{"echo.text", "echo", ".text"},
		{"echo.xyz", "echo.xyz", ".http"},
		{"echo.json.text", "echo.json", ".text"},
		{".json", "", ".json"},
	}
	for _, c := range cases {
		if name, ext := webaction.SplitExtension(c.segment); name != c.name || ext != c.ext {
			t.Errorf("SplitExtension(%q) = %q %q, want %q %q", c.segment, name, ext, c.name, c.ext)
		}
	}
}

func TestSelect(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		result string
		want   string
		err    *api.Error
	}{
		{"success", api.StatusSuccess, ` {"a":1} `, `{"a":1}`, nil},
		{"empty success", api.StatusSuccess, "", `{}`, nil},
		{"application error", api.StatusApplicationError, `{"error":{"statusCode":409}}`, `{"statusCode":409}`, nil},
		{"application error string", api.StatusApplicationError, `{"error":"bad"}`, `"bad"`, nil},
		{"application error without error", api.StatusApplicationError, `{"message":"m"}`, "", &api.Error{Status: 404, Message: msgNoProperty}},
		{"developer error", api.StatusDeveloperError, `{"error":"boom"}`, "", &api.Error{Status: 400, Message: "There was an error processing your request."}},
		{"whisk error", api.StatusWhiskError, `{"error":"boom"}`, "", &api.Error{Status: 400, Message: "There was an error processing your request."}},
	}
	for _, c := range cases {
		got, err := webaction.Select(c.status, json.RawMessage(c.result))
		if c.err != nil {
			wantAPIError(t, c.name, err, c.err.Status, c.err.Message)
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %s %v, want %s", c.name, got, err, c.want)
		}
	}
	wantAPIError(t, "not ready", webaction.NotReady(), http.StatusAccepted, "Response not yet ready.")
}

// transcoded is a response as a client sees it.
type transcoded struct {
	status      int
	contentType string
	body        string
	noBody      bool
	header      http.Header
}

func transcodeCase(ext, result string) (transcoded, error) {
	out, err := webaction.Transcode(ext, json.RawMessage(result))
	if err != nil {
		return transcoded{}, err
	}
	h := out.Header
	if len(h) == 0 {
		h = nil
	}
	return transcoded{status: out.Status, contentType: out.ContentType, body: string(out.Body), noBody: out.Body == nil, header: h}, nil
}

func TestTranscodeExtensions(t *testing.T) {
	t.Parallel()
	const multi = `{"html":"<p>hi</p>","svg":"<svg/>","text":"plain","x":{"a":[1,2],"b":{}}}`
	ok := func(ct, body string) transcoded { return transcoded{status: 200, contentType: ct, body: body} }
	cases := []struct {
		ext, result string
		want        transcoded
		err         *api.Error
	}{
		{".json", multi, ok("application/json",
			"{\n  \"html\": \"<p>hi</p>\",\n  \"svg\": \"<svg/>\",\n  \"text\": \"plain\",\n  \"x\": {\n    \"a\": [1, 2],\n    \"b\": {}\n  }\n}"), nil},
		{".json", `[1,{"a":"b"}]`, ok("application/json", "[1, {\n  \"a\": \"b\"\n}]"), nil},
		{".json", `"str"`, transcoded{}, &api.Error{Status: 400, Message: "Response is not valid 'application/json'."}},
		{".json", `42`, transcoded{}, &api.Error{Status: 400, Message: "Response is not valid 'application/json'."}},

		{".html", multi, ok("text/html; charset=UTF-8", "<p>hi</p>"), nil},
		{".html", `{"body":"<b>b</b>","html":"<p>h</p>"}`, ok("text/html; charset=UTF-8", "<b>b</b>"), nil},
		{".html", `"<i>whole</i>"`, ok("text/html; charset=UTF-8", "<i>whole</i>"), nil},
		{".html", `{"body":{"k":"v"}}`, transcoded{}, &api.Error{Status: 400, Message: "Response is not valid 'text/html'."}},
		{".html", `{"other":1}`, transcoded{}, &api.Error{Status: 400, Message: "Response is not valid 'text/html'."}},

		{".svg", multi, ok("image/svg+xml", "<svg/>"), nil},
		{".svg", `{"body":"<svg b/>","svg":"<svg/>"}`, ok("image/svg+xml", "<svg b/>"), nil},
		{".svg", `{"body":{"k":"v"}}`, transcoded{}, &api.Error{Status: 400, Message: "Response is not valid 'image/svg+xml'."}},

		{".text", multi, ok("text/plain; charset=UTF-8", "plain"), nil},
		{".text", `{"body":{"k":"v"}}`, ok("text/plain; charset=UTF-8", "{\n  \"k\": \"v\"\n}"), nil},
		{".text", `{"text":[1, "a"]}`, ok("text/plain; charset=UTF-8", `[1, "a"]`), nil},
		{".text", `{"text":12.50}`, ok("text/plain; charset=UTF-8", "12.50"), nil},
		{".text", `{"text":null}`, ok("text/plain; charset=UTF-8", "null"), nil},
		{".text", `"whole"`, ok("text/plain; charset=UTF-8", "whole"), nil},
		{".text", `{"other":1}`, transcoded{}, &api.Error{Status: 404, Message: msgNoProperty}},
	}
	for _, c := range cases {
		what := c.ext + " of " + c.result
		got, err := transcodeCase(c.ext, c.result)
		if c.err != nil {
			wantAPIError(t, what, err, c.err.Status, c.err.Message)
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v %v\nwant %+v", what, got, err, c.want)
		}
	}
}

func TestTranscodeHTTP(t *testing.T) {
	t.Parallel()
	png := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0xff}
	pngB64 := base64.StdEncoding.EncodeToString(png)
	cases := []struct {
		name, result string
		want         transcoded
	}{
		{"redirect", `{"headers":{"location":"http://openwhisk.org"},"statusCode":302}`,
			transcoded{status: 302, noBody: true, header: http.Header{"Location": {"http://openwhisk.org"}}}},
		{"custom status", `{"statusCode":444}`, transcoded{status: 444, noBody: true}},
		{"whole float status", `{"statusCode":201.0,"body":"x"}`, transcoded{status: 201, contentType: "text/html; charset=UTF-8", body: "x"}},
		{"string status", `{"statusCode":"201","body":"made"}`, transcoded{status: 201, contentType: "text/html; charset=UTF-8", body: "made"}},
		{"empty object", `{}`, transcoded{status: 204, noBody: true}},
		{"null body", `{"body":null}`, transcoded{status: 204, noBody: true}},
		{"empty string body", `{"body":"","statusCode":200,"headers":{"Content-Type":"application/json","Set-Cookie":"a=b"}}`,
			transcoded{status: 200, noBody: true, header: http.Header{"Set-Cookie": {"a=b"}}}},
		{"not modified drops the body", `{"statusCode":304,"body":"stale"}`, transcoded{status: 304, noBody: true}},
		{"no content drops the body", `{"statusCode":204,"body":{"a":1}}`, transcoded{status: 204, noBody: true}},
		{"repeated and scalar headers", `{"headers":{"Set-Cookie":["a=b","c=d; Path = /"],"X-N":1,"X-B":true},"body":"x"}`,
			transcoded{status: 200, contentType: "text/html; charset=UTF-8", body: "x",
				header: http.Header{"Set-Cookie": {"a=b", "c=d; Path = /"}, "X-N": {"1"}, "X-B": {"true"}}}},
		{"headers cleaned", `{"headers":{"content-length":"99","transfer-encoding":"chunked","bad name":"x","x-multi":"a\r\nb"},"body":"x"}`,
			transcoded{status: 200, contentType: "text/html; charset=UTF-8", body: "x", header: http.Header{"X-Multi": {"a  b"}}}},
		{"png", `{"headers":{"content-type":"image/png"},"body":"` + pngB64 + `"}`,
			transcoded{status: 200, contentType: "image/png", body: string(png)}},
		{"unpadded base64", `{"headers":{"content-type":"image/png"},"body":"` + base64.RawStdEncoding.EncodeToString([]byte("ab")) + `"}`,
			transcoded{status: 200, contentType: "image/png", body: "ab"}},
		{"json string", `{"headers":{"content-type":"application/json"},"body":"hello world"}`,
			transcoded{status: 200, contentType: "application/json", body: "hello world"}},
		{"json base64", `{"headers":{"content-type":"application/json-patch+json"},"body":"` + base64.StdEncoding.EncodeToString([]byte(`{"f":"v"}`)) + `"}`,
			transcoded{status: 200, contentType: "application/json-patch+json", body: `{"f":"v"}`}},
		{"json object", `{"statusCode":201,"body":{"f":"v"}}`, transcoded{status: 201, contentType: "application/json", body: "{\n  \"f\": \"v\"\n}"}},
		{"hal+json object", `{"headers":{"content-type":"application/hal+json"},"body":{"f":"v"}}`,
			transcoded{status: 200, contentType: "application/hal+json", body: "{\n  \"f\": \"v\"\n}"}},
		{"number body", `{"body":3}`, transcoded{status: 200, contentType: "application/json", body: "3"}},
		{"xml gets utf-8", `{"headers":{"Content-Type":"text/xml; charset=latin1"},"body":"<a/>"}`,
			transcoded{status: 200, contentType: "text/xml; charset=UTF-8", body: "<a/>"}},
		{"parameters kept", `{"headers":{"Content-Type":"text/plain; format=flowed"},"body":"p"}`,
			transcoded{status: 200, contentType: "text/plain; format=flowed; charset=UTF-8", body: "p"}},
		{"cors override", `{"headers":{"Access-Control-Allow-Origin":"https://example.com"},"body":"c"}`,
			transcoded{status: 200, contentType: "text/html; charset=UTF-8", body: "c",
				header: http.Header{"Access-Control-Allow-Origin": {"https://example.com"}}}},
	}
	for _, c := range cases {
		for _, ext := range []string{".http", "", ".unknown"} {
			got, err := transcodeCase(ext, c.result)
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s (%q): %+v %v\nwant %+v", c.name, ext, got, err, c.want)
			}
		}
	}

	bad := []struct{ name, result, msg string }{
		{"not an object", `[1,{"a":"b"}]`, msgInvalidHTTP},
		{"string result", `"x"`, msgInvalidHTTP},
		{"bad status", `{"statusCode":"xyz"}`, msgInvalidHTTP},
		{"fractional status", `{"statusCode":200.5}`, msgInvalidHTTP},
		{"status too big", `{"statusCode":600}`, msgInvalidHTTP},
		{"informational status", `{"statusCode":100}`, msgInvalidHTTP},
		{"status object", `{"statusCode":{}}`, msgInvalidHTTP},
		{"headers not an object", `{"headers":"x"}`, msgInvalidHTTP},
		{"nested header", `{"headers":{"a":{"b":1}}}`, msgInvalidHTTP},
		{"null header", `{"headers":{"a":null}}`, msgInvalidHTTP},
		{"header array of objects", `{"headers":{"a":[{"b":1}]}}`, msgInvalidHTTP},
		{"unknown type", `{"headers":{"content-type":"xyzbar"},"body":"hello"}`, "Response did not specify a known content-type."},
		{"object for html", `{"headers":{"content-type":"text/html"},"body":{"f":"v"}}`, msgTypeMismatch},
		{"object for unparsable type", `{"headers":{"content-type":"xyzbar"},"body":{"f":"v"}}`, msgTypeMismatch},
		{"bad binary", `{"headers":{"content-type":"image/png"},"body":"not base64!"}`, msgTypeMismatch},
	}
	for _, c := range bad {
		_, err := transcodeCase(".http", c.result)
		wantAPIError(t, c.name, err, http.StatusBadRequest, c.msg)
	}
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	const multi = `{"html":"<p>hi</p>","text":"t"}`
	notAcceptable := "Resource representation is only available with these types:\n"
	cases := []struct {
		ext, result string
		accept      []string
		offered     string // "" = acceptable
	}{
		{".html", multi, nil, ""},
		{".html", multi, []string{"application/json"}, "text/html; charset=UTF-8"},
		{".html", multi, []string{"application/json, text/*;q=0.5"}, ""},
		{".html", multi, []string{"application/json", "text/html"}, ""},
		{".html", multi, []string{"*/*"}, ""},
		{".html", multi, []string{"not a type"}, ""},
		{".json", multi, []string{"text/html, */*;q=0"}, "application/json"},
		{".text", multi, []string{"text/html"}, "text/plain"},
		{".http", `{"headers":{"content-type":"image/png"},"body":"iVBO"}`, []string{"image/*"}, ""},
		{".http", `{"headers":{"content-type":"text/xml"},"body":"<a/>"}`, []string{"application/json"}, "text/xml; charset=UTF-8"},
		// Empty responses are not negotiated.
		{".http", `{"statusCode":302}`, []string{"image/png"}, ""},
		{".http", `{}`, []string{"image/png"}, ""},
	}
	for _, c := range cases {
		out, err := webaction.Transcode(c.ext, json.RawMessage(c.result))
		if err != nil {
			t.Fatalf("%s %s: %v", c.ext, c.result, err)
		}
		err = out.Negotiate(c.accept)
		what := c.ext + " with Accept " + jsonList(c.accept)
		if c.offered == "" {
			if err != nil {
				t.Errorf("%s: %v, want acceptable", what, err)
			}
			continue
		}
		wantAPIError(t, what, err, http.StatusNotAcceptable, notAcceptable+c.offered)
	}
}

func jsonList(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
