package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/brisk-serverless/brisk/messaging/messagingtest"
	"github.com/brisk-serverless/brisk/store/storetest"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// Bounds of the processes the test starts.
const (
	startTimeout = 90 * time.Second
	stopTimeout  = 20 * time.Second
	maxLogBytes  = 2 << 20
)

var httpClient = &http.Client{Timeout: 30 * time.Second}

// proc is one process the test started, in its own process group. Its
// output is kept (capped) and written to the test log when the test fails.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	out    *capped
	exited chan struct{}
}

func start(t *testing.T, name string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, out: &capped{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Env = cleanEnv()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() || os.Getenv("BRISK_SERVER_LOG") != "" {
			t.Logf("output of %s:\n%s", name, p.out.String())
		}
	})
	return p
}

// cleanEnv is the test's environment without BRISK_* settings, so that the
// processes get only the settings the test passes.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BRISK_") {
			env = append(env, kv)
		}
	}
	return env
}

// stop signals the process group and waits for it to exit (SIGKILL after
// a bound). Stopping an exited process does nothing.
func (p *proc) stop(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		p.t.Errorf("%s did not exit within %s of %v; killing it", p.name, stopTimeout, sig)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// running fails the test if the process has exited.
func (p *proc) running() {
	p.t.Helper()
	select {
	case <-p.exited:
		p.t.Fatalf("%s exited: %v\n%s", p.name, p.cmd.ProcessState, p.out.String())
	default:
	}
}

type capped struct {
	mu  sync.Mutex
	buf []byte
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxLogBytes - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startKafka returns the bootstrap brokers for t: $BRISK_KAFKA_BROKERS, else
// an Apache Kafka started by scripts/kafka.sh, or, only when the test run
// asks for it with BRISK_CLUSTER_KFAKE=1, the embedded kfake broker in a
// process of its own. Without Apache Kafka installed the test fails.
func startKafka(t *testing.T) string {
	t.Helper()
	if os.Getenv(messagingtest.EnvBrokers) != "" || !useKfake(t) {
		return strings.Join(messagingtest.StartKafka(t), ",")
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "kfake")
	build := exec.Command("go", "build", "-o", bin, "./tests/cluster/kfake")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the kfake broker: %v\n%s", err, out)
	}
	port := freePort(t)
	p := start(t, "kfake", bin, "-port", strconv.Itoa(port))
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	eventually(t, startTimeout, func() error {
		p.running()
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	t.Logf("kfake broker on %s (%s=1)", addr, envKfake)
	return addr
}

// envKfake, set to 1, runs the cluster tests on the kfake broker instead of
// Apache Kafka.
const envKfake = "BRISK_CLUSTER_KFAKE"

// useKfake reports whether the test run chose the kfake broker
// ($BRISK_CLUSTER_KFAKE=1). Otherwise Apache Kafka must be installed
// (scripts/kafka.sh install, which make test runs): t fails when it is not.
func useKfake(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envKfake) == "1" {
		return true
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("Apache Kafka needs java (17+) on the PATH: run `bash scripts/kafka.sh install` (make test does), "+
			"or set %s=1 to run on the kfake broker: %v", envKfake, err)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "kafka.sh"), "installed").CombinedOutput(); err != nil {
		t.Fatalf("Apache Kafka is not installed: run `bash scripts/kafka.sh install` (make test does), "+
			"or set %s=1 to run on the kfake broker: %v %s", envKfake, err, strings.TrimSpace(string(out)))
	}
	return false
}

// eventually polls f every 200 ms until it returns nil or the bound
// passes, then fails with f's last error.
func eventually(t *testing.T, bound time.Duration, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still failing after %s: %v", bound, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// get fetches a URL and returns the status and body.
func get(u string) (int, string, error) {
	resp, err := httpClient.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// invokers reads GET /invokers.
func invokers(apiHost string) (map[string]string, error) {
	st, body, err := get(apiHost + "/invokers")
	if err != nil {
		return nil, err
	}
	if st != http.StatusOK {
		return nil, fmt.Errorf("GET /invokers: %d %s", st, body)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return nil, fmt.Errorf("GET /invokers: %w in %s", err, body)
	}
	return m, nil
}

// waitInvokers waits until GET /invokers shows exactly want.
func waitInvokers(t *testing.T, apiHost string, bound time.Duration, want map[string]string) {
	t.Helper()
	eventually(t, bound, func() error {
		got, err := invokers(apiHost)
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("GET /invokers = %v, want %v", got, want)
		}
		return nil
	})
}

// newClient is an openwhisk-client-go client for the guest.
func newClient(t *testing.T, apiHost string) *whisk.Client {
	t.Helper()
	base, err := url.Parse(apiHost + "/api")
	if err != nil {
		t.Fatal(err)
	}
	c, err := whisk.NewClient(&http.Client{Timeout: 90 * time.Second}, &whisk.Config{
		Host: apiHost, BaseURL: base, AuthToken: harness.GuestAuth, Namespace: "_", Version: "v1", Insecure: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startCluster starts, on brokers and a fresh set of pouchdb-server
// databases, one controller and two invokers, and waits until both invokers
// are up. users are "namespace → uuid:key" created with brisk admin before
// the start, as an operator does (the guest key is always created). The
// throttles are raised: these tests poll invokes and share one namespace, and
// upstream's 60/min is not what they check (TestThrottles does, standalone).
func startCluster(t *testing.T, brokers string, users map[string]string) *cluster {
	t.Helper()
	return startClusterOf(t, brokers, users, 1)
}

// startClusterOf is startCluster with n controllers forming one Raft group;
// it waits until the group has a leader.
func startClusterOf(t *testing.T, brokers string, users map[string]string, n int) *cluster {
	t.Helper()
	return startClusterWith(t, brokers, users, n, storetest.CouchURL(t))
}

// startClusterWith is startClusterOf on the CouchDB API at couch.
func startClusterWith(t *testing.T, brokers string, users map[string]string, n int, couch string) *cluster {
	t.Helper()
	bin := harness.Binary(t)
	prefix := storetest.UniquePrefix()
	t.Cleanup(func() { storetest.DestroyDBs(t, couch, prefix) }) // runs after the processes stopped
	all := map[string]string{"guest": harness.GuestAuth, "whisk.system": systemAuth}
	for ns, auth := range users {
		all[ns] = auth
	}
	for ns, auth := range all {
		admin := exec.Command(bin, "admin", "--couchdb", couch, "--db-prefix", prefix, "user", "create", ns, "-u", auth)
		admin.Env = cleanEnv()
		if out, err := admin.CombinedOutput(); err != nil {
			t.Fatalf("brisk admin user create %s: %v\n%s", ns, err, out)
		}
	}
	dir := t.TempDir()
	c := &cluster{t: t, bin: bin,
		common:   []string{"--kafka", brokers, "--couchdb", couch, "--db-prefix", prefix},
		invDirs:  []string{filepath.Join(dir, "inv0"), filepath.Join(dir, "inv1")},
		invokers: make([]*proc, 2), ctls: make([]*proc, n)}
	var voters []string
	for i := range n {
		api := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		raft := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		c.apiHosts = append(c.apiHosts, "http://"+api)
		c.ctlArgs = append(c.ctlArgs, []string{"controller", "--id", strconv.Itoa(i), "--listen", api,
			"--raft-bind", raft, "--raft-data-dir", filepath.Join(dir, fmt.Sprintf("controller%d", i), "raft"),
			"--invocations-per-minute", "100000", "--fires-per-minute", "100000", "--concurrent-invocations", "1000"})
		voters = append(voters, fmt.Sprintf("%d=%s", i, raft))
	}
	for i := range n {
		c.ctlArgs[i] = append(append(c.ctlArgs[i], "--raft-voters", strings.Join(voters, ",")), c.common...)
		c.startController(i)
	}
	c.apiHost, c.ctl = c.apiHosts[0], c.ctls[0]
	for i := range n {
		c.waitPing(i)
	}
	c.leader(nil)
	c.startInvoker(0)
	c.startInvoker(1)
	waitInvokers(t, c.apiHost, startTimeout, map[string]string{"invoker0": "up", "invoker1": "up"})
	return c
}

// startController starts (or restarts, on its Raft data) controller i.
func (c *cluster) startController(i int) *proc {
	c.t.Helper()
	c.ctls[i] = start(c.t, fmt.Sprintf("controller%d", i), c.bin, c.ctlArgs[i]...)
	return c.ctls[i]
}

// waitPing waits until controller i answers /ping.
func (c *cluster) waitPing(i int) {
	c.t.Helper()
	eventually(c.t, startTimeout, func() error {
		c.ctls[i].running()
		st, body, err := get(c.apiHosts[i] + "/ping")
		if err == nil && (st != http.StatusOK || body != "pong") {
			err = fmt.Errorf("GET /ping: %d %s", st, body)
		}
		return err
	})
}

// controllerState is one entry of GET /controllers.
type controllerState struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	State   string `json:"state"`
}

// controllers reads GET /controllers of controller i.
func (c *cluster) controllers(i int) ([]controllerState, error) {
	st, body, err := get(c.apiHosts[i] + "/controllers")
	if err != nil {
		return nil, err
	}
	if st != http.StatusOK {
		return nil, fmt.Errorf("GET /controllers: %d %s", st, body)
	}
	var list []controllerState
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		return nil, fmt.Errorf("GET /controllers: %w in %s", err, body)
	}
	return list, nil
}

// leaderSeenBy is the leader controller i sees ("" for none).
func (c *cluster) leaderSeenBy(i int) (string, error) {
	list, err := c.controllers(i)
	if err != nil {
		return "", err
	}
	for _, s := range list {
		if s.State == "leader" {
			return s.ID, nil
		}
	}
	return "", nil
}

// leader waits until every running controller but those in skip sees the
// same leader, not one of skip, and returns its index.
func (c *cluster) leader(skip map[int]bool) int {
	c.t.Helper()
	var leader string
	eventually(c.t, startTimeout, func() error {
		leader = ""
		for i := range c.ctls {
			if skip[i] {
				continue
			}
			l, err := c.leaderSeenBy(i)
			if err != nil {
				return err
			}
			if l == "" || (leader != "" && l != leader) {
				return fmt.Errorf("controller%d sees leader %q, others %q", i, l, leader)
			}
			leader = l
		}
		if n, _ := strconv.Atoi(leader); skip[n] {
			return fmt.Errorf("the leader is still controller%s", leader)
		}
		return nil
	})
	n, _ := strconv.Atoi(leader)
	return n
}
