package wskcompat

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// scrapeMetrics GETs /metrics without credentials.
func scrapeMetrics(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET %s: Content-Type %q, want Prometheus's text format", url, ct)
	}
	return string(b)
}

// metricValue is the value of the series name{labels} in a scrape (labels
// in Prometheus's sorted order, as the exposition writes them), or -1.
func metricValue(text, name, labels string) float64 {
	prefix := name + "{" + labels + "} "
	if labels == "" {
		prefix = name + " "
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestMetrics scrapes standalone's /metrics (no auth, on the API port)
// after real invokes: upstream's activation counters and histograms move
// under their names and labels, Brisk's own request and pool metrics are
// there, and the log holds no routine Kafka timeouts.
func TestMetrics(t *testing.T) {
	harness.RequireOwnServer(t, "the activation metrics are the invokers'; against a cluster they are on each invoker's "+
		"own port (tests/cluster TestClusterMetrics checks them there)")
	srv := harness.Start(t)
	name := uniqueName("metrics")
	code := `function main(p) { return p.fail ? {error: "asked to"} : {ok: true}; }`
	mustInsert(t, srv.Client, newAction(name, kindNode, code), false)

	url := srv.APIHost + "/metrics"
	labels := `action="` + name + `",initiator="guest",namespace="guest"`
	var text string
	// An activation is counted once its container is back in the pool, a
	// moment after the blocking answer (logs are collected after it): wait
	// for each before the next invoke, so that the next one finds the
	// container warm on every backend.
	counted := func(n float64) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), activationWait)
		defer cancel()
		if err := harness.WaitFor(ctx, 50*time.Millisecond, func() bool {
			text = scrapeMetrics(t, url)
			return metricValue(text, "openwhisk_action_activations_total",
				`action="`+name+`",initiator="guest",kind="nodejs:20",memory="256",namespace="guest"`) == n
		}); err != nil {
			t.Fatalf("openwhisk_action_activations_total of %s never reached %v:\n%s", name, n, text)
		}
	}
	invokeResult(t, srv.Client, name, map[string]any{})
	counted(1)
	invokeResult(t, srv.Client, name, map[string]any{})
	counted(2)
	if _, resp, _ := invokeBlocking(t, srv.Client, name, map[string]any{"fail": true}); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("failing invoke: %s, want 502", status(resp))
	}
	counted(3)
	for _, c := range []struct {
		name, labels string
		want         float64 // -2: present, any value
	}{
		{"openwhisk_action_status", labels + `,status="success"`, 2},
		{"openwhisk_action_status", labels + `,status="application_error"`, 1},
		{"openwhisk_action_coldStarts_total", labels, 1},
		{"openwhisk_action_initTime_seconds_count", labels, 1},
		{"openwhisk_action_waitTime_seconds_count", labels, 3},
		{"openwhisk_action_duration_seconds_count", labels, 3},
		{"openwhisk_action_duration_seconds_bucket", labels + `,le="+Inf"`, 3},
		{"openwhisk_action_waitTime_seconds_bucket", labels + `,le="10"`, -2},
		{"openwhisk_action_memory", labels, 256},
		{"brisk_api_requests_total", `code="200",operation="invoke"`, -2},
		{"brisk_api_requests_total", `code="502",operation="invoke"`, -2},
		{"brisk_invoker_containers", `state="warm"`, -2},
		{"brisk_kafka_produce_duration_seconds_count", `topic="invoker0"`, -2},
		{"brisk_kafka_consume_delay_seconds_count", `topic="completed0"`, -2},
		{"brisk_store_request_duration_seconds_count", `operation="GetEntity"`, -2},
		{"brisk_raft_leader", "", -2}, // 1 once the group of one has elected itself
	} {
		got := metricValue(text, c.name, c.labels)
		if (c.want == -2 && got < 0) || (c.want != -2 && got != c.want) {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if t.Failed() {
		t.Logf("scraped:\n%s", text)
	}
	for _, line := range strings.Split(srv.Output(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "i/o timeout") {
			t.Errorf("a routine Kafka fetch timeout logged as a warning: %s", line)
		}
	}
}
