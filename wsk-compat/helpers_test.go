package wskcompat

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// Kinds the server must support.
const (
	kindNode   = "nodejs:20"
	kindPython = "python:3.11"
)

// activationWait bounds how long a test polls for an activation record.
const activationWait = 60 * time.Second

var activationIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// uniqueName returns prefix plus a random suffix, so that subtests sharing a
// server never collide.
func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// actionSource reads a test action from actions/.
func actionSource(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("actions", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("read test action: %v", err)
	}
	return string(b)
}

// zipAction zips the directory actions/<rel> (paths relative to it) and
// returns the archive base64-encoded, as clients send archives.
func zipAction(t testing.TB, rel string) string {
	t.Helper()
	root := filepath.Join("actions", filepath.FromSlash(rel))
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		w, err := zw.Create(filepath.ToSlash(name))
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatalf("zip %s: %v", root, err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func strPtr(s string) *string { return &s }
func intPtr(i int) *int       { return &i }
func boolPtr(b bool) *bool    { return &b }

// newAction builds a code action for Actions.Insert.
func newAction(name, kind, code string) *whisk.Action {
	return &whisk.Action{Name: name, Exec: &whisk.Exec{Kind: kind, Code: strPtr(code)}}
}

// mustInsert creates (or with overwrite, updates) an action and fails the
// test on any error.
func mustInsert(t testing.TB, c *whisk.Client, a *whisk.Action, overwrite bool) *whisk.Action {
	t.Helper()
	got, resp, err := c.Actions.Insert(a, overwrite)
	if err != nil {
		t.Fatalf("PUT action %q (overwrite=%v): status %s: %v", a.Name, overwrite, status(resp), err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT action %q: status %d, want 200", a.Name, resp.StatusCode)
	}
	return got
}

func status(resp *http.Response) string {
	if resp == nil {
		return "<no response>"
	}
	return resp.Status
}

// reshape converts a decoded JSON value (the client decodes with UseNumber)
// into out through a JSON round trip.
func reshape(t testing.TB, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("re-encode %#v: %v", in, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// record is the extended activation JSON, decoded by the suite
// itself instead of through the client's struct.
type record struct {
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Subject      string `json:"subject"`
	ActivationID string `json:"activationId"`
	Version      string `json:"version"`
	Publish      *bool  `json:"publish"`
	Start        int64  `json:"start"`
	End          int64  `json:"end"`
	Duration     int64  `json:"duration"`
	Response     struct {
		Result  map[string]any `json:"result"`
		Status  string         `json:"status"`
		Success bool           `json:"success"`
	} `json:"response"`
	Logs        []string   `json:"logs"`
	Annotations []keyValue `json:"annotations"`
}

type keyValue struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// annotation returns the value of key and whether it was present.
func annotation(kvs []keyValue, key string) (any, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// clientAnnotation is annotation for the client's KeyValueArr.
func clientAnnotation(kvs whisk.KeyValueArr, key string) (any, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// invokeBlocking invokes name and returns the full activation from the
// response body, whatever the outcome; the caller checks resp and err.
func invokeBlocking(t testing.TB, c *whisk.Client, name string, payload any) (record, *http.Response, error) {
	t.Helper()
	res, resp, err := c.Actions.Invoke(name, payload, true, false)
	if resp == nil {
		t.Fatalf("invoke %q: no HTTP response: %v", name, err)
	}
	var rec record
	if res != nil {
		reshape(t, res, &rec)
	}
	return rec, resp, err
}

// invokeResult invokes name blocking with result=true and returns the result
// object, failing the test unless the server answered 200.
func invokeResult(t testing.TB, c *whisk.Client, name string, payload any) map[string]any {
	t.Helper()
	res, resp, err := c.Actions.Invoke(name, payload, true, true)
	if err != nil || resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke %q blocking result: status %s, result %v: %v", name, status(resp), res, err)
	}
	var out map[string]any
	reshape(t, res, &out)
	return out
}

// waitActivation polls GET activations/{id} until the record exists and,
// when needLogs, carries at least one log line.
func waitActivation(t testing.TB, c *whisk.Client, id string, needLogs bool) *whisk.Activation {
	t.Helper()
	var got *whisk.Activation
	var last error
	ctx, cancel := context.WithTimeout(context.Background(), activationWait)
	defer cancel()
	err := harness.WaitFor(ctx, 200*time.Millisecond, func() bool {
		a, resp, err := c.Activations.Get(id)
		if err != nil {
			last = err
			if resp != nil && resp.StatusCode != http.StatusNotFound {
				t.Fatalf("GET activation %s: status %d: %v", id, resp.StatusCode, err)
			}
			return false
		}
		got = a
		return !needLogs || len(a.Logs) > 0
	})
	if err != nil {
		if got != nil {
			t.Fatalf("activation %s has no logs after %v: %+v", id, activationWait, got)
		}
		t.Fatalf("activation %s not retrievable after %v: %v", id, activationWait, last)
	}
	return got
}

// resultOf returns the activation's result as a map.
func resultOf(t testing.TB, a *whisk.Activation) map[string]any {
	t.Helper()
	var m map[string]any
	reshape(t, a.Response.Result, &m)
	return m
}

// checkErrorResult checks an unsuccessful blocking invocation: HTTP 502, a
// client error, and the activation's status and error text.
func checkErrorResult(t testing.TB, rec record, resp *http.Response, err error, wantStatus string) string {
	t.Helper()
	if err == nil {
		t.Errorf("client returned no error for a %q activation", wantStatus)
	}
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("HTTP status = %d, want 502", resp.StatusCode)
	}
	if rec.Response.Status != wantStatus || rec.Response.Success {
		t.Errorf("response status = %q success=%v, want %q success=false", rec.Response.Status, rec.Response.Success, wantStatus)
	}
	msg, ok := rec.Response.Result["error"].(string)
	if !ok {
		t.Errorf("result = %v, want an \"error\" string", rec.Response.Result)
	}
	if !activationIDRe.MatchString(rec.ActivationID) {
		t.Errorf("activationId = %q, want 32 lowercase hex", rec.ActivationID)
	}
	return msg
}

// apiError is the upstream error body.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// rawResponse is one raw HTTP exchange.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// newRawRequest builds a request to the server. auth is "uuid:key" for
// Basic auth, or "" for none; a body is sent as application/json.
func newRawRequest(t testing.TB, srv *harness.Server, method, path, auth string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, srv.APIHost+path, body)
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		user, pass, _ := strings.Cut(auth, ":")
		req.SetBasicAuth(user, pass)
	}
	return req
}

// doRaw sends req and reads the whole answer.
func doRaw(t testing.TB, req *http.Request) rawResponse {
	t.Helper()
	resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// rawRequest is newRawRequest followed by doRaw.
func rawRequest(t testing.TB, srv *harness.Server, method, path, auth string, body io.Reader) rawResponse {
	t.Helper()
	return doRaw(t, newRawRequest(t, srv, method, path, auth, body))
}

// nextMilli returns once the wall clock is in a later millisecond than when
// it was called: an entity written after it has a later "updated" time than
// every entity written before it (times are in milliseconds).
func nextMilli() {
	for start := time.Now().UnixMilli(); time.Now().UnixMilli() == start; {
		runtime.Gosched()
	}
}
