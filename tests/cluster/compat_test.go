package cluster

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

// clusterCompatTimeout bounds the run of the client suite against the
// cluster.
const clusterCompatTimeout = 8 * time.Minute

// systemAuth is whisk.system's well-known key (upstream's
// ansible/files/auth.whisk.system), which the suite uses to publish packages.
const systemAuth = "789c46b1-71f6-4ed5-8c54-816aa4f8c502:abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

var compatSummary = regexp.MustCompile(`^(ok|FAIL|---|    ---|panic:)`)

// TestWskCompatOnCluster runs the wsk-compat client suite (openwhisk-client-go,
// the npm client, wskdeploy and its integration suite, raw HTTP) against one distributed deployment:
// a controller and two invokers as processes, on pouchdb-server and Kafka
// (Apache Kafka when installed, else the kfake broker), with the suite's
// harness pointed at the controller through $BRISK_EXTERNAL_APIHOST. Tests
// that need a server of their own skip there (harness.RequireOwnServer).
func TestWskCompatOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the client suite against a cluster is not short")
	}
	bin := harness.Binary(t)
	// whisk.system too: standalone provisions it, and the suite publishes in /whisk.system.
	c := startCluster(t, startKafka(t), map[string]string{"whisk.system": systemAuth})

	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterCompatTimeout)
	defer cancel()
	began := time.Now()
	cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "-v", "-timeout", (clusterCompatTimeout - time.Minute).String(),
		"./wsk-compat/...")
	cmd.Dir = root
	cmd.Env = append(cleanEnv(), "BRISK_BIN="+bin, harness.EnvExternalAPIHost+"="+c.apiHost)
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.CombinedOutput()

	var summary bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if compatSummary.Match(sc.Bytes()) || bytes.Contains(sc.Bytes(), []byte("needs a server of its own")) {
			summary.Write(sc.Bytes())
			summary.WriteByte('\n')
		}
	}
	for _, p := range c.invokers {
		p.running()
	}
	c.ctl.running()
	if err != nil {
		const maxOut = 2 << 20
		if len(out) > maxOut {
			out = append(out[:maxOut:maxOut], "\n[output cut]\n"...)
		}
		t.Fatalf("wsk-compat against the cluster at %s (%s): %v\n%s\n--- summary ---\n%s", c.apiHost, time.Since(began).Round(time.Second), err, out, summary.Bytes())
	}
	t.Logf("wsk-compat against the cluster at %s, %s:\n%s", c.apiHost, time.Since(began).Round(time.Second), summary.Bytes())
	if os.Getenv("BRISK_SERVER_LOG") != "" {
		t.Logf("full output:\n%s", out)
	}
}
