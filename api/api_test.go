package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	good := []string{"a", "hello", "hello world", "a@b.c&d-e", "x_1", strings.Repeat("a", 256)}
	for _, n := range good {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q) = %v, want ok", n, err)
		}
	}
	bad := map[string]string{
		"":                       MsgIllegalName,
		"a/b":                    MsgIllegalName,
		"trailing ":              MsgIllegalName,
		" leading":               MsgIllegalName,
		"-x":                     MsgIllegalName,
		"ünï":                    MsgIllegalName,
		strings.Repeat("a", 257): "Name segement longer than allowed: 257 > 256.",
	}
	for n, want := range bad {
		err := CheckName(n)
		e, ok := AsError(err)
		if !ok || e.Status != http.StatusBadRequest || e.Message != want {
			t.Errorf("CheckName(%q) = %v, want 400 %q", n, err, want)
		}
	}
}

func TestParseFQN(t *testing.T) {
	cases := map[string]string{"/ns/a": "/ns/a", "/_/p/a": "/guest/p/a", "a": "/guest/a", "p/a": "/guest/p/a"}
	for in, want := range cases {
		f, err := ParseFQN(in, "guest")
		if err != nil || f.String() != want {
			t.Errorf("ParseFQN(%q) = %v, %v; want %s", in, f, err, want)
		}
	}
	for _, in := range []string{"/ns", "/a/b/c/d", "a/b/c", "/ns/bad name "} {
		if _, err := ParseFQN(in, "guest"); err == nil {
			t.Errorf("ParseFQN(%q) succeeded", in)
		}
	}
}

func TestActivationID(t *testing.T) {
	id := NewActivationID()
	if err := CheckActivationID(id); err != nil {
		t.Fatalf("fresh id %q rejected: %v", id, err)
	}
	if e, _ := AsError(CheckActivationID("abc")); e == nil || e.Message != "Activation id length is 3 but must be 32." {
		t.Errorf("short id: %v", e)
	}
	if e, _ := AsError(CheckActivationID(strings.Repeat("z", 32))); e == nil || e.Message != MsgActivationIDInvalid {
		t.Errorf("non-hex id: %v", e)
	}
}

func TestDecodeActionPut(t *testing.T) {
	m, lim := DefaultManifest(), DefaultLimits()
	p, err := DecodeActionPut([]byte(`{"exec":{"kind":"nodejs:default","code":"function main(){}"},"parameters":[{"key":"a","value":1},{"key":"b","value":"x","init":true}],"limits":{"timeout":1000}}`), m, lim)
	if err != nil {
		t.Fatal(err)
	}
	if p.Exec.Kind != "nodejs:20" || p.Exec.Binary || *p.Exec.Code != "function main(){}" {
		t.Errorf("exec = %+v", p.Exec)
	}
	if len(p.Parameters) != 2 || !p.Parameters[1].Init || string(p.Parameters[0].Value) != "1" {
		t.Errorf("parameters = %+v", p.Parameters)
	}
	if got := p.Limits.Apply(lim.Defaults()); got.Timeout != 1000 || got.Memory != 256 {
		t.Errorf("limits = %+v", got)
	}

	p, err = DecodeActionPut([]byte(`{"exec":{"kind":"python:default","code":"UEsDBAo="}}`), m, lim)
	if err != nil || !p.Exec.Binary || p.Exec.Kind != "python:3.11" {
		t.Errorf("base64 code: %+v %v", p, err)
	}

	errs := map[string]string{
		`{`:                                   MsgMalformedPrefix,
		`[]`:                                  MsgMalformedPrefix,
		`{"exec":"x"}`:                        MsgMalformedPrefix + "'exec' must be an object",
		`{"exec":{"code":"x"}}`:               MsgMalformedPrefix + "'kind' must be a string defined in 'exec'",
		`{"exec":{"kind":"cobol","code":""}}`: MsgMalformedPrefix + "The specified runtime 'cobol' is not supported by this platform. Valid values are: 'blackbox', 'nodejs:20', 'python:3.11', 'sequence'.",
		`{"exec":{"kind":"nodejs:20"}}`:       MsgMalformedPrefix + "'code' must be a string defined in 'exec' for 'nodejs:20' actions",
		`{"limits":{"memory":1.5}}`:           MsgMalformedPrefix + "memory limit must be whole number",
		`{"parameters":{"a":1}}`:              MsgMalformedPrefix + "'parameters' must be an array of key-value pairs",
		`{"version":"1.x"}`:                   MsgMalformedPrefix + "version must be a string of the form major.minor.patch",
		`{"publish":"yes"}`:                   MsgMalformedPrefix + "'publish' must be a boolean",
	}
	for body, want := range errs {
		_, err := DecodeActionPut([]byte(body), m, lim)
		e, ok := AsError(err)
		if !ok || e.Status != 400 || !strings.HasPrefix(e.Message, want) {
			t.Errorf("DecodeActionPut(%s) = %v, want 400 %q", body, err, want)
		}
	}
	big := `{"parameters":[{"key":"a","value":"` + strings.Repeat("x", 1<<20) + `"}]}`
	if _, err := DecodeActionPut([]byte(big), m, lim); err == nil {
		t.Error("oversized parameters accepted")
	} else if e, _ := AsError(err); e.Status != http.StatusRequestEntityTooLarge || !strings.HasPrefix(e.Message, "parameters larger than allowed: ") {
		t.Errorf("oversized parameters: %v", err)
	}
}

