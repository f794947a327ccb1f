package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// sleeperCode answers where it ran, after sleeping p.ms milliseconds. With
// p.started (a directory) it first creates a file there, so that a test can
// see that it runs.
const sleeperCode = `function main(p) {
  if (p.started) require('fs').writeFileSync(p.started + '/' + Date.now() + '-' + Math.random(), '');
  return new Promise(r => setTimeout(() => r({ tmp: process.env.TMPDIR, name: p.name }), p.ms || 0));
}`

// createSleeper creates the sleeper action (128 MB, so that one invoker
// holds eight of them at once).
func createSleeper(t *testing.T, client *whisk.Client, name string) {
	t.Helper()
	code := sleeperCode
	mem := 128
	if _, _, err := client.Actions.Insert(&whisk.Action{Name: name, Exec: &whisk.Exec{Kind: "nodejs:20", Code: &code},
		Limits: &whisk.Limits{Memory: &mem}}, false); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

// invokeRaw invokes name with params through the REST API and returns the
// status and the decoded body.
func invokeRaw(apiHost, name string, blocking bool, params map[string]any) (int, map[string]any, error) {
	b, _ := json.Marshal(params)
	u := fmt.Sprintf("%s/api/v1/namespaces/_/actions/%s?blocking=%t", apiHost, name, blocking)
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	user, pass, _ := strings.Cut(harness.GuestAuth, ":")
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("decode the answer (%s): %w", resp.Status, err)
	}
	return resp.StatusCode, body, nil
}

// records lists the records of action name: activation id → how many.
func records(client *whisk.Client, name string) (map[string]int, error) {
	acts, _, err := client.Activations.List(&whisk.ActivationListOptions{Name: name, Limit: 200})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, a := range acts {
		out[a.ActivationID]++
	}
	return out, nil
}

// TestInvokerKilledMidRun kills (SIGKILL) an invoker while activations run
// on it: each accepted activation ends with exactly one record, the lost
// ones as whisk internal errors, a blocking caller is answered, new work
// goes to the other invoker, and the restarted invoker runs none again.
func TestInvokerKilledMidRun(t *testing.T) {
	c := startCluster(t, startKafka(t), nil)
	client := newClient(t, c.apiHost)
	createSleeper(t, client, "sleeper")
	home := c.invokedOn(client, "sleeper") // warms a container on the action's home invoker
	live := 1 - home

	// Four non-blocking activations and one blocking one, each running 30 s.
	started := t.TempDir()
	var lost []string
	for i := range 4 {
		st, body, err := invokeRaw(c.apiHost, "sleeper", false, map[string]any{"name": "sleeper", "ms": 30000, "started": started})
		if err != nil || st != http.StatusAccepted {
			t.Fatalf("non-blocking invoke %d: %d %v %v", i, st, body, err)
		}
		lost = append(lost, body["activationId"].(string))
	}
	type answer struct {
		status int
		body   map[string]any
		err    error
		at     time.Time
	}
	blocked := make(chan answer, 1)
	go func() {
		st, body, err := invokeRaw(c.apiHost, "sleeper", true, map[string]any{"name": "sleeper", "ms": 30000, "started": started})
		blocked <- answer{st, body, err, time.Now()}
	}()
	eventually(t, 30*time.Second, func() error { // all five are running
		if entries, err := os.ReadDir(started); err != nil || len(entries) < 5 {
			return fmt.Errorf("%d of 5 activations started (%v)", len(entries), err)
		}
		return nil
	})

	c.invokers[home].stop(syscall.SIGKILL)
	killed := time.Now()

	// The blocking caller is answered with the lost activation's record
	// (upstream's 500 for a whisk error), not left waiting for its 60 s.
	var a answer
	select {
	case a = <-blocked:
	case <-time.After(55 * time.Second):
		t.Fatal("the blocking invoke whose invoker was killed got no answer within 55 s")
	}
	if a.err != nil || a.status != http.StatusInternalServerError {
		t.Fatalf("blocking invoke on the killed invoker: %d %v %v; want 500 with the record", a.status, a.body, a.err)
	}
	if resp, _ := a.body["response"].(map[string]any); resp == nil || resp["status"] != "whisk internal error" {
		t.Fatalf("blocking invoke on the killed invoker answered %v; want status whisk internal error", a.body)
	}
	lost = append(lost, a.body["activationId"].(string))
	t.Logf("blocking caller answered %v after the kill", a.at.Sub(killed).Round(100*time.Millisecond))

	// New work goes to the live invoker within seconds.
	var first time.Duration
	eventually(t, 30*time.Second, func() error {
		st, body, err := invokeRaw(c.apiHost, "sleeper", true, map[string]any{"name": "sleeper"})
		if err != nil || st != http.StatusOK {
			return fmt.Errorf("invoke after the kill: %d %v %v", st, body, err)
		}
		if tmp, _ := body["response"].(map[string]any)["result"].(map[string]any)["tmp"].(string); !strings.HasPrefix(tmp, c.invDirs[live]+string(filepath.Separator)) {
			return fmt.Errorf("invoke after the kill ran with TMPDIR %q, not on invoker%d", tmp, live)
		}
		first = time.Since(killed)
		return nil
	})
	t.Logf("new work ran on invoker%d %v after invoker%d was killed", live, first.Round(100*time.Millisecond), home)
	if n := c.invokedOn(client, "sleeper"); n != live {
		t.Fatalf("sleeper ran on invoker%d after invoker%d was killed", n, home)
	}

	// Each lost activation has one record: a whisk internal error.
	checkLost := func() {
		t.Helper()
		eventually(t, 30*time.Second, func() error {
			for _, id := range lost {
				act, _, err := client.Activations.Get(id)
				if err != nil {
					return fmt.Errorf("activation %s: %w", id, err)
				}
				if act.Response.Status != "whisk internal error" {
					return fmt.Errorf("activation %s ended %q (%v), want whisk internal error", id, act.Response.Status, act.Response.Result)
				}
			}
			return nil
		})
		recs, err := records(client, "sleeper")
		if err != nil {
			t.Fatal(err)
		}
		// 1 warm-up, 5 lost, then at least 2 after the kill.
		if len(recs) < 8 {
			t.Errorf("%d records of sleeper: %v; want at least 8", len(recs), recs)
		}
		for id, n := range recs {
			if n != 1 {
				t.Errorf("activation %s has %d records, want 1", id, n)
			}
		}
	}
	checkLost()

	// The killed invoker comes back; it runs none of its lost activations
	// again (their records stay, and nothing waits for them).
	c.startInvoker(home)
	waitInvokers(t, c.apiHost, startTimeout, map[string]string{"invoker0": "up", "invoker1": "up"})
	before, err := records(client, "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	// A negative observation: nothing runs again within 3 s of the restart.
	time.Sleep(3 * time.Second)
	checkLost()
	after, err := records(client, "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("records of sleeper went from %d to %d after the restart with no invoke", len(before), len(after))
	}
}

// kafkaBroker is a broker the test can stop and start again on the same
// port and data directory: Apache Kafka through scripts/kafka.sh, or the
// kfake broker with a data directory when the run chose it (BRISK_CLUSTER_KFAKE=1).
type kafkaBroker struct {
	t       *testing.T
	real    bool
	script  string
	port    int
	ctlPort int
	dir     string
	kfake   string // the kfake binary
	p       *proc
}

func newKafkaBroker(t *testing.T) *kafkaBroker {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	k := &kafkaBroker{t: t, real: !useKfake(t), script: filepath.Join(root, "scripts", "kafka.sh"),
		port: freePort(t), ctlPort: freePort(t), dir: t.TempDir()}
	if !k.real {
		k.kfake = filepath.Join(t.TempDir(), "kfake")
		build := exec.Command("go", "build", "-o", k.kfake, "./tests/cluster/kfake")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build the kfake broker: %v\n%s", err, out)
		}
	}
	k.start()
	t.Cleanup(k.stop)
	return k
}

