package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestDecodePackagePut(t *testing.T) {
	lim := DefaultLimits()
	p, err := DecodePackagePut([]byte(`{"binding":{"namespace":"_","name":"utils","extra":1},"publish":true,
		"version":"1.2.3","parameters":[{"key":"a","value":1}],"annotations":[{"key":"b"}],"namespace":"ignored"}`), lim)
	if err != nil {
		t.Fatal(err)
	}
	if p.Binding == nil || *p.Binding != (Binding{Namespace: "_", Name: "utils"}) {
		t.Errorf("binding = %+v", p.Binding)
	}
	if p.Publish == nil || !*p.Publish || p.Version == nil || *p.Version != "1.2.3" {
		t.Errorf("publish %v version %v", p.Publish, p.Version)
	}
	if len(p.Parameters) != 1 || string(p.Annotations.Get("b")) != "null" {
		t.Errorf("parameters %v annotations %v", p.Parameters, p.Annotations)
	}
	for _, body := range []string{``, `{}`, `{"binding":{}}`, `{"binding":null}`} {
		p, err := DecodePackagePut([]byte(body), lim)
		if err != nil || p.Binding != nil || p.Parameters != nil || p.Publish != nil {
			t.Errorf("%q: %+v, %v; want nothing given", body, p, err)
		}
	}

	big := `{"parameters":[{"key":"a","value":"` + strings.Repeat("x", lim.MaxParameterBytes) + `"}]}`
	if _, err := DecodePackagePut([]byte(big), lim); err == nil {
		t.Error("accepted parameters over the size limit")
	} else if e, _ := AsError(err); e.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized parameters: %v, want 413", err)
	}
	for _, body := range []string{`{"binding":"x"}`, `{"binding":{"namespace":"a"}}`, `{"binding":{"namespace":"a","name":""}}`,
		`{"binding":{"namespace":1,"name":"b"}}`, `{"publish":1}`, `{"version":"x"}`, `[]`, `{`} {
		_, err := DecodePackagePut([]byte(body), lim)
		if e, ok := AsError(err); !ok || e.Status != http.StatusBadRequest || !strings.HasPrefix(e.Message, MsgMalformedPrefix) {
			t.Errorf("%q: %v, want a malformed 400", body, err)
		}
	}
}

func TestPackageJSON(t *testing.T) {
	b, _ := json.Marshal(Package{Namespace: "guest", Name: "p"}.Normalized())
	if !strings.Contains(string(b), `"binding":{}`) || !strings.Contains(string(b), `"parameters":[]`) {
		t.Errorf("plain package = %s, want binding {} and empty lists", b)
	}
	var doc PackageDoc
	if err := json.Unmarshal([]byte(`{"_id":"g/b","entityType":"package","namespace":"g","name":"b","binding":{"namespace":"s","name":"u"}}`), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.IsBinding() || doc.Binding.DocID() != "s/u" || doc.Path() != "g/b" {
		t.Errorf("binding doc = %+v", doc)
	}
	v := NewPackageView(doc.Package, []ActionSummary{{Name: "a"}, {Name: "f", Annotations: KeyValues{}.Set("feed", false)}})
	if len(v.Actions) != 1 || v.Actions[0].Name != "a" || len(v.Feeds) != 1 || v.Feeds[0].Name != "f" {
		t.Errorf("view = %+v, want a feed for any value of the feed annotation", v)
	}
	if msg := PackageNotEmpty(2).Message; msg != "Package not empty (contains 2 entities). Set force param or delete package contents." {
		t.Errorf("not empty = %q", msg)
	}
}

func FuzzDecodePackagePut(f *testing.F) {
	for _, s := range []string{`{}`, `{"binding":{"namespace":"_","name":"x"}}`, `{"binding":{}}`, `{"publish":true}`,
		`{"parameters":[{"key":"a","value":{"b":[1]}}]}`, `null`, `"s"`, `{"version":"0.0.1"}`} {
		f.Add([]byte(s))
	}
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePackagePut(b, lim)
		if err != nil {
			if e, ok := AsError(err); !ok || e.Status < 400 || e.Status >= 500 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		if p.Binding != nil && (!ValidName(p.Binding.Namespace) || !ValidName(p.Binding.Name)) {
			t.Fatalf("accepted binding %+v", p.Binding)
		}
	})
}
