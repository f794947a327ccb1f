package controller_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/internal/metrics"
	"github.com/brisk-serverless/brisk/loadbalancer"
)

// TestMetricsEndpoint: /metrics answers without authentication and counts
// the requests by operation and status code, errors and throttle
// rejections included.
func TestMetricsEndpoint(t *testing.T) {
	m := metrics.New()
	e := newEnvWith(t, loadbalancer.New(loadbalancer.Config{Log: quietLogger()}), func(c *controller.Config) {
		c.Metrics = m
		c.Limits = api.DefaultLimits()
		c.Limits.FiresPerMinute = 0 // every fire is throttled
	})
	e.guest("GET", "/api/v1/namespaces/_/actions", nil)
	e.guest("GET", "/api/v1/namespaces/_/actions/nope", nil)
	e.guest("PUT", "/api/v1/namespaces/_/triggers/t", map[string]any{})
	if r := e.guest("POST", "/api/v1/namespaces/_/triggers/t", map[string]any{}); r.status != http.StatusTooManyRequests {
		t.Fatalf("fire: %d %s, want 429", r.status, r.body)
	}
	r := e.do("GET", "/metrics", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics without auth: %d %s", r.status, r.body)
	}
	text := string(r.body)
	for _, want := range []string{
		`brisk_api_requests_total{code="200",operation="other"} 2`,
		`brisk_api_requests_total{code="404",operation="other"} 1`,
		`brisk_api_requests_total{code="429",operation="fire"} 1`,
		`brisk_throttle_rejections_total{limit="fires-per-minute"} 1`,
		`openwhisk_action_limit_timed_total{namespace="guest"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	if t.Failed() {
		t.Logf("scraped:\n%s", text)
	}
	if r := e.do("POST", "/metrics", "", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", r.status)
	}
}

// TestNoMetricsWithoutRegistry: a server built without metrics has no
// /metrics route.
func TestNoMetricsWithoutRegistry(t *testing.T) {
	e := newEnv(t)
	if r := e.do("GET", "/metrics", "", nil); r.status != http.StatusNotFound {
		t.Errorf("GET /metrics: %d, want 404", r.status)
	}
}
