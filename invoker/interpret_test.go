package invoker

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/api"
)

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("result %s is not JSON: %v", got, err)
		return false
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

func errJSON(msg string) string {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return string(b)
}

const invalidRun = "The action did not produce a valid JSON or JSON Array response"

// TestInterpretRun follows upstream's
// ActivationResponse.processRunResponseContent.
func TestInterpretRun(t *testing.T) {
	tests := []struct {
		name       string
		resp       proxyResponse
		maxBytes   int
		wantStatus int
		wantResult string
	}{
		{"200 object", proxyResponse{Status: 200, Body: []byte(`{"greeting":"hi","n":[1,2]}`)}, 0,
			api.StatusSuccess, `{"greeting":"hi","n":[1,2]}`},
		{"200 object padded", proxyResponse{Status: 200, Body: []byte(" \n{\"a\":1}\n")}, 0,
			api.StatusSuccess, `{"a":1}`},
		{"200 empty object", proxyResponse{Status: 200, Body: []byte(`{}`)}, 0,
			api.StatusSuccess, `{}`},
		{"200 object with error keeps only error", proxyResponse{Status: 200, Body: []byte(`{"error":"boom","partial":true,"n":3}`)}, 0,
			api.StatusApplicationError, `{"error":"boom"}`},
		{"200 object with structured error", proxyResponse{Status: 200, Body: []byte(`{"error":{"code":7,"msg":"x"},"other":1}`)}, 0,
			api.StatusApplicationError, `{"error":{"code":7,"msg":"x"}}`},
		{"200 object with null error", proxyResponse{Status: 200, Body: []byte(`{"error":null,"x":1}`)}, 0,
			api.StatusApplicationError, `{"error":null}`},
		{"200 array", proxyResponse{Status: 200, Body: []byte(`[1,{"a":2},"three"]`)}, 0,
			api.StatusSuccess, `[1,{"a":2},"three"]`},
		{"200 empty array", proxyResponse{Status: 200, Body: []byte(`[]`)}, 0,
			api.StatusSuccess, `[]`},
		{"502 object with error", proxyResponse{Status: 502, Body: []byte(`{"error":"An error has occurred: boom.","more":1}`)}, 0,
			api.StatusDeveloperError, `{"error":"An error has occurred: boom."}`},
		{"400 object with structured error", proxyResponse{Status: 400, Body: []byte(`{"error":{"why":"bad"}}`)}, 0,
			api.StatusDeveloperError, `{"error":{"why":"bad"}}`},
		{"502 object without error", proxyResponse{Status: 502, Body: []byte(`{"ok":false}`)}, 0,
			api.StatusDeveloperError, errJSON(invalidRun + `: {"ok":false}`)},
		{"502 array", proxyResponse{Status: 502, Body: []byte(`[1,2]`)}, 0,
			api.StatusDeveloperError, errJSON(invalidRun + `: [1,2]`)},
		{"200 invalid JSON", proxyResponse{Status: 200, Body: []byte(`this is not json`)}, 0,
			api.StatusDeveloperError, errJSON(invalidRun + `: this is not json`)},
		{"200 broken object", proxyResponse{Status: 200, Body: []byte(`{"a":`)}, 0,
			api.StatusDeveloperError, errJSON(invalidRun + `: {"a":`)},
		{"500 invalid JSON", proxyResponse{Status: 500, Body: []byte(`<html>oops</html>`)}, 0,
			api.StatusDeveloperError, errJSON(invalidRun + `: <html>oops</html>`)},
		{"200 empty body", proxyResponse{Status: 200, Body: nil}, 0,
			api.StatusDeveloperError, errJSON(invalidRun)},
		{"200 blank body", proxyResponse{Status: 200, Body: []byte(" \n")}, 0,
			api.StatusDeveloperError, errJSON(invalidRun)},
		{"200 string", proxyResponse{Status: 200, Body: []byte(`"just a string"`)}, 0,
			api.StatusDeveloperError, errJSON(invalidRun + `: "just a string"`)},
		{"200 number", proxyResponse{Status: 200, Body: []byte(`42`)}, 0,
			api.StatusDeveloperError, errJSON(invalidRun + `: 42`)},
		{"200 null", proxyResponse{Status: 200, Body: []byte(`null`)}, 0,
			api.StatusDeveloperError, errJSON(invalidRun + `: null`)},
		{"truncated", proxyResponse{Status: 200, Body: []byte(`{"big":"xxxxxx`), Truncated: true, Length: 2000}, 14,
			api.StatusApplicationError, errJSON(`The action produced a response that exceeded the allowed length: 2000 > 14 bytes. The truncated response was: {"big":"xxxxxx`)},
		{"truncated non-200", proxyResponse{Status: 502, Body: []byte(`[1,2,3,4`), Truncated: true, Length: 1 << 21}, 8,
			api.StatusApplicationError, errJSON(`The action produced a response that exceeded the allowed length: 2097152 > 8 bytes. The truncated response was: [1,2,3,4`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.resp
			status, result := interpretRun(&resp, tt.maxBytes)
			if status != tt.wantStatus {
				t.Errorf("status %d, want %d (result %s)", status, tt.wantStatus, result)
			}
			if !jsonEqual(t, result, []byte(tt.wantResult)) {
				t.Errorf("result\n got %s\nwant %s", result, tt.wantResult)
			}
		})
	}
}

