package cluster

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/store/storetest"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// The robustness suite (etcd's robustness tests are the model): a cluster
// of three controllers, two invokers, Apache Kafka and pouchdb-server under
// steady mixed load while a fault injector kills, restarts and freezes
// random components for a bounded time; then a checker over the API's
// answers and the records. BRISK_ROBUSTNESS_SECONDS sets how long the
// faults go on (default 45, CI's size).

// echoCode answers the token it was given, so that a caller can tell its
// own result from another caller's.
const echoCode = `function main(p) { return { token: p.token }; }`

// robustnessDuration is how long load and faults go on.
func robustnessDuration(t *testing.T) time.Duration {
	if v := os.Getenv("BRISK_ROBUSTNESS_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("BRISK_ROBUSTNESS_SECONDS=%q: want a number of seconds", v)
		}
		return time.Duration(n) * time.Second
	}
	return 45 * time.Second
}

// history is what the clients saw: each operation and its answer.
type history struct {
	mu         sync.Mutex
	ops        map[string]int // kind → count
	refused    int            // answered with an error (not accepted), or no answer
	accepted   []string       // activation ids the API answered with
	kindOf     map[string]string
	writes     []string // action names whose PUT answered 200
	violations []string
}

func (h *history) op(kind string) {
	h.mu.Lock()
	h.ops[kind]++
	h.mu.Unlock()
}

func (h *history) refuse() {
	h.mu.Lock()
	h.refused++
	h.mu.Unlock()
}

func (h *history) accept(id, kind string) {
	h.mu.Lock()
	h.accepted = append(h.accepted, id)
	h.kindOf[id] = kind
	h.mu.Unlock()
}

func (h *history) wrote(name string) {
	h.mu.Lock()
	h.writes = append(h.writes, name)
	h.mu.Unlock()
}

