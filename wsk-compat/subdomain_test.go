package wskcompat

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// TestNamespaceSubdomain: with --web-domain, a namespace's web actions answer
// at http://<namespace>.<domain>/<package>/<action>[.ext] as upstream's edge
// serves them; other hosts route as before.
func TestNamespaceSubdomain(t *testing.T) {
	harness.RequireOwnServer(t, "it sets --web-domain")
	srv := harness.StartWith(t, "--web-domain", "brisk.test")
	code := `function main(p) { return { hello: p.name, path: p.__ow_path }; }`
	web := whisk.KeyValueArr{{Key: "web-export", Value: true}}
	for _, name := range []string{"hi", "pkg/hi"} {
		if name == "pkg/hi" {
			if _, _, err := srv.Client.Packages.Insert(&whisk.Package{Name: "pkg", Namespace: "_"}, false); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := srv.Client.Actions.Insert(&whisk.Action{Name: name, Namespace: "_",
			Exec: &whisk.Exec{Kind: "nodejs:20", Code: &code}, Annotations: web}, false); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	get := func(host, path string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.APIHost+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	for _, c := range []struct{ host, path, want string }{
		{harness.GuestNamespace + ".brisk.test", "/default/hi.json?name=Ada", "Ada"},
		{harness.GuestNamespace + ".BRISK.test:3233", "/pkg/hi.json?name=Bo", "Bo"},
	} {
		st, m := get(c.host, c.path)
		if st != http.StatusOK || m["hello"] != c.want {
			t.Errorf("GET %s%s: %d %v, want 200 hello=%s", c.host, c.path, st, m, c.want)
		}
	}
	// Another host, or a name deeper than one label, routes as usual: no such route.
	for _, host := range []string{"example.test", "a.b.brisk.test", "brisk.test"} {
		if st, m := get(host, "/default/hi.json"); st != http.StatusNotFound {
			t.Errorf("GET %s/default/hi.json: %d %v, want 404", host, st, m)
		}
	}
	// The API itself still answers on the subdomain's path space only as web actions.
	if st, _ := get(harness.GuestNamespace+".brisk.test", "/default/nothere.json"); st != http.StatusNotFound {
		t.Errorf("a missing web action on the subdomain: %d, want 404", st)
	}
}
