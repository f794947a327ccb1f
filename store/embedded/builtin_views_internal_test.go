package embedded

import (
	"encoding/json"
	"testing"
)

// TestBuiltinMapsOddDocs checks the JavaScript corner cases of the
// translations: what the upstream map functions emit (or, by throwing, do
// not emit) for incomplete or oddly typed documents.
func TestBuiltinMapsOddDocs(t *testing.T) {
	cases := []struct {
		name, ddoc, view, doc string
		want                  string // JSON array of [key, value] pairs
	}{
		{"action without namespace throws", DDocWhisks, "actions", `{"exec":{}}`, `[]`},
		{"action with null exec throws", DDocWhisks, "actions", `{"exec":null,"namespace":"a"}`, `[]`},
		{"action binary truthy value kept", DDocWhisks, "actions", `{"exec":{"binary":"yes"},"namespace":"a"}`,
			`[[["a",null],{"namespace":"a","exec":{"binary":"yes"}}]]`},
		{"action exec string", DDocWhisks, "actions", `{"exec":"x","namespace":"a/p","updated":1}`,
			`[[["a/p",1],{"namespace":"a/p","exec":{"binary":false},"updated":1}],[["a",1],{"namespace":"a/p","exec":{"binary":false},"updated":1}]]`},
		{"package with null binding throws", DDocWhisks, "packages", `{"binding":null,"namespace":"a"}`, `[]`},
		{"package with string binding", DDocWhisks, "packages", `{"binding":"ab","namespace":"a"}`,
			`[[["a",null],{"namespace":"a","binding":"ab"}]]`},
		{"public package needs publish", DDocWhisks, "packages-public", `{"binding":{},"publish":false,"namespace":"a"}`, `[]`},
		{"public binding excluded", DDocWhisks, "packages-public", `{"binding":{"name":"x"},"publish":true,"namespace":"a"}`, `[]`},
		{"trigger needs parameters", DDocWhisks, "triggers", `{"namespace":"a","name":"t"}`, `[]`},
		{"rule in package namespace", DDocWhisks, "rules", `{"trigger":{},"namespace":"a/p","updated":5}`,
			`[[["a/p",5],1],[["a",5],1]]`},
		{"activation needs activationId", DDocWhisks, "activations", `{"namespace":"a","start":1}`, `[]`},
		{"activation end missing", DDocWhisks, "activations", `{"activationId":"x","namespace":"a","start":1}`,
			`[[["a",1],{"namespace":"a","activationId":"x","start":1}]]`},
		{"activation start missing gives null duration", DDocWhisks, "activations", `{"activationId":"x","end":5,"response":{}}`,
			`[[[null,null],{"activationId":"x","end":5,"duration":null}]]`},
		{"activation null response throws", DDocWhisks, "activations", `{"activationId":"x","end":5,"start":1,"response":null}`, `[]`},
		{"filters without annotations throws", DDocWhisksFilters, "activations", `{"activationId":"x","namespace":"a","name":"n"}`, `[]`},
		{"filters null annotation throws", DDocWhisksFilters, "activations", `{"activationId":"x","namespace":"a","name":"n","annotations":[null]}`, `[]`},
		{"filters path of two parts", DDocWhisksFilters, "activations",
			`{"activationId":"x","namespace":"a","name":"n","start":0,"annotations":[{"key":"path","value":"a/n"}]}`,
			`[[["a/n",0],{"namespace":"a","name":"n","annotations":[{"key":"path","value":"a/n"}],"activationId":"x","start":0}]]`},
		{"filters binding without slash", DDocWhisksFilters, "activations",
			`{"activationId":"x","namespace":"a","name":"n","start":0,"annotations":[{"key":"binding","value":"b"}]}`,
			`[[["a/undefined/n",0],{"namespace":"a","name":"n","annotations":[{"key":"binding","value":"b"}],"activationId":"x","start":0}]]`},
		{"filters non-string path falls back to name", DDocWhisksFilters, "activations",
			`{"activationId":"x","namespace":"a","start":0,"annotations":[{"key":"path","value":7}]}`,
			`[[["a/undefined",0],{"namespace":"a","annotations":[{"key":"path","value":7}],"activationId":"x","start":0}]]`},
		{"identities blocked", DDocSubjects, "identities", `{"namespaces":[{"name":"a"}],"blocked":true}`, `[]`},
		{"identities non-array throws", DDocSubjects, "identities", `{"namespaces":{"name":"a"}}`, `[]`},
		{"identities missing fields", DDocSubjects, "identities", `{"namespaces":[{"uuid":"u"}]}`,
			`[[[null],{"_id":"undefined/limits","uuid":"u"}],[["u",null],{"_id":"undefined/limits","uuid":"u"}]]`},
		{"blocked limits 0", DDocNamespaceThrottling, "blockedNamespaces", `{"_id":"ns/limits","invocationsPerMinute":0}`, `[["ns",1]]`},
		{"limits not zero", DDocNamespaceThrottling, "blockedNamespaces", `{"_id":"ns/limits","invocationsPerMinute":"0"}`, `[]`},
		{"blocked subject", DDocNamespaceThrottling, "blockedNamespaces",
			`{"_id":"s","subject":"s","blocked":true,"namespaces":[{"name":"a"},{"name":"b"}]}`, `[["a",1],["b",1]]`},
		{"logs of sequence kept", DDocLogCleanup, "byDateWithLogs",
			`{"_id":"a/x","activationId":"x","start":3,"logs":["l"],"annotations":[{"key":"kind","value":"sequence"}]}`, `[]`},
		{"logs deleted", DDocLogCleanup, "byDateWithLogs",
			`{"_id":"a/x","activationId":"x","start":3,"logs":["l"],"annotations":[]}`, `[[3,"a/x"]]`},
		{"no logs", DDocLogCleanup, "byDateWithLogs", `{"_id":"a/x","activationId":"x","start":3,"logs":[],"annotations":[]}`, `[]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := lookupView(tc.ddoc, tc.view)
			if !ok {
				t.Fatalf("view %s/%s not registered", tc.ddoc, tc.view)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(tc.doc), &doc); err != nil {
				t.Fatal(err)
			}
			got := []any{}
			for _, r := range runMap(v, "doc", doc) {
				var value any
				if err := json.Unmarshal(r.value, &value); err != nil {
					t.Fatal(err)
				}
				got = append(got, []any{r.key, value})
			}
			var want []any
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if string(gj) != string(wj) {
				t.Fatalf("emitted\n got  %s\n want %s", gj, wj)
			}
		})
	}
}

func TestJSString(t *testing.T) {
	cases := map[string]any{
		"undefined": undefined, "null": nil, "true": true, "1": 1.0, "1.5": 1.5, "1e+21": 1e21, "1e-7": 1e-7,
		"-0.000001": -0.000001, "a,,1": []any{"a", nil, 1.0}, "[object Object]": map[string]any{}, "1700000000000": 1.7e12,
	}
	for want, in := range cases {
		if got := jsString(in); got != want {
			t.Errorf("jsString(%#v) = %q, want %q", in, got, want)
		}
	}
}
