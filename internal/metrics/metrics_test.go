package metrics_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/internal/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestActivationMetricsUseUpstreamNamesAndLabels(t *testing.T) {
	m := metrics.New()
	m.ObserveActivation(metrics.Activation{Namespace: "ns", Initiator: "guest", Action: "pkg/hello", Kind: "nodejs:20",
		MemoryMB: 256, StatusCode: 0, WaitTime: 20 * time.Millisecond, InitTime: 40 * time.Millisecond,
		Duration: 60 * time.Millisecond, ResponseSize: 10})
	m.ObserveActivation(metrics.Activation{Namespace: "ns", Initiator: "guest", Action: "pkg/hello", Kind: "nodejs:20",
		MemoryMB: 256, StatusCode: 2, Duration: time.Millisecond, ResponseSize: -1})
	text := scrape(t, m)
	for _, want := range []string{
		`openwhisk_action_activations_total{action="pkg/hello",initiator="guest",kind="nodejs:20",memory="256",namespace="ns"} 2`,
		`openwhisk_action_coldStarts_total{action="pkg/hello",initiator="guest",namespace="ns"} 1`,
		`openwhisk_action_initTime_seconds_count{action="pkg/hello",initiator="guest",namespace="ns"} 1`,
		`openwhisk_action_initTime_seconds_bucket{action="pkg/hello",initiator="guest",namespace="ns",le="0.05"} 1`,
		`openwhisk_action_waitTime_seconds_count{action="pkg/hello",initiator="guest",namespace="ns"} 2`,
		`openwhisk_action_duration_seconds_bucket{action="pkg/hello",initiator="guest",namespace="ns",le="0.075"} 2`,
		`openwhisk_action_status{action="pkg/hello",initiator="guest",namespace="ns",status="success"} 1`,
		`openwhisk_action_status{action="pkg/hello",initiator="guest",namespace="ns",status="action_developer_error"} 1`,
		`openwhisk_action_memory{action="pkg/hello",initiator="guest",namespace="ns"} 256`,
		`openwhisk_action_response_size_bytes_count{action="pkg/hello",initiator="guest",namespace="ns"} 1`,
		"# TYPE openwhisk_action_status counter",
		"# TYPE openwhisk_action_memory gauge",
		"# TYPE openwhisk_action_duration_seconds histogram",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
}

func TestStatusLabelIsUpstreams(t *testing.T) {
	for code, want := range map[int]string{0: "success", 1: "application_error", 2: "action_developer_error",
		3: "whisk_internal_error", 7: "7"} {
		if got := metrics.StatusLabel(code); got != want {
			t.Errorf("StatusLabel(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestBriskMetrics(t *testing.T) {
	m := metrics.New()
	m.Throttled(metrics.LimitConcurrentInvocations, "guest")
	m.Throttled(metrics.LimitInvocationsPerMinute, "guest")
	m.APIRequest("invoke", 200, time.Millisecond)
	m.APIRequest("invoke", 429, time.Millisecond)
	m.KafkaProduced("invoker0", time.Millisecond, nil)
	m.KafkaProduced("invoker0", 0, errors.New("down"))
	m.KafkaConsumed("completed0", "completed0", 2*time.Millisecond, 3)
	m.StoreCall("GetAction", time.Millisecond)
	m.StoreError(true)
	if err := m.WatchPool(func() metrics.PoolSizes { return metrics.PoolSizes{Warm: 2, Busy: 1, UserMB: 2048} }); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchPool(func() metrics.PoolSizes { return metrics.PoolSizes{} }); err != nil {
		t.Fatalf("a second pool in one process: %v", err)
	}
	if err := m.WatchRaft(func() bool { return true }, func() int { return 3 }); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, m)
	for _, want := range []string{
		`brisk_throttle_rejections_total{limit="concurrent-invocations"} 1`,
		`openwhisk_action_limit_concurrent_total{namespace="guest"} 1`,
		`openwhisk_action_limit_timed_total{namespace="guest"} 1`,
		`brisk_api_requests_total{code="429",operation="invoke"} 1`,
		`brisk_api_request_duration_seconds_count{operation="invoke"} 2`,
		`brisk_kafka_produce_duration_seconds_count{topic="invoker0"} 1`,
		`brisk_kafka_produce_errors_total{topic="invoker0"} 1`,
		`brisk_kafka_consume_delay_seconds_count{topic="completed0"} 1`,
		`brisk_kafka_consumer_lag{group="completed0",topic="completed0"} 3`,
		`brisk_store_request_duration_seconds_count{operation="GetAction"} 1`,
		`brisk_store_errors_total{kind="unavailable"} 1`,
		`brisk_invoker_containers{state="warm"} 2`,
		`brisk_invoker_containers{state="busy"} 1`,
		`brisk_invoker_user_memory_megabytes 2048`,
		`brisk_raft_leader 1`,
		`brisk_raft_controllers 3`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %s", want)
		}
	}
}

func TestNilMetricsDoNothing(t *testing.T) {
	var m *metrics.Metrics
	m.ObserveActivation(metrics.Activation{})
	m.Throttled(metrics.LimitFiresPerMinute, "x")
	m.APIRequest("other", 200, 0)
	m.KafkaProduced("t", 0, nil)
	m.KafkaConsumed("t", "g", 0, 0)
	m.StoreCall("x", 0)
	m.StoreError(false)
	if err := m.WatchPool(func() metrics.PoolSizes { return metrics.PoolSizes{} }); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchRaft(func() bool { return false }, func() int { return 0 }); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Errorf("nil metrics answer %d, want 404", rec.Code)
	}
}
