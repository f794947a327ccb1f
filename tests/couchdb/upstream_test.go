package couchdb

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/store"
	"github.com/brisk-serverless/brisk/store/storetest"
)

// A user that only upstream's tools created (wskadmin user create).
const (
	aliceUUID = "a11ce000-0000-4000-8000-0000000a11ce"
	aliceKey  = "A11ceKeyA11ceKeyA11ceKeyA11ceKeyA11ceKeyA11ceKeyA11ceKeyA11ceKey"
	aliceAuth = aliceUUID + ":" + aliceKey
)

// upstreamDesignDocs writes upstream's design documents into the three
// databases as upstream's deployment does (ansible's couchdb tasks).
// Brisk ships two of them corrected (store/designdocs): its
// whisks-filters.v2.1.1-brisk.1 and logCleanup declare the loop variable
// that upstream's assign undeclared. Upstream's own are written here, as an
// OpenWhisk deployment has them.
func upstreamDesignDocs(t *testing.T, c couch, prefix string) {
	files, err := filepath.Glob("../../store/designdocs/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("design documents: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("for (var i = 0;"), []byte("for (i = 0;"))
		b = bytes.ReplaceAll(b, []byte(store.FiltersDesignDoc), []byte(upstreamFilters))
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		dbs := []string{"whisks", "activations", "subjects"}
		switch {
		case strings.HasPrefix(name, "whisks_design_document_for_entities"):
			dbs = []string{"whisks"}
		case strings.Contains(name, "activations_db"):
			dbs = []string{"activations"}
		case strings.Contains(name, "subjects_db"):
			dbs = []string{"subjects"}
		}
		for _, db := range dbs {
			c.put(prefix+db, doc["_id"].(string), doc)
		}
	}
}

// upstreamFilters is the name of upstream's design document of activations
// by name.
const upstreamFilters = "whisks-filters.v2.1.1"

// attachedMem is upstream's exec.code for code under 16 KB: inlined in the
// attachment name.
func attachedMem(body []byte, ctype string) map[string]any {
	sum := sha256.Sum256(body)
	return map[string]any{"attachmentName": "mem:" + base64.URLEncoding.EncodeToString(body),
		"attachmentType": ctype, "length": len(body), "digest": "sha256-" + hex.EncodeToString(sum[:])}
}

