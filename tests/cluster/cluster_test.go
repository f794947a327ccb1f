package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
)

// whereCode answers where it ran: the process backend gives every container
// a TMPDIR under its invoker's data directory.
const whereCode = `function main(p) { return { tmp: process.env.TMPDIR, name: p.name }; }`

// cluster is one controller and its invokers on a broker and a database.
type cluster struct {
	t        *testing.T
	bin      string
	apiHost  string
	common   []string // --kafka, --couchdb, --db-prefix
	invDirs  []string
	invokers []*proc
	ctl      *proc // ctls[0]
	// Controllers: their processes, API hosts and arguments (for restarts).
	ctls     []*proc
	apiHosts []string
	ctlArgs  [][]string
}

func (c *cluster) startInvoker(n int) *proc {
	c.t.Helper()
	args := append([]string{"invoker", "--id", strconv.Itoa(n), "--data-dir", c.invDirs[n], "--api-host", c.apiHost,
		"--prewarm=false", "--user-memory", "1024"}, c.common...)
	p := start(c.t, fmt.Sprintf("invoker%d", n), c.bin, args...)
	c.invokers[n] = p
	return p
}

// invokedOn invokes action name blocking and returns the invoker that ran it.
func (c *cluster) invokedOn(client *whisk.Client, name string) int {
	c.t.Helper()
	res, resp, err := client.Actions.Invoke(name, map[string]any{"name": name}, true, true)
	if err != nil || resp == nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("invoke %s: %v (%v)", name, err, statusOf(resp))
	}
	b, _ := json.Marshal(res)
	var got struct{ Tmp, Name string }
	if err := json.Unmarshal(b, &got); err != nil || got.Name != name {
		c.t.Fatalf("invoke %s: result %s", name, b)
	}
	for i, dir := range c.invDirs {
		if strings.HasPrefix(got.Tmp, dir+string(filepath.Separator)) {
			return i
		}
	}
	c.t.Fatalf("invoke %s ran with TMPDIR %q, under no invoker's data directory %v", name, got.Tmp, c.invDirs)
	return -1
}

func statusOf(resp *http.Response) any {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

func TestControllerAndTwoInvokers(t *testing.T) {
	// The guest key is created as an operator does; both invokers register by
	// pinging and come up once their test action ran.
	c := startCluster(t, startKafka(t), nil)
	if st, body, err := get(c.apiHost + "/invokers/ready"); err != nil || st != http.StatusOK || body != `{"healthy":"2/2"}` {
		t.Fatalf("GET /invokers/ready = %d %s %v", st, body, err)
	}
	if st, body, err := get(c.apiHost + "/invokers/healthy/count"); err != nil || st != http.StatusOK || body != "2" {
		t.Fatalf("GET /invokers/healthy/count = %d %s %v", st, body, err)
	}

	// Actions are sharded over both invokers by their home invoker.
	client := newClient(t, c.apiHost)
	code := whereCode
	ran := map[int][]string{}
	for i := range 8 {
		name := fmt.Sprintf("where%d", i)
		if _, _, err := client.Actions.Insert(&whisk.Action{Name: name, Exec: &whisk.Exec{Kind: "nodejs:20", Code: &code}}, false); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		n := c.invokedOn(client, name)
		ran[n] = append(ran[n], name)
		// The same action stays on its home invoker (its container is warm there).
		if again := c.invokedOn(client, name); again != n {
			t.Errorf("%s ran on invoker%d, then on invoker%d: want its home invoker both times", name, n, again)
		}
	}
	if len(ran[0]) == 0 || len(ran[1]) == 0 {
		t.Fatalf("work per invoker: %v; want both invokers to take work", ran)
	}
	t.Logf("actions per invoker: %v", ran)

	// A non-blocking invoke is recorded by its invoker.
	res, resp, err := client.Actions.Invoke("where0", map[string]any{"name": "async"}, false, false)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("non-blocking invoke: %v (%v)", err, statusOf(resp))
	}
	id, _ := res.(map[string]any)["activationId"].(string)
	eventually(t, 30*time.Second, func() error {
		a, _, err := client.Activations.Get(id)
		if err != nil {
			return err
		}
		if !a.Response.Success {
			return fmt.Errorf("activation %s: %+v", id, a.Response)
		}
		return nil
	})

	// Stop both invokers: invoker0 cleanly (it says so: down at once),
	// invoker1 killed (down when its pings stop for 10 s).
	c.invokers[0].stop(syscall.SIGTERM)
	c.invokers[1].stop(syscall.SIGKILL)
	waitInvokers(t, c.apiHost, 30*time.Second, map[string]string{"invoker0": "down", "invoker1": "down"})
	_, resp, err = client.Actions.Invoke("where0", map[string]any{}, true, true)
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || err == nil ||
		!strings.Contains(err.Error(), "No invokers available: 0 of 2 invokers are up (2 down).") {
		t.Fatalf("invoke with no invoker up: %v, %v; want 503 No invokers available", statusOf(resp), err)
	}
	if st, body, err := get(c.apiHost + "/invokers/ready"); err != nil || st != http.StatusInternalServerError || body != `{"unhealthy":"2/2"}` {
		t.Fatalf("GET /invokers/ready = %d %s %v", st, body, err)
	}

	// invoker1 comes back: it pings, passes its test action and takes work.
	c.startInvoker(1)
	waitInvokers(t, c.apiHost, startTimeout, map[string]string{"invoker0": "down", "invoker1": "up"})
	for _, name := range ran[0] { // actions whose home is down step to invoker1
		if n := c.invokedOn(client, name); n != 1 {
			t.Fatalf("%s ran on invoker%d with only invoker1 up", name, n)
		}
	}
}
