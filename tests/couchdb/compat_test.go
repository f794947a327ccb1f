package couchdb

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// compatTimeout bounds the second run of the client suite.
const compatTimeout = 15 * time.Minute

// summaryLine matches go test's per-package and per-test result lines.
var summaryLine = regexp.MustCompile(`^(ok|FAIL|---|    ---|panic:)`)

// TestWskCompatOnCouchDB runs the whole wsk-compat client suite
// (openwhisk-client-go, the npm client, wskdeploy, raw HTTP) a second time,
// with every server it starts given `--couchdb <pouchdb-server> --db-prefix
// t<unique>_` through $BRISK_STANDALONE_ARGS. Running it from here keeps
// `go test ./...` (and so `make test` and CI) the one command; the scenarios
// stay written once, in wsk-compat/.
func TestWskCompatOnCouchDB(t *testing.T) {
	if testing.Short() {
		t.Skip("the full client suite against CouchDB is not short")
	}
	bin := harness.Binary(t)
	cu := couchURL(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), compatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "-timeout", (compatTimeout - time.Minute).String(), "./wsk-compat/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BRISK_BIN="+bin, "BRISK_STANDALONE_ARGS=--couchdb "+cu+" --db-prefix t{id}_")
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.CombinedOutput()

	var summary bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if summaryLine.Match(sc.Bytes()) {
			summary.Write(sc.Bytes())
			summary.WriteByte('\n')
		}
	}
	if err != nil {
		const maxOut = 2 << 20
		if len(out) > maxOut {
			out = append(out[:maxOut:maxOut], "\n[output cut]\n"...)
		}
		t.Fatalf("wsk-compat against CouchDB (%s): %v\n%s\n--- summary ---\n%s", cu, err, out, summary.Bytes())
	}
	t.Logf("wsk-compat against CouchDB (%s):\n%s", cu, summary.Bytes())
}
