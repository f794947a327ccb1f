package wskcompat

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// wskdeployBinary returns the wskdeploy built by wskdeploy/build.sh (or
// $WSKDEPLOY_BIN), failing t when there is none.
func wskdeployBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WSKDEPLOY_BIN"); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join("wskdeploy", "bin", "wskdeploy"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("wsk-compat/wskdeploy/bin/wskdeploy is missing: run wsk-compat/wskdeploy/build.sh (make test-deps does): %v", err)
	}
	return p
}

// runWskdeploy runs wskdeploy in wskdeploy/ with a private HOME holding a
// .wskprops for srv, plus the same settings as flags. args come first
// (e.g. "undeploy").
func runWskdeploy(t *testing.T, bin string, srv *harness.Server, args ...string) string {
	t.Helper()
	home := t.TempDir()
	props := fmt.Sprintf("APIHOST=%s\nAUTH=%s\nNAMESPACE=%s\n", srv.APIHost, srv.Auth, srv.Namespace)
	if err := os.WriteFile(filepath.Join(home, ".wskprops"), []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append(args, "--apihost", srv.APIHost, "--auth", srv.Auth, "--namespace", srv.Namespace)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = "wskdeploy"
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "HOME", "WSK_CONFIG_FILE", "OPENWHISK_HOME":
		default:
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "HOME="+home)
	out, err := cmd.CombinedOutput()
	t.Logf("wskdeploy %s:\n%s", strings.Join(args[:len(args)-6], " "), out)
	if err != nil {
		t.Fatalf("wskdeploy %s: %v", args[0], err)
	}
	return string(out)
}

// TestWskdeploy deploys manifest.yaml (actions without a package), invokes
// what it created, and undeploys it.
func TestWskdeploy(t *testing.T) {
	bin := wskdeployBinary(t)
	srv := harness.Start(t)
	c := srv.Client

	out := runWskdeploy(t, bin, srv, "-m", "manifest.yaml")
	if !strings.Contains(out, "Deployment completed successfully") {
		t.Errorf("wskdeploy did not report success")
	}

	for _, tc := range []struct {
		name, kind, dflt string
	}{
		{"wskdeploy-hello-node", kindNode, "Deployer"},
		{"wskdeploy-hello-python", kindPython, "Snake"},
	} {
		a, resp, err := c.Actions.Get(tc.name, false)
		if err != nil {
			t.Errorf("GET %s: status %s: %v", tc.name, status(resp), err)
			continue
		}
		if a.Exec == nil || a.Exec.Kind != tc.kind {
			t.Errorf("%s: exec = %+v, want kind %s", tc.name, a.Exec, tc.kind)
		}
		var params []keyValue
		reshape(t, a.Parameters, &params)
		if want := []keyValue{{"name", tc.dflt}}; !reflect.DeepEqual(params, want) {
			t.Errorf("%s: parameters = %v, want %v", tc.name, params, want)
		}
		if res := invokeResult(t, c, tc.name, nil); res["payload"] != "Hello, "+tc.dflt+"!" {
			t.Errorf("%s: result = %v, want the manifest default", tc.name, res)
		}
		if res := invokeResult(t, c, tc.name, map[string]any{"name": "Override"}); res["payload"] != "Hello, Override!" {
			t.Errorf("%s: result = %v, want the payload to win", tc.name, res)
		}
	}

	out = runWskdeploy(t, bin, srv, "undeploy", "-m", "manifest.yaml")
	if !strings.Contains(out, "Undeployment completed successfully") {
		t.Errorf("wskdeploy undeploy did not report success")
	}
	for _, name := range []string{"wskdeploy-hello-node", "wskdeploy-hello-python"} {
		if _, resp, err := c.Actions.Get(name, false); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s after undeploy: status %s, want 404", name, status(resp))
		}
	}
}

// TestWskdeployPackage deploys manifest-package.yaml, whose actions live in
// a package.
func TestWskdeployPackage(t *testing.T) {
	bin := wskdeployBinary(t)
	srv := harness.Start(t)
	c := srv.Client
	const pkg = "compat-wskdeploy-pkg"

	runWskdeploy(t, bin, srv, "-m", "manifest-package.yaml")
	p, resp, err := c.Packages.Get(pkg)
	if err != nil {
		t.Fatalf("GET package %s: status %s: %v", pkg, status(resp), err)
	}
	var params []keyValue
	reshape(t, p.Parameters, &params)
	if want := []keyValue{{"place", "package"}}; !reflect.DeepEqual(params, want) {
		t.Errorf("package parameters = %v, want %v", params, want)
	}
	if res := invokeResult(t, c, pkg+"/pkg-hello-node", nil); res["payload"] != "Hello, Packaged!" {
		t.Errorf("pkg-hello-node: result = %v", res)
	}
	got := invokeResult(t, c, pkg+"/pkg-echo-python", map[string]any{"extra": "x"})
	if want := map[string]any{"place": "package", "shape": "circle", "extra": "x"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pkg-echo-python: result = %v, want %v (package < action < payload)", got, want)
	}
	list, _, err := c.Actions.List(pkg, &whisk.ActionListOptions{Limit: 200})
	if err != nil || len(list) != 2 {
		t.Errorf("actions in %s = %v (err %v), want 2", pkg, listNames(list), err)
	}

	runWskdeploy(t, bin, srv, "undeploy", "-m", "manifest-package.yaml")
	if _, resp, err := c.Packages.Get(pkg); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET package after undeploy: status %s, want 404", status(resp))
	}
}