func TestLimitsCheck(t *testing.T) {
	l := DefaultLimits()
	cases := map[ActionLimits]string{
		{Timeout: 600000, Memory: 256, Logs: 10, Concurrency: 1}: "duration 600000 milliseconds exceeds allowed threshold of 300000 milliseconds",
		{Timeout: 50, Memory: 256, Logs: 10, Concurrency: 1}:     "duration 50 milliseconds below allowed threshold of 100 milliseconds",
		{Timeout: 1000, Memory: 1024, Logs: 10, Concurrency: 1}:  "memory size 1024 MB exceeds allowed threshold of 512 MB",
		{Timeout: 1000, Memory: 64, Logs: 10, Concurrency: 1}:    "memory size 64 MB below allowed threshold of 128 MB",
		{Timeout: 1000, Memory: 256, Logs: 20, Concurrency: 1}:   "log size 20 MB exceeds allowed threshold of 10 MB",
		{Timeout: 1000, Memory: 256, Logs: 10, Concurrency: 501}: "concurrency 501 exceeds allowed threshold of 500",
		{Timeout: 1000, Memory: 256, Logs: 10, Concurrency: 0}:   "concurrency 0 below allowed threshold of 1",
	}
	for in, want := range cases {
		e, _ := AsError(l.Check(in))
		if e == nil || e.Message != want {
			t.Errorf("Check(%+v) = %v, want %q", in, e, want)
		}
	}
	if err := l.Check(l.Defaults()); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func TestKeyValues(t *testing.T) {
	kv := KeyValues{}.Set("a", 1).Set("b", "x").Set("a", 2)
	if len(kv) != 2 || string(kv.Get("a")) != "2" {
		t.Fatalf("Set: %+v", kv)
	}
	m := kv.Merge(KeyValues{}.Set("b", "y").Set("c", true))
	if string(m.Get("b")) != `"y"` || !m.Truthy("c") || m.Truthy("zzz") {
		t.Errorf("Merge: %+v", m)
	}
	if w := m.Without([]string{"a", "c"}); len(w) != 1 || w[0].Key != "b" {
		t.Errorf("Without: %+v", w)
	}
	if BumpVersion("0.0.9") != "0.0.10" || BumpVersion("junk") != "0.0.1" {
		t.Error("BumpVersion")
	}
}

func TestActivationViews(t *testing.T) {
	size := 2
	a := Activation{Namespace: "guest", Name: "x", ActivationID: "id", Start: 10, End: 15, Duration: 5,
		Response: ActivationResponse{StatusCode: StatusDeveloperError, Result: json.RawMessage(`{}`), Size: &size}}
	b, _ := json.Marshal(a.View())
	s := string(b)
	for _, want := range []string{`"status":"action developer error"`, `"success":false`, `"duration":5`, `"logs":[]`} {
		if !strings.Contains(s, want) {
			t.Errorf("view %s lacks %s", s, want)
		}
	}
	trig := Activation{Start: 10}
	b, _ = json.Marshal(trig.Summary())
	if strings.Contains(string(b), `"end"`) || strings.Contains(string(b), `"statusCode"`) {
		t.Errorf("trigger summary %s has end or statusCode", b)
	}
}

func TestManifest(t *testing.T) {
	m := DefaultManifest()
	if r, ok := m.Resolve("nodejs:default"); !ok || r.Kind != "nodejs:20" {
		t.Errorf("nodejs:default -> %v %v", r.Kind, ok)
	}
	if _, ok := m.Resolve("nodejs:99"); ok {
		t.Error("nodejs:99 resolved")
	}
	if len(Swagger()) < 1000 || !json.Valid(Swagger()) {
		t.Error("swagger not embedded")
	}
}

func FuzzDecodeActionPut(f *testing.F) {
	for _, s := range []string{`{}`, `{"exec":{"kind":"nodejs:20","code":"x"}}`, `{"limits":{"timeout":1e400}}`,
		`{"parameters":[{"key":"a"}]}`, `{"exec":{"kind":"python:3.11","code":"UEsDBA==","main":"f"}}`, `null`, `"s"`,
		`{"exec":{"kind":"sequence","components":["/_/a",{"path":"ns/p","name":"b"}]}}`} {
		f.Add([]byte(s))
	}
	m, lim := DefaultManifest(), DefaultLimits()
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeActionPut(b, m, lim)
		if err != nil {
			e, ok := AsError(err)
			if !ok || e.Status < 400 || e.Status >= 500 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		if p.Exec != nil && p.Exec.Code == nil && p.Exec.Kind != SequenceKind {
			t.Fatal("exec without code")
		}
	})
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a", "a b", "a/b", "", "x@y.z", strings.Repeat("q", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckName(s)
		if err == nil && (strings.Contains(s, "/") || len(s) > MaxNameLength || s == "") {
			t.Fatalf("accepted %q", s)
		}
		if err != nil {
			if e, ok := AsError(err); !ok || e.Status != 400 {
				t.Fatalf("CheckName(%q) = %v", s, err)
			}
		}
	})
}
