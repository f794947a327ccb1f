package couchdb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/store/storetest"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// httpClient bounds every request the tests make; a hung server fails the
// test instead of hanging it.
var httpClient = &http.Client{Timeout: 60 * time.Second}

// couch is plain HTTP to a CouchDB server, as upstream's tools write to it.
type couch struct {
	t   testing.TB
	url string
}

// do sends a request with a JSON (or raw, with contentType) body and
// decodes a JSON answer into out (when not nil). It returns the status.
func (c couch) do(method, path, contentType string, body []byte, out any) int {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
		c.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// put writes a JSON document and returns its revision.
func (c couch) put(db, id string, doc any) string {
	c.t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		c.t.Fatal(err)
	}
	var ok struct{ Rev string }
	if st := c.do(http.MethodPut, "/"+db+"/"+url.PathEscape(id), "application/json", b, &ok); st != http.StatusCreated && st != http.StatusOK {
		c.t.Fatalf("PUT %s/%s: status %d", db, id, st)
	}
	return ok.Rev
}

// get reads a document as a map.
func (c couch) get(db, id string) map[string]any {
	c.t.Helper()
	var doc map[string]any
	if st := c.do(http.MethodGet, "/"+db+"/"+url.PathEscape(id), "", nil, &doc); st != http.StatusOK {
		c.t.Fatalf("GET %s/%s: status %d", db, id, st)
	}
	return doc
}

// api is plain HTTP to Brisk's OpenWhisk API as one user.
type api struct {
	t    testing.TB
	host string
	auth string
}

// call sends a request to /api/v1/namespaces/_/<path> and returns the
// status and the body.
func (a api) call(method, path string, body any) (int, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.host+"/api/v1/namespaces/_/"+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	user, pass, _ := strings.Cut(a.auth, ":")
	req.SetBasicAuth(user, pass)
	resp, err := httpClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// json calls and decodes a 200 answer into out.
func (a api) json(method, path string, body, out any) {
	a.t.Helper()
	st, b := a.call(method, path, body)
	if st != http.StatusOK {
		a.t.Fatalf("%s %s: status %d: %s", method, path, st, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// startBrisk starts `brisk standalone --couchdb url --db-prefix prefix`
// through the wsk-compat harness.
func startBrisk(t *testing.T, couchURL, prefix string) *harness.Server {
	t.Helper()
	t.Setenv("BRISK_STANDALONE_ARGS", "--couchdb "+couchURL+" --db-prefix "+prefix)
	return harness.Start(t)
}

// eventually polls f every interval until it returns nil or the bound
// passes, then fails with f's last error.
func eventually(t testing.TB, bound time.Duration, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still failing after %s: %v", bound, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// couchURL is the server for a test: $BRISK_COUCHDB_URL or a pouchdb-server.
func couchURL(t *testing.T) string { return storetest.CouchURL(t) }

var errorf = fmt.Errorf
