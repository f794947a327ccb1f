package metrics_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/brisk-serverless/brisk/internal/metrics"
)

// exported is every series name a Brisk process exports: each family, and
// for histograms its _bucket, _sum and _count series.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New()
	// Touch every family, so that each has a series to gather.
	m.ObserveActivation(metrics.Activation{Namespace: "n", Initiator: "i", Action: "a", Kind: "k", MemoryMB: 256,
		InitTime: time.Millisecond, ResponseSize: 1})
	m.Throttled(metrics.LimitConcurrentInvocations, "n")
	m.Throttled(metrics.LimitInvocationsPerMinute, "n")
	m.APIRequest("invoke", 200, time.Millisecond)
	m.KafkaProduced("t", time.Millisecond, nil)
	m.KafkaProduced("t", 0, errors.New("x"))
	m.KafkaConsumed("t", "g", time.Millisecond, 0)
	m.StoreCall("GetEntity", time.Millisecond)
	m.StoreError(false)
	if err := m.WatchPool(func() metrics.PoolSizes { return metrics.PoolSizes{} }); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchRaft(func() bool { return true }, func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	return names
}

// TestDashboardUsesExportedMetrics: the Grafana dashboard in docs/ is valid
// JSON, and every metric its queries and variables name is one Brisk
// exports.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	names := exported(t)
	metricName := regexp.MustCompile(`\b(openwhisk_[A-Za-z_]+|brisk_[a-z_]+)\b`)
	var exprs []string
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	used := map[string]bool{}
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			used[n] = true
			if !names[n] {
				t.Errorf("dashboard query %q uses %s, which Brisk does not export", e, n)
			}
		}
	}
	// Every upstream activation metric is on the dashboard.
	for _, n := range []string{metrics.ActivationsTotal, metrics.ColdStartsTotal, metrics.WaitTimeSeconds + "_bucket",
		metrics.InitTimeSeconds + "_sum", metrics.DurationSeconds + "_bucket", metrics.Status, metrics.Memory} {
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
	if len(used) < 20 || !strings.Contains(dash.Title, "Brisk") {
		t.Errorf("dashboard %q uses only %d metrics", dash.Title, len(used))
	}
}
