package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/store/storetest"
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
	couch := storetest.CouchURL(t)
	prefix := storetest.UniquePrefix()
	t.Cleanup(func() { storetest.DestroyDBs(t, couch, prefix) }) // after the processes stopped
	brokers := startKafka(t)

	// The guest and whisk.system keys, as an operator creates them
	// (standalone provisions both; the suite publishes in /whisk.system).
	for ns, auth := range map[string]string{"guest": harness.GuestAuth, "whisk.system": systemAuth} {
		admin := exec.Command(bin, "admin", "--couchdb", couch, "--db-prefix", prefix, "user", "create", ns, "-u", auth)
		admin.Env = cleanEnv()
		if out, err := admin.CombinedOutput(); err != nil {
			t.Fatalf("brisk admin user create %s: %v\n%s", ns, err, out)
		}
	}

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	dir := t.TempDir()
	c := &cluster{t: t, bin: bin, apiHost: "http://" + addr,
		common:   []string{"--kafka", brokers, "--couchdb", couch, "--db-prefix", prefix},
		invDirs:  []string{filepath.Join(dir, "inv0"), filepath.Join(dir, "inv1")},
		invokers: make([]*proc, 2)}
	// The suite's tests share the guest namespace and run for minutes: the
	// throttles are raised so that they never meet them (TestThrottles, which
	// checks them, needs its own server and skips).
	ctl := start(t, "controller", bin, append([]string{"controller", "--id", "0", "--listen", addr,
		"--invocations-per-minute", "100000", "--fires-per-minute", "100000", "--concurrent-invocations", "1000"},
		c.common...)...)
	eventually(t, startTimeout, func() error {
		ctl.running()
		st, body, err := get(c.apiHost + "/ping")
		if err == nil && (st != http.StatusOK || body != "pong") {
			err = fmt.Errorf("GET /ping: %d %s", st, body)
		}
		return err
	})
	c.startInvoker(0)
	c.startInvoker(1)
	waitInvokers(t, c.apiHost, startTimeout, map[string]string{"invoker0": "up", "invoker1": "up"})

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
	ctl.running()
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
