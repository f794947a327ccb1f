package store

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path"
	"reflect"
	"testing"
)

// viewsJS evaluates every map function it is given over every document, as
// pouchdb-server does (a strict-mode function) and as CouchDB does (sloppy
// mode), and prints {"<ddoc>/<view>": {"strict": rows, "sloppy": rows}}.
// A map that throws for a document contributes no rows for it, as in both
// servers.
const viewsJS = `
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = {};
for (const [name, src] of Object.entries(input.maps)) {
  out[name] = {};
  for (const mode of ['strict', 'sloppy']) {
    const rows = [];
    const prefix = mode === 'strict' ? '"use strict"; ' : '';
    const fn = new Function('emit', prefix + 'return (' + src + ');')(function (k, v) { rows.push([k, v === undefined ? null : v]); });
    for (const doc of input.docs) {
      try { fn(JSON.parse(JSON.stringify(doc))); } catch (e) {}
    }
    out[name][mode] = rows;
  }
}
process.stdout.write(JSON.stringify(out));
`

// TestDesignDocsEvaluateInStrictMode: every view Brisk ships emits the same
// rows whether its map function runs in strict mode (pouchdb-server) or not
// (CouchDB), and emits rows for the documents it is written for.
func TestDesignDocsEvaluateInStrictMode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH (install Node.js 20: apt-get install nodejs, or make test-deps): %v", err)
	}
	maps := map[string]string{}
	files, err := designDocs.ReadDir("designdocs")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := designDocs.ReadFile(path.Join("designdocs", f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			ID    string `json:"_id"`
			Views map[string]struct {
				Map string `json:"map"`
			} `json:"views"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f.Name(), err)
		}
		for name, v := range doc.Views {
			maps[doc.ID+"/"+name] = v.Map
		}
	}
	anno := []any{map[string]any{"key": "path", "value": "guest/pkg/hello"}, map[string]any{"key": "kind", "value": "nodejs:20"}}
	docs := []any{
		map[string]any{"_id": "guest/pkg/hello", "_rev": "1-a", "entityType": "action", "namespace": "guest/pkg", "name": "hello",
			"version": "0.0.1", "publish": false, "exec": map[string]any{"kind": "nodejs:20", "code": "x"}, "annotations": []any{},
			"parameters": []any{}, "limits": map[string]any{"timeout": 60000}, "updated": 1},
		map[string]any{"_id": "guest/pkg", "_rev": "1-b", "entityType": "package", "namespace": "guest", "name": "pkg",
			"binding": map[string]any{}, "publish": true, "annotations": []any{}, "parameters": []any{}, "updated": 2},
		map[string]any{"_id": "guest/tick", "_rev": "1-c", "entityType": "trigger", "namespace": "guest", "name": "tick",
			"parameters": []any{}, "annotations": []any{}, "updated": 3},
		map[string]any{"_id": "guest/r", "_rev": "1-d", "entityType": "rule", "namespace": "guest", "name": "r",
			"trigger": map[string]any{"path": "guest", "name": "tick"}, "updated": 4},
		map[string]any{"_id": "guest/0123", "_rev": "1-e", "entityType": "activation", "namespace": "guest", "name": "hello",
			"activationId": "0123", "start": 10, "end": 17, "logs": []any{"a log line"}, "annotations": anno,
			"response": map[string]any{"statusCode": 0}},
		map[string]any{"_id": "guest/4567", "_rev": "1-f", "entityType": "activation", "namespace": "guest", "name": "bound",
			"activationId": "4567", "start": 20, "end": 0, "logs": []any{}, "response": map[string]any{"statusCode": 0},
			"annotations": []any{map[string]any{"key": "binding", "value": "guest/mybinding"}}},
		map[string]any{"_id": "guest", "_rev": "1-g", "subject": "guest", "blocked": true,
			"namespaces": []any{map[string]any{"name": "guest", "uuid": "u", "key": "k"}}},
		map[string]any{"_id": "alice", "_rev": "1-h", "subject": "alice",
			"namespaces": []any{map[string]any{"name": "alice", "uuid": "u2", "key": "k2"}}},
		map[string]any{"_id": "alice/limits", "_rev": "1-i", "invocationsPerMinute": 0},
	}
	in, err := json.Marshal(map[string]any{"maps": maps, "docs": docs})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "-e", viewsJS)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outJSON, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var out map[string]struct{ Strict, Sloppy []any }
	if err := json.Unmarshal(outJSON, &out); err != nil {
		t.Fatalf("node's output %s: %v", outJSON, err)
	}
	if len(out) != len(maps) {
		t.Fatalf("node evaluated %d views, want %d", len(out), len(maps))
	}
	for name, rows := range out {
		if len(rows.Sloppy) == 0 {
			t.Errorf("%s emits no row for any sample document", name)
		}
		if !reflect.DeepEqual(rows.Strict, rows.Sloppy) {
			t.Errorf("%s in strict mode (pouchdb-server) emits\n %v\nand in sloppy mode (CouchDB)\n %v", name, rows.Strict, rows.Sloppy)
		}
	}
}