func upstreamAction(ns, name string, updated int64, exec map[string]any, params []any) map[string]any {
	return map[string]any{
		"entityType": "action", "namespace": ns, "name": name, "version": "0.0.3", "publish": false,
		"exec": exec, "parameters": params,
		"limits":      map[string]any{"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1},
		"annotations": []any{map[string]any{"key": "provide-api-key", "value": false}, map[string]any{"key": "exec", "value": "nodejs:20"}},
		"updated":     updated,
	}
}

func zipped(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUpstreamDocuments fills the databases the way an Apache OpenWhisk
// deployment does (its design documents, a subject, actions whose code is
// an inlined or a real CouchDB attachment, a package, an activation record),
// with plain HTTP, then starts Brisk on them and reads, lists, invokes and
// updates them through the API.
func TestUpstreamDocuments(t *testing.T) {
	cu := couchURL(t)
	c := couch{t: t, url: cu}
	prefix := storetest.UniquePrefix()
	t.Cleanup(func() { storetest.DestroyDBs(t, cu, prefix) })
	for _, db := range []string{"whisks", "activations", "subjects"} {
		if st := c.do(http.MethodPut, "/"+prefix+db, "", nil, nil); st != http.StatusCreated {
			t.Fatalf("create %s%s: %d", prefix, db, st)
		}
	}
	upstreamDesignDocs(t, c, prefix)

	c.put(prefix+"subjects", "alice", map[string]any{"subject": "alice",
		"namespaces": []any{map[string]any{"name": "alice", "uuid": aliceUUID, "key": aliceKey}}})

	hello := "function main(params) {\n  return {greeting: 'Hello, ' + (params.name || 'stranger') + '!'};\n}\n"
	c.put(prefix+"whisks", "alice/hello", upstreamAction("alice", "hello", 1700000000100,
		map[string]any{"kind": "nodejs:20", "code": attachedMem([]byte(hello), "text/plain; charset=UTF-8"), "binary": false},
		[]any{map[string]any{"key": "name", "value": "Ada"}}))

	// Above 16 KB upstream keeps the code in a CouchDB attachment.
	big := "function main(params) {\n  return {size: " + "main.toString().length" + ", n: params.n};\n}\n// " + strings.Repeat("x", 20000) + "\n"
	bigAtt := "5a1e5c1e-0000-4000-8000-00000000b16a"
	rev := c.put(prefix+"whisks", "alice/big", upstreamAction("alice", "big", 1700000000200,
		map[string]any{"kind": "nodejs:20", "binary": false,
			"code": map[string]any{"attachmentName": "couch:" + bigAtt, "attachmentType": "text/plain; charset=UTF-8"}}, []any{}))
	if st := c.do(http.MethodPut, "/"+prefix+"whisks/"+url.PathEscape("alice/big")+"/"+bigAtt+"?rev="+rev,
		"text/plain; charset=UTF-8", []byte(big), nil); st != http.StatusCreated {
		t.Fatalf("put attachment: %d", st)
	}

	// A zipped action (binary) in a package, also as a CouchDB attachment.
	zipBytes := zipped(t, map[string]string{
		"package.json": `{"name":"echo","main":"index.js"}`,
		"index.js":     "exports.main = function (params) { return {echo: params, zipped: true}; };\n",
	})
	c.put(prefix+"whisks", "alice/utils", map[string]any{"entityType": "package", "namespace": "alice", "name": "utils",
		"binding": map[string]any{}, "publish": false, "version": "0.0.1", "parameters": []any{}, "annotations": []any{},
		"updated": 1700000000000})
	zipAtt := "5a1e5c1e-0000-4000-8000-0000000021b0"
	rev = c.put(prefix+"whisks", "alice/utils/echo", upstreamAction("alice/utils", "echo", 1700000000300,
		map[string]any{"kind": "nodejs:20", "binary": true,
			"code": map[string]any{"attachmentName": "couch:" + zipAtt, "attachmentType": "application/octet-stream"}}, []any{}))
	if st := c.do(http.MethodPut, "/"+prefix+"whisks/"+url.PathEscape("alice/utils/echo")+"/"+zipAtt+"?rev="+rev,
		"application/octet-stream", zipBytes, nil); st != http.StatusCreated {
		t.Fatalf("put attachment: %d", st)
	}

	// (An hour old: records older than the retention, 7 days, are deleted
	// when Brisk starts.)
	const oldID = "0123456789abcdef0123456789abcdef"
	oldStart := time.Now().Add(-time.Hour).UnixMilli()
	c.put(prefix+"activations", "alice/"+oldID, map[string]any{
		"entityType": "activation", "namespace": "alice", "name": "hello", "subject": "alice", "activationId": oldID,
		"version": "0.0.3", "publish": false, "start": oldStart, "end": oldStart + 42, "duration": 42,
		"response": map[string]any{"statusCode": 0, "result": map[string]any{"greeting": "Hello, Ada!"}},
		"logs":     []any{"2023-11-14T22:13:21.000Z stdout: hi"},
		"annotations": []any{map[string]any{"key": "path", "value": "alice/hello"}, map[string]any{"key": "kind", "value": "nodejs:20"},
			map[string]any{"key": "limits", "value": map[string]any{"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1}},
			map[string]any{"key": "waitTime", "value": 5}},
	})

	// One record past the retention (7 days by default).
	const ancientID = "fedcba9876543210fedcba9876543210"
	ancientStart := time.Now().Add(-8 * 24 * time.Hour).UnixMilli()
	c.put(prefix+"activations", "alice/"+ancientID, map[string]any{
		"entityType": "activation", "namespace": "alice", "name": "hello", "subject": "alice", "activationId": ancientID,
		"version": "0.0.3", "publish": false, "start": ancientStart, "end": ancientStart + 1, "duration": 1,
		"response": map[string]any{"statusCode": 0, "result": map[string]any{}}, "logs": []any{}, "annotations": []any{},
	})

	srv := startBrisk(t, cu, prefix)
	a := api{t: t, host: srv.APIHost, auth: aliceAuth}

	// Read: the code is served as text (base64 for the zip), as upstream's API does.
	var got struct {
		Name       string
		Namespace  string
		Version    string
		Parameters []map[string]any
		Exec       struct {
			Kind   string
			Code   string
			Binary bool
		}
	}
	a.json(http.MethodGet, "actions/hello", nil, &got)
	if got.Exec.Code != hello || got.Exec.Binary || got.Version != "0.0.3" || got.Namespace != "alice" || len(got.Parameters) != 1 {
		t.Errorf("GET hello = %+v", got)
	}
	a.json(http.MethodGet, "actions/big", nil, &got)
	if got.Exec.Code != big {
		t.Errorf("GET big: code of %d bytes, want the %d-byte attachment", len(got.Exec.Code), len(big))
	}
	a.json(http.MethodGet, "actions/utils/echo", nil, &got)
	if got.Exec.Code != base64.StdEncoding.EncodeToString(zipBytes) || !got.Exec.Binary || got.Namespace != "alice/utils" {
		t.Errorf("GET utils/echo = binary %v namespace %s, code of %d chars", got.Exec.Binary, got.Namespace, len(got.Exec.Code))
	}

	var list []struct{ Name, Namespace string }
	a.json(http.MethodGet, "actions?limit=10", nil, &list)
	var names []string
	for _, e := range list {
		names = append(names, e.Namespace+"/"+e.Name)
	}
	if want := []string{"alice/utils/echo", "alice/big", "alice/hello"}; !reflect.DeepEqual(names, want) {
		t.Errorf("list actions = %v, want %v", names, want)
	}

	// Invoke all three.
	var res map[string]any
	a.json(http.MethodPost, "actions/hello?blocking=true&result=true", map[string]any{}, &res)
	if res["greeting"] != "Hello, Ada!" {
		t.Errorf("invoke hello = %v", res)
	}
	a.json(http.MethodPost, "actions/big?blocking=true&result=true", map[string]any{"n": 7}, &res)
	if res["n"] != float64(7) || res["size"] == nil {
		t.Errorf("invoke big = %v", res)
	}
	a.json(http.MethodPost, "actions/utils/echo?blocking=true&result=true", map[string]any{"x": "y"}, &res)
	if res["zipped"] != true || !reflect.DeepEqual(res["echo"], map[string]any{"x": "y"}) {
		t.Errorf("invoke utils/echo = %v", res)
	}

	// Upstream's activation record is served as any other.
	var act struct {
		ActivationID string
		Name         string
		Duration     int
		Response     struct {
			Success bool
			Status  string
			Result  map[string]any
		}
		Logs []string
	}
	a.json(http.MethodGet, "activations/"+oldID, nil, &act)
	if act.ActivationID != oldID || act.Name != "hello" || act.Duration != 42 || !act.Response.Success ||
		act.Response.Result["greeting"] != "Hello, Ada!" || len(act.Logs) != 1 {
		t.Errorf("GET upstream activation = %+v", act)
	}
	// And listed with Brisk's own records of the same action, newest first.
	var acts []struct{ ActivationID string }
	eventually(t, 60*time.Second, func() error {
		a.json(http.MethodGet, "activations?name=hello&limit=10", nil, &acts)
		if len(acts) != 2 || acts[1].ActivationID != oldID {
			return errorf("activations of hello = %+v, want Brisk's and upstream's", acts)
		}
		return nil
	})

	// Upstream's design documents are left as they are; Brisk's corrected
	// one is installed beside them.
	for _, ddoc := range []string{upstreamFilters, "logCleanup"} {
		doc := c.get(prefix+"activations", "_design/"+ddoc)
		if b, _ := json.Marshal(doc); !bytes.Contains(b, []byte("for (i = 0;")) {
			t.Errorf("upstream's _design/%s was changed: %s", ddoc, b)
		}
	}
	if doc := c.get(prefix+"activations", "_design/"+store.FiltersDesignDoc); doc["views"] == nil {
		t.Errorf("_design/%s was not installed: %v", store.FiltersDesignDoc, doc)
	}

	// The retention job deleted the record older than 7 days, and only it.
	eventually(t, 60*time.Second, func() error {
		if st, _ := a.call(http.MethodGet, "activations/"+ancientID, nil); st != http.StatusNotFound {
			return errorf("GET the 8-day-old activation: %d, want 404", st)
		}
		return nil
	})

	// Brisk's record has upstream's document shape.
	newID := acts[0].ActivationID
	doc := c.get(prefix+"activations", "alice/"+newID)
	for _, k := range []string{"entityType", "namespace", "name", "subject", "activationId", "version", "publish", "start", "end",
		"duration", "response", "logs", "annotations"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("Brisk's activation document has no %q: %v", k, doc)
		}
	}
	if doc["entityType"] != "activation" || doc["namespace"] != "alice" || doc["subject"] != "alice" {
		t.Errorf("Brisk's activation document = %v", doc)
	}
	if r, _ := doc["response"].(map[string]any); r["statusCode"] != float64(0) || r["result"] == nil {
		t.Errorf("Brisk's activation response = %v", doc["response"])
	}

	// An update that keeps the code (new parameters only) rewrites the code
	// inline and drops the attachment; the action still runs.
	a.json(http.MethodPut, "actions/big?overwrite=true", map[string]any{"parameters": []any{map[string]any{"key": "n", "value": 1}}}, nil)
	raw := c.get(prefix+"whisks", "alice/big")
	if exec, _ := raw["exec"].(map[string]any); exec["code"] != big {
		t.Errorf("updated document's exec.code is %T, want the code inline", exec["code"])
	}
	if _, ok := raw["_attachments"]; ok {
		t.Errorf("updated document keeps its attachment")
	}
	a.json(http.MethodPost, "actions/big?blocking=true&result=true", map[string]any{}, &res)
	if res["n"] != float64(1) {
		t.Errorf("invoke big after update = %v", res)
	}

	// Namespaces stay apart: the guest Brisk created sees none of alice's.
	g := api{t: t, host: srv.APIHost, auth: srv.Auth}
	if st, b := g.call(http.MethodGet, "actions/hello", nil); st != http.StatusNotFound {
		t.Errorf("guest GET alice's action by name: %d %s", st, b)
	}
	if st, _ := g.call(http.MethodGet, "activations/"+oldID, nil); st != http.StatusNotFound {
		t.Errorf("guest GET alice's activation: %d", st)
	}
}
