package cluster

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"
)

// metricsURLRe finds the URL an invoker prints for its /metrics.
var metricsURLRe = regexp.MustCompile(`metrics at (http://\S+/metrics)`)

// invokerMetricsURL waits until invoker i has printed its /metrics URL.
func (c *cluster) invokerMetricsURL(i int) string {
	c.t.Helper()
	var u string
	eventually(c.t, startTimeout, func() error {
		if m := metricsURLRe.FindStringSubmatch(c.invokers[i].out.String()); m != nil {
			u = m[1]
			return nil
		}
		return fmt.Errorf("invoker%d has not printed its metrics URL", i)
	})
	return u
}

// scrape GETs a /metrics without credentials.
func scrape(u string) (string, error) {
	st, body, err := get(u)
	if err != nil {
		return "", err
	}
	if st != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d %s", u, st, body)
	}
	return body, nil
}

// value is the value of the series name{labels} in a scrape (labels in
// sorted order, as written), or -1 when absent.
func value(text, name, labels string) float64 {
	prefix := name + "{" + labels + "} "
	if labels == "" {
		prefix = name + " "
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// TestClusterMetrics scrapes a controller's /metrics (no auth, API port)
// and each invoker's (its own port) after real invokes: the invokers count
// the activations under upstream's names and labels, the controller its
// invokes, Kafka sends and Raft state.
func TestClusterMetrics(t *testing.T) {
	c := startCluster(t, startKafka(t), nil)
	client := newClient(t, c.apiHost)
	const n = 4
	name, code := "metered", whereCode
	if _, _, err := client.Actions.Insert(&whisk.Action{Name: name, Namespace: "guest",
		Exec: &whisk.Exec{Kind: "nodejs:20", Code: &code}}, false); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	for range n {
		c.invokedOn(client, name)
	}
	urls := []string{c.invokerMetricsURL(0), c.invokerMetricsURL(1)}
	labels := `action="metered",initiator="guest",namespace="guest"`
	sum := func(text []string, name, labels string) float64 {
		total := 0.0
		for _, s := range text {
			total += max(value(s, name, labels), 0)
		}
		return total
	}
	var texts []string
	eventually(t, startTimeout, func() error {
		texts = texts[:0]
		for _, u := range urls {
			s, err := scrape(u)
			if err != nil {
				return err
			}
			texts = append(texts, s)
		}
		got := sum(texts, "openwhisk_action_activations_total",
			`action="metered",initiator="guest",kind="nodejs:20",memory="256",namespace="guest"`)
		if got != n {
			return fmt.Errorf("openwhisk_action_activations_total of metered on the invokers: %v, want %d", got, n)
		}
		return nil
	})
	for _, w := range []struct {
		name, labels string
		want         float64
	}{
		{"openwhisk_action_status", labels + `,status="success"`, n},
		{"openwhisk_action_waitTime_seconds_count", labels, n},
		{"openwhisk_action_duration_seconds_count", labels, n},
		{"openwhisk_action_duration_seconds_bucket", labels + `,le="+Inf"`, n},
	} {
		if got := sum(texts, w.name, w.labels); got != w.want {
			t.Errorf("%s{%s} over the invokers = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	if got := sum(texts, "openwhisk_action_coldStarts_total", labels); got < 1 {
		t.Errorf("no cold start counted: %v", got)
	}
	if got := sum(texts, "openwhisk_action_initTime_seconds_count", labels); got < 1 {
		t.Errorf("no init time observed: %v", got)
	}
	for i, s := range texts {
		for _, series := range []string{`brisk_invoker_containers{state="warm"}`, `brisk_invoker_user_memory_megabytes`,
			`brisk_kafka_consumer_lag{group="invoker` + strconv.Itoa(i) + `",topic="invoker` + strconv.Itoa(i) + `"}`} {
			if !strings.Contains(s, series+" ") {
				t.Errorf("invoker%d's /metrics lacks %s", i, series)
			}
		}
	}

	ctl, err := scrape(c.apiHost + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if got := value(ctl, "brisk_api_requests_total", `code="200",operation="invoke"`); got < n {
		t.Errorf("controller's brisk_api_requests_total{invoke,200} = %v, want at least %d", got, n)
	}
	if got := value(ctl, "brisk_raft_leader", ""); got != 1 {
		t.Errorf("brisk_raft_leader of the only controller = %v, want 1", got)
	}
	if got := value(ctl, "brisk_raft_controllers", ""); got != 1 {
		t.Errorf("brisk_raft_controllers = %v, want 1", got)
	}
	for _, series := range []string{`brisk_kafka_produce_duration_seconds_count{topic="invoker`,
		`brisk_kafka_consume_delay_seconds_count{topic="completed0"}`, `brisk_store_request_duration_seconds_count{operation="GetIdentity"`} {
		if !strings.Contains(ctl, series) {
			t.Errorf("controller's /metrics lacks %s", series)
		}
	}
	if t.Failed() {
		t.Logf("controller:\n%s\ninvoker0:\n%s", ctl, texts[0])
	}
}