func TestInitError(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"error string", `{"error":"Missing main/no code to execute."}`, `{"error":"Missing main/no code to execute."}`},
		{"error object, other fields dropped", `{"error":{"line":3},"stack":"x"}`, `{"error":{"line":3}}`},
		{"object without error", `{"message":"nope"}`, errJSON(`The action failed during initialization: {"message":"nope"}`)},
		{"not JSON", `Internal Server Error`, errJSON(`The action failed during initialization: Internal Server Error`)},
		{"empty", ``, errJSON(`The action failed during initialization: `)},
		{"array", `["error"]`, errJSON(`The action failed during initialization: ["error"]`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := initError([]byte(tt.body))
			if !jsonEqual(t, got, []byte(tt.want)) {
				t.Errorf("initError(%q) = %s, want %s", tt.body, got, tt.want)
			}
		})
	}
}

func TestSplitInitArgs(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		initArgs []string
		wantArgs string
		wantEnv  map[string]string
	}{
		{"no content", ``, nil, `{}`, nil},
		{"no content with init args", ``, []string{"a"}, `{}`, nil},
		{"no init args", `{"a":1,"b":"x"}`, nil, `{"a":1,"b":"x"}`, nil},
		{"empty init args", `{"a":1}`, []string{}, `{"a":1}`, nil},
		{
			"values stringified",
			`{"s":"text","n":42,"f":1.5,"t":true,"o":{"k":[1,2]},"arr":["x"],"z":null,"keep":{"v":1}}`,
			[]string{"s", "n", "f", "t", "o", "arr", "z", "absent"},
			`{"keep":{"v":1}}`,
			map[string]string{"s": "text", "n": "42", "f": "1.5", "t": "true", "o": `{"k":[1,2]}`, "arr": `["x"]`, "z": ""},
		},
		{"empty string stays empty", `{"e":"","x":1}`, []string{"e"}, `{"x":1}`, map[string]string{"e": ""}},
		{"all moved", `{"secret":"s3"}`, []string{"secret"}, `{}`, map[string]string{"secret": "s3"}},
		{"array content untouched", `[1,2]`, []string{"a"}, `[1,2]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, env := splitInitArgs(json.RawMessage(tt.content), tt.initArgs)
			if !jsonEqual(t, args, []byte(tt.wantArgs)) {
				t.Errorf("args %s, want %s", args, tt.wantArgs)
			}
			if len(env) != len(tt.wantEnv) || (len(env) > 0 && !maps.Equal(env, tt.wantEnv)) {
				t.Errorf("env %q, want %q", env, tt.wantEnv)
			}
			if _, ok := env["absent"]; ok {
				t.Error("a listed init arg missing from the content appeared in env")
			}
		})
	}
	// The caller's content is not modified.
	content := json.RawMessage(`{"a":"1","b":2}`)
	before := strings.Clone(string(content))
	splitInitArgs(content, []string{"a"})
	if string(content) != before {
		t.Errorf("content modified: %s", content)
	}
}
