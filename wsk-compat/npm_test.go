package wskcompat

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// TestNpmClient runs the node --test suite in npm/ (the openwhisk npm
// client) against a fresh server.
func TestNpmClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH; the npm client tests need Node.js 18 or later (make test-deps installs it): %v", err)
	}
	if _, err := os.Stat(filepath.Join("npm", "node_modules", "openwhisk", "package.json")); err != nil {
		t.Fatalf("wsk-compat/npm/node_modules is missing: run `npm ci` in wsk-compat/npm (make test-deps does): %v", err)
	}
	srv := harness.Start(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec")
	cmd.Dir = "npm"
	cmd.Env = append(os.Environ(),
		"__OW_API_HOST="+srv.APIHost,
		"__OW_API_KEY="+srv.Auth,
		"NO_COLOR=1",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test output:\n%s", out)
	if ctx.Err() != nil {
		t.Fatalf("node --test did not finish within 5 minutes")
	}
	if err != nil {
		t.Fatalf("node --test failed: %v", err)
	}
}
