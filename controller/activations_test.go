package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/api"
)

const activationsPath = "/api/v1/namespaces/_/activations"

// storedActivation is a finished record of guest's action path/name.
func storedActivation(path, name string, start int64, status int) *api.Activation {
	ns, _, _ := strings.Cut(path, "/")
	size := 14
	return &api.Activation{
		Namespace: ns, Name: name, Subject: ns, ActivationID: api.NewActivationID(), Version: "0.0.3",
		Start: start, End: start + 40, Duration: 40,
		Response: api.ActivationResponse{StatusCode: status, Result: json.RawMessage(`{"payload":"hi"}`), Size: &size},
		Logs: []string{
			"2024-01-01T00:00:00.123456789Z stdout: hi",
			"2024-01-01T00:00:00.223456789Z stderr: oops",
		},
		Annotations: api.KeyValues{}.Set("path", path+"/"+name).Set("kind", "nodejs:20").Set("waitTime", 12),
	}
}

func (e *env) putActivations(acts ...*api.Activation) {
	e.t.Helper()
	if err := e.store.PutActivations(context.Background(), acts); err != nil {
		e.t.Fatal(err)
	}
}

func TestGetActivation(t *testing.T) {
	e := newEnv(t)
	a := storedActivation("guest", "hello", 1700000000000, api.StatusApplicationError)
	a.Cause = api.NewActivationID()
	e.putActivations(a)

	r := e.guest(http.MethodGet, activationsPath+"/"+a.ActivationID, nil)
	wantStatus(t, r, http.StatusOK)
	var got map[string]any
	r.json(t, &got)
	want := map[string]any{
		"namespace": "guest", "name": "hello", "subject": "guest", "activationId": a.ActivationID, "version": "0.0.3",
		"publish": false, "start": 1700000000000.0, "end": 1700000000040.0, "duration": 40.0, "cause": a.Cause,
		"response": map[string]any{"result": map[string]any{"payload": "hi"}, "size": 14.0,
			"status": "application error", "success": false},
		"logs": []any{a.Logs[0], a.Logs[1]},
		"annotations": []any{
			map[string]any{"key": "path", "value": "guest/hello"},
			map[string]any{"key": "kind", "value": "nodejs:20"},
			map[string]any{"key": "waitTime", "value": 12.0},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GET activation =\n %v\nwant\n %v", got, want)
	}
	// Through the namespace's own name too.
	wantStatus(t, e.guest(http.MethodGet, "/api/v1/namespaces/guest/activations/"+a.ActivationID, nil), http.StatusOK)

	r = e.guest(http.MethodGet, activationsPath+"/"+a.ActivationID+"/logs", nil)
	wantStatus(t, r, http.StatusOK)
	var logs map[string][]string
	r.json(t, &logs)
	if len(logs) != 1 || !reflect.DeepEqual(logs["logs"], a.Logs) {
		t.Errorf("logs = %s", r.body)
	}

	r = e.guest(http.MethodGet, activationsPath+"/"+a.ActivationID+"/result", nil)
	wantStatus(t, r, http.StatusOK)
	var res map[string]any
	r.json(t, &res)
	wantRes := map[string]any{"result": map[string]any{"payload": "hi"}, "size": 14.0, "status": "application error", "success": false}
	if !reflect.DeepEqual(res, wantRes) {
		t.Errorf("result = %v, want %v", res, wantRes)
	}
}

func TestGetActivationWithoutEndOrLogs(t *testing.T) {
	e := newEnv(t)
	// A trigger activation: no end, no logs, no annotations.
	a := &api.Activation{Namespace: "guest", Name: "tick", Subject: "guest", ActivationID: api.NewActivationID(),
		Version: "0.0.1", Start: 1700000000000, Response: api.ActivationResponse{Result: json.RawMessage(`{}`)}}
	e.putActivations(a)
	r := e.guest(http.MethodGet, activationsPath+"/"+a.ActivationID, nil)
	wantStatus(t, r, http.StatusOK)
	got := r.object(t)
	for _, k := range []string{"end", "duration", "cause"} {
		if _, ok := got[k]; ok {
			t.Errorf("activation without end has %s: %s", k, r.body)
		}
	}
	if !reflect.DeepEqual(got["logs"], []any{}) || !reflect.DeepEqual(got["annotations"], []any{}) {
		t.Errorf("logs %v annotations %v, want []", got["logs"], got["annotations"])
	}
	r = e.guest(http.MethodGet, activationsPath+"/"+a.ActivationID+"/logs", nil)
	if got := strings.TrimSpace(string(r.body)); got != `{"logs":[]}` {
		t.Errorf("logs = %s, want {\"logs\":[]}", got)
	}
}

func TestGetActivationErrors(t *testing.T) {
	e := newEnv(t)
	a := storedActivation("guest", "hello", 1000, 0)
	e.putActivations(a)
	sys := storedActivation("whisk.system", "hello", 1000, 0)
	e.putActivations(sys)

	for _, suffix := range []string{"", "/logs", "/result"} {
		t.Run("suffix "+suffix, func(t *testing.T) {
			wantError(t, e.guest(http.MethodGet, activationsPath+"/abc"+suffix, nil), http.StatusBadRequest,
				"Activation id length is 3 but must be 32.")
			wantError(t, e.guest(http.MethodGet, activationsPath+"/"+strings.Repeat("z", 32)+suffix, nil), http.StatusBadRequest,
				api.MsgActivationIDInvalid)
			wantError(t, e.guest(http.MethodGet, activationsPath+"/"+strings.ToUpper(a.ActivationID)+suffix, nil), http.StatusBadRequest,
				api.MsgActivationIDInvalid)
			wantError(t, e.guest(http.MethodGet, activationsPath+"/"+api.NewActivationID()+suffix, nil), http.StatusNotFound,
				api.MsgNotFound)
			// Another namespace's activation is not visible under one's own namespace...
			wantError(t, e.guest(http.MethodGet, activationsPath+"/"+sys.ActivationID+suffix, nil), http.StatusNotFound,
				api.MsgNotFound)
			// ...nor readable under its namespace.
			wantError(t, e.guest(http.MethodGet, "/api/v1/namespaces/whisk.system/activations/"+sys.ActivationID+suffix, nil),
				http.StatusForbidden, "The supplied authentication is not authorized to access 'whisk.system/"+sys.ActivationID+"'.")
		})
	}
	// Its owner reads it.
	wantStatus(t, e.do(http.MethodGet, activationsPath+"/"+sys.ActivationID, systemAuth, nil), http.StatusOK)
}

func TestListActivationsAPI(t *testing.T) {
	e := newEnv(t)
	ids := map[string]string{}
	var acts []*api.Activation
	add := func(key string, a *api.Activation) {
		ids[key] = a.ActivationID
		acts = append(acts, a)
	}
	for i := int64(1); i <= 4; i++ {
		add(fmt.Sprintf("hello%d", i*100), storedActivation("guest", "hello", i*100, 0))
	}
	add("pkg250", storedActivation("guest/pkg", "hello", 250, 1))
	add("bye150", storedActivation("guest", "bye", 150, 0))
	add("sys300", storedActivation("whisk.system", "hello", 300, 0))
	e.putActivations(acts...)

	list := func(q string) []map[string]any {
		t.Helper()
		r := e.guest(http.MethodGet, activationsPath+q, nil)
		wantStatus(t, r, http.StatusOK)
		var out []map[string]any
		r.json(t, &out)
		return out
	}
	idsOf := func(list []map[string]any) []string {
		out := []string{}
		for _, a := range list {
			out = append(out, a["activationId"].(string))
		}
		return out
	}
	keys := func(ks ...string) []string {
		out := []string{}
		for _, k := range ks {
			out = append(out, ids[k])
		}
		return out
	}
	cases := map[string][]string{
		"":                               keys("hello400", "hello300", "pkg250", "hello200", "bye150", "hello100"),
		"?limit=2":                       keys("hello400", "hello300"),
		"?limit=2&skip=2":                keys("pkg250", "hello200"),
		"?name=hello":                    keys("hello400", "hello300", "hello200", "hello100"),
		"?name=pkg/hello":                keys("pkg250"),
		"?name=hello&since=200&upto=300": keys("hello300", "hello200"),
		"?since=250":                     keys("hello400", "hello300", "pkg250"),
		"?upto=150":                      keys("bye150", "hello100"),
		"?name=nothing":                  keys(),
	}
	for q, want := range cases {
		if got := idsOf(list(q)); !reflect.DeepEqual(got, want) {
			t.Errorf("list%s = %v, want %v", q, got, want)
		}
	}
	if got := idsOf(list("/")); len(got) != 6 {
		t.Errorf("list with trailing slash: %d entries", len(got))
	}

	// Summaries: no logs, no response; statusCode for finished activations.
	sums := list("?name=pkg/hello")
	s := sums[0]
	want := map[string]any{"namespace": "guest", "name": "hello", "version": "0.0.3", "publish": false,
		"activationId": ids["pkg250"], "start": 250.0, "end": 290.0, "duration": 40.0, "statusCode": 1.0,
		"annotations": []any{
			map[string]any{"key": "path", "value": "guest/pkg/hello"},
			map[string]any{"key": "kind", "value": "nodejs:20"},
			map[string]any{"key": "waitTime", "value": 12.0},
		}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("summary =\n %v\nwant\n %v", s, want)
	}

	// docs=true: full records.
	docs := list("?docs=true&name=pkg/hello")
	if len(docs) != 1 {
		t.Fatalf("docs=true: %d records", len(docs))
	}
	d := docs[0]
	if d["subject"] != "guest" || !reflect.DeepEqual(d["logs"], []any{acts[4].Logs[0], acts[4].Logs[1]}) {
		t.Errorf("docs=true record lacks subject or logs: %v", d)
	}
	resp, _ := d["response"].(map[string]any)
	if resp["status"] != "application error" || resp["success"] != false || resp["result"] == nil {
		t.Errorf("docs=true response = %v", resp)
	}
	if _, ok := d["statusCode"]; ok {
		t.Errorf("docs=true record carries statusCode: %v", d)
	}

	count := func(q string) string {
		r := e.guest(http.MethodGet, activationsPath+q, nil)
		wantStatus(t, r, http.StatusOK)
		return strings.TrimSpace(string(r.body))
	}
	for q, want := range map[string]string{
		"?count=true":                       `{"activations":6}`,
		"?count=true&name=hello":            `{"activations":4}`,
		"?count=true&name=hello&since=300":  `{"activations":2}`,
		"?count=true&upto=100":              `{"activations":1}`,
		"?count=true&name=pkg/hello":        `{"activations":1}`,
		"?count=true&name=nothing":          `{"activations":0}`,
		"?count=true&docs=false&limit=1":    `{"activations":6}`,
		"?count=false&docs=false&name=bye1": `[]`,
	} {
		if got := count(q); got != want {
			t.Errorf("GET activations%s = %s, want %s", q, got, want)
		}
	}

	bad := map[string]string{
		"?count=true&docs=true": api.MsgDocsWithCount,
		"?name=a/b/c":           "Parameter may be a 'simple' name or 'package-name/simple' name: a/b/c",
		"?name=bad$name":        api.MsgIllegalName,
		"?since=abc":            "Parameter is not a valid value for epoch seconds: abc",
		"?upto=-4":              "Parameter is not a valid value for epoch seconds: -4",
		"?limit=300":            "The query parameter 'limit' was malformed:\nThe value '300' is not in the range of 0 to 200 for activations.",
		"?skip=-2":              "The query parameter 'skip' was malformed:\nThe value '-2' is not greater than or equal to 0 for activations.",
		"?docs=maybe":           "The query parameter 'docs' was malformed:\n'maybe' is not a valid Boolean value",
	}
	for q, msg := range bad {
		t.Run(q, func(t *testing.T) {
			wantError(t, e.guest(http.MethodGet, activationsPath+q, nil), http.StatusBadRequest, msg)
		})
	}

	// whisk.system sees only its own.
	r := e.do(http.MethodGet, activationsPath, systemAuth, nil)
	var sysList []map[string]any
	r.json(t, &sysList)
	if got := idsOf(sysList); !reflect.DeepEqual(got, keys("sys300")) {
		t.Errorf("whisk.system's list = %v", got)
	}
	// An empty list is [].
	e2 := newEnv(t)
	if r := e2.guest(http.MethodGet, activationsPath, nil); strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("empty list = %s", r.body)
	}
	if r := e2.guest(http.MethodGet, activationsPath+"?docs=true", nil); strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("empty docs list = %s", r.body)
	}
}