func (k *kafkaBroker) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port)) }

func (k *kafkaBroker) start() {
	k.t.Helper()
	if !k.real {
		k.p = start(k.t, "kfake", k.kfake, "-port", strconv.Itoa(k.port), "-data-dir", k.dir)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", k.script, "start", "--port", strconv.Itoa(k.port),
			"--controller-port", strconv.Itoa(k.ctlPort), "--dir", k.dir, "--parent", strconv.Itoa(os.Getpid()))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.WaitDelay = time.Second
		if err := cmd.Run(); err != nil && !strings.Contains(err.Error(), "WaitDelay") {
			k.t.Fatalf("scripts/kafka.sh start: %v\n%s", err, out.String())
		}
	}
	eventually(k.t, startTimeout, func() error {
		c, err := net.DialTimeout("tcp", k.addr(), time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func (k *kafkaBroker) stop() {
	if !k.real {
		if k.p != nil {
			k.p.stop(syscall.SIGTERM)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "bash", k.script, "stop", "--port", strconv.Itoa(k.port)).CombinedOutput(); err != nil {
		k.t.Logf("scripts/kafka.sh stop: %v\n%s", err, out)
	}
}

// TestKafkaRestarted stops the broker under a running cluster and starts it
// again on the same port and data directory: the platform resumes by itself.
func TestKafkaRestarted(t *testing.T) {
	k := newKafkaBroker(t)
	c := startCluster(t, k.addr(), nil)
	client := newClient(t, c.apiHost)
	createSleeper(t, client, "sleeper")
	c.invokedOn(client, "sleeper")

	k.stop()
	time.Sleep(3 * time.Second) // the outage lasts a while: the clients see the broker gone
	// Meanwhile invokes fail cleanly (no invoker reachable), never hang.
	if st, body, err := invokeRaw(c.apiHost, "sleeper", true, map[string]any{"name": "sleeper"}); err == nil && st == http.StatusOK {
		t.Logf("invoke with the broker down answered 200 %v (produced before the client noticed)", body)
	} else {
		t.Logf("invoke with the broker down: %d %v %v", st, body, err)
	}
	k.start()
	restarted := time.Now()

	// Without restarting Brisk, blocking invokes work again, on both
	// invokers, and the invokers stay up.
	eventually(t, 2*time.Minute, func() error {
		st, body, err := invokeRaw(c.apiHost, "sleeper", true, map[string]any{"name": "sleeper"})
		if err != nil || st != http.StatusOK {
			return fmt.Errorf("invoke after the broker restart: %d %v %v", st, body, err)
		}
		return nil
	})
	t.Logf("invokes work again %v after the broker restarted", time.Since(restarted).Round(100*time.Millisecond))
	waitInvokers(t, c.apiHost, time.Minute, map[string]string{"invoker0": "up", "invoker1": "up"})
	ran := map[int]bool{}
	for i := range 8 {
		name := fmt.Sprintf("after%d", i)
		createSleeper(t, client, name)
		ran[c.invokedOn(client, name)] = true
	}
	if !ran[0] || !ran[1] {
		t.Fatalf("after the broker restart work ran on %v; want both invokers", ran)
	}
	for _, p := range append([]*proc{}, c.invokers...) {
		p.running()
	}
}
