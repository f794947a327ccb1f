package webaction_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/brisk-serverless/brisk/controller/webaction"
)

// TestJSONLayout pins the bytes of JSON bodies: spray-json's PrettyPrinter
// layout, which upstream's web responses use (.json, .text of an object, .http
// with a JSON body).
func TestJSONLayout(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"arrays on one line, objects one member a line",
			`{"a":[1,2,{"b":[]}],"c":{"d":null,"e":false}}`,
			"{\n  \"a\": [1, 2, {\n    \"b\": []\n  }],\n  \"c\": {\n    \"d\": null,\n    \"e\": false\n  }\n}"},
		{"top-level array", `[1,{"a":"b"},[true,"x"]]`, "[1, {\n  \"a\": \"b\"\n}, [true, \"x\"]]"},
		{"empty containers", `[{},[]]`, "[{}, []]"},
		{"input layout ignored", "{ \"a\" :\n [ 1 , 2 ] }", "{\n  \"a\": [1, 2]\n}"},
		{"members keep their order", `{"b":1,"a":2}`, "{\n  \"b\": 1,\n  \"a\": 2\n}"},
		{"numbers keep their text", `{"n":1e3,"m":-0.50}`, "{\n  \"n\": 1e3,\n  \"m\": -0.50\n}"},
		{"html characters are not escaped", `{"s":"<p>&amp;</p>"}`, "{\n  \"s\": \"<p>&amp;</p>\"\n}"},
		{"source escapes are re-encoded", `{"u":"\u0041\/\u00e9"}`, "{\n  \"u\": \"A/é\"\n}"},
		{"control characters", `{"c":"\u0001\u001f\t\n\r\b\f\"\\"}`, "{\n  \"c\": \"\\u0001\\u001f\\t\\n\\r\\b\\f\\\"\\\\\"\n}"},
		{"other characters as they are", `{"l":"\u2028 \u007f 😀"}`, "{\n  \"l\": \"\u2028 \u007f 😀\"\n}"},
		{"escaped keys", `{"k\"\u0041":1}`, "{\n  \"k\\\"A\": 1\n}"},
	}
	for _, c := range cases {
		out, err := webaction.Transcode(webaction.ExtJSON, json.RawMessage(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(out.Body) != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, out.Body, c.want)
		}
	}
}

// TestJSONLayoutNotEncodingJSON records why the package prints JSON itself:
// encoding/json lays out arrays and strings otherwise.
func TestJSONLayoutNotEncodingJSON(t *testing.T) {
	t.Parallel()
	in := `{"a":[1,2],"s":"<p>\u0041</p>"}`
	want := "{\n  \"a\": [1, 2],\n  \"s\": \"<p>A</p>\"\n}"
	out, err := webaction.Transcode(webaction.ExtJSON, json.RawMessage(in))
	if err != nil || string(out.Body) != want {
		t.Fatalf("Transcode = %q %v, want %q", out.Body, err, want)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, []byte(in), "", "  "); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	marshaled, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if indented.String() == want || string(marshaled) == want {
		t.Errorf("encoding/json now gives upstream's bytes (Indent %q, MarshalIndent %q): prettyJSON could go", indented.String(), marshaled)
	}
}