func (h *history) violation(format string, args ...any) {
	h.mu.Lock()
	h.violations = append(h.violations, fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

// kill stops the broker with SIGKILL, as a crash does.
func (k *kafkaBroker) kill() {
	k.t.Helper()
	if !k.real {
		k.p.stop(syscall.SIGKILL)
		return
	}
	tmp := os.Getenv("TMPDIR")
	if tmp == "" {
		tmp = "/tmp"
	}
	b, err := os.ReadFile(filepath.Join(tmp, "brisk-kafka-"+strconv.Itoa(k.port), "pid"))
	if err != nil {
		k.t.Fatalf("kafka pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		k.t.Fatalf("kafka pid %q: %v", b, err)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	eventually(k.t, 30*time.Second, func() error {
		if err := syscall.Kill(pid, 0); err == nil {
			return fmt.Errorf("kafka (pid %d) still runs", pid)
		}
		return nil
	})
}

// robustLoad runs one client until stop: a random operation at a time
// through a random controller, noting what it was answered.
func robustLoad(c *cluster, h *history, worker int, stop <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		host := c.apiHosts[rand.IntN(len(c.apiHosts))]
		token := fmt.Sprintf("w%d-%d", worker, n)
		switch r := rand.IntN(100); {
		case r < 35: // a blocking invoke: its result is the caller's own
			h.op("blocking invoke")
			st, body, err := invokeRaw(host, "echo", true, map[string]any{"token": token})
			robustAnswer(h, "blocking invoke", st, body, err, token)
		case r < 60: // a non-blocking invoke
			h.op("non-blocking invoke")
			st, body, err := invokeRaw(host, "echo", false, map[string]any{"token": token})
			robustAnswer(h, "non-blocking invoke", st, body, err, "")
		case r < 70: // a blocking sequence
			h.op("sequence")
			st, body, err := invokeRaw(host, "seq", true, map[string]any{"token": token})
			robustAnswer(h, "sequence", st, body, err, token)
		case r < 85: // a trigger fire with a rule
			h.op("trigger fire")
			st, b, err := doJSON(http.MethodPost, host+"/api/v1/namespaces/_/triggers/fire", harness.GuestAuth, map[string]any{"token": token})
			if err != nil || st != http.StatusAccepted {
				h.refuse()
				continue
			}
			id := jsonField(b, "activationId")
			if id == "" {
				h.violation("trigger fire answered 202 without an activation id: %s", b)
				continue
			}
			h.accept(id, "trigger fire")
		default: // an entity write
			h.op("entity write")
			name := "w-" + token
			st, _, err := doJSON(http.MethodPut, host+"/api/v1/namespaces/_/actions/"+name, harness.GuestAuth,
				map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": echoCode}})
			if err != nil || st != http.StatusOK {
				h.refuse()
				continue
			}
			h.wrote(name)
		}
	}
}

// robustAnswer notes an invoke's answer: accepted with an activation id
// (200, 502 and 500 with a record, or 202), else refused; a blocking
// result must carry the caller's own token.
func robustAnswer(h *history, kind string, st int, body map[string]any, err error, token string) {
	id, _ := body["activationId"].(string)
	switch {
	case err != nil || id == "":
		h.refuse()
		return
	case st == http.StatusAccepted:
	case st == http.StatusOK && token != "":
		resp, _ := body["response"].(map[string]any)
		result, _ := resp["result"].(map[string]any)
		if got, _ := result["token"].(string); got != token {
			h.violation("activation %s answered caller %s with the result %v", id, token, result)
		}
	}
	h.accept(id, fmt.Sprintf("%s answered %d", kind, st))
}

func jsonField(body, key string) string {
	_, rest, ok := strings.Cut(body, `"`+key+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// fault is one injected fault and when it ended.
type fault struct {
	what     string
	from, to time.Time
}

// injectFaults kills, restarts and freezes random components until stop,
// one at a time, and returns what it did.
func injectFaults(t *testing.T, c *cluster, k *kafkaBroker, pouch *storetest.PouchDB, stop <-chan struct{}) []fault {
	var faults []fault
	pause := func(d time.Duration) bool {
		select {
		case <-stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	for pause(time.Duration(2000+rand.IntN(2000)) * time.Millisecond) {
		// down is how long a component stays down or frozen: the fault's
		// length, not an ordering (each restart waits for nothing).
		down := time.Duration(1000+rand.IntN(2000)) * time.Millisecond
		f := fault{from: time.Now()}
		switch r := rand.IntN(6); r {
		case 0: // a controller crashes and comes back
			i := rand.IntN(len(c.ctls))
			f.what = fmt.Sprintf("controller%d killed", i)
			c.ctls[i].stop(syscall.SIGKILL)
			time.Sleep(down)
			c.startController(i)
		case 1: // an invoker crashes and comes back
			i := rand.IntN(len(c.invokers))
			f.what = fmt.Sprintf("invoker%d killed", i)
			c.invokers[i].stop(syscall.SIGKILL)
			time.Sleep(down)
			c.startInvoker(i)
		case 2: // the broker crashes and comes back
			f.what = "kafka killed"
			k.kill()
			time.Sleep(down)
			k.start()
		case 3: // the database stops and comes back
			f.what = "pouchdb-server stopped"
			pouch.Stop()
			time.Sleep(down)
			pouch.Start()
		case 4, 5: // a controller or an invoker freezes for a while
			p := c.ctls[rand.IntN(len(c.ctls))]
			if r == 5 {
				p = c.invokers[rand.IntN(len(c.invokers))]
			}
			f.what = p.name + " frozen"
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGSTOP)
			time.Sleep(down)
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT)
		}
		f.to = time.Now()
		faults = append(faults, f)
	}
	return faults
}

// TestRobustness: under load and injected faults, every activation the API
// accepted ends with exactly one record, no entity write answered 200 is
// gone, and no caller gets another caller's result.
func TestRobustness(t *testing.T) {
	duration := robustnessDuration(t)
	k := newKafkaBroker(t)
	pouch := storetest.StartPouchDB(t, storetest.PouchOptions{Dir: t.TempDir()})
	c := startClusterWith(t, k.addr(), nil, 3, pouch.URL)
	client := newClient(t, c.apiHost)
	for _, step := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPut, "actions/echo", map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": echoCode}}},
		{http.MethodPut, "actions/seq", map[string]any{"exec": map[string]any{"kind": "sequence", "components": []string{"/_/echo", "/_/echo"}}}},
		{http.MethodPut, "triggers/fire", map[string]any{}},
		{http.MethodPut, "rules/fire-rule", map[string]any{"trigger": "/_/fire", "action": "/_/echo"}},
	} {
		if st, b, err := doJSON(step.method, c.apiHost+"/api/v1/namespaces/_/"+step.path, harness.GuestAuth, step.body); err != nil || st != http.StatusOK {
			t.Fatalf("%s %s: %d %s %v", step.method, step.path, st, b, err)
		}
	}
	if st, body, err := invokeRaw(c.apiHost, "echo", true, map[string]any{"token": "warm"}); err != nil || st != http.StatusOK {
		t.Fatalf("first invoke: %d %v %v", st, body, err)
	}

	h := &history{ops: map[string]int{}, kindOf: map[string]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); robustLoad(c, h, w, stop) }()
	}
	faultsDone := make(chan []fault, 1)
	go func() { faultsDone <- injectFaults(t, c, k, pouch, stop) }()
	time.Sleep(duration) // the run's bounded length, not an ordering
	close(stop)
	faults := <-faultsDone
	wg.Wait()

	// Everything is up again: wait for a leader and both invokers, as seen
	// by every controller.
	c.leader(nil)
	for _, host := range c.apiHosts {
		waitInvokers(t, host, startTimeout, map[string]string{"invoker0": "up", "invoker1": "up"})
	}
	client = newClient(t, c.apiHost)

	// The checker.
	missing := map[string]bool{}
	for _, id := range h.accepted {
		missing[id] = true
	}
	deadline := time.Now().Add(4 * time.Minute)
	for len(missing) > 0 && time.Now().Before(deadline) {
		for id := range missing {
			if _, resp, err := client.Activations.Get(id); err == nil && resp != nil && resp.StatusCode == http.StatusOK {
				delete(missing, id)
			}
		}
		if len(missing) > 0 {
			time.Sleep(time.Second)
		}
	}
	for id := range missing {
		h.violation("accepted activation %s (%s) has no record", id, h.kindOf[id])
	}
	for _, name := range h.writes {
		if _, resp, err := client.Actions.Get(name, false); err != nil || resp == nil || resp.StatusCode != http.StatusOK {
			h.violation("action %s was answered 200 to its PUT and is gone (%v)", name, err)
		}
	}

	var what []string
	for _, f := range faults {
		what = append(what, fmt.Sprintf("%s %s-%s", f.what, f.from.Format("15:04:05"), f.to.Format("15:04:05")))
	}
	total := 0
	for _, n := range h.ops {
		total += n
	}
	t.Logf("robustness: %s; %d operations %v, %d accepted activations, %d entity writes, %d refused; %d faults: %s; %d violations",
		duration, total, h.ops, len(h.accepted), len(h.writes), h.refused, len(faults), strings.Join(what, ", "), len(h.violations))
	if len(h.accepted) < 50 || len(faults) == 0 {
		t.Errorf("the run was too small to mean anything: %d accepted activations, %d faults", len(h.accepted), len(faults))
	}
	for _, v := range first(h.violations, 20) {
		t.Error(v)
	}
}
