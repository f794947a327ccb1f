package invoker_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/brisk-serverless/brisk/internal/metrics"
	"github.com/brisk-serverless/brisk/invoker"
)

func scrapeText(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// TestActivationMetrics: each activation is counted under upstream's names
// and labels before its completion is acknowledged, a cold start once, and
// the pool's sizes follow its containers.
func TestActivationMetrics(t *testing.T) {
	m := metrics.New()
	r := newRig(t, func(c *invoker.Config) { c.Metrics = m })
	rev := r.putAction(t, "metered", `function main(a) { return a.fail ? {error: "no"} : {ok: true} }`, actionOpts{})
	r.blocking(t, message("metered", rev, true, `{}`))
	r.blocking(t, message("metered", rev, true, `{"fail": true}`))
	r.blocking(t, message("missing", "1-x", true, `{}`))

	text := scrapeText(t, m)
	labels := `action="metered",initiator="guest",namespace="guest"`
	for _, want := range []string{
		`openwhisk_action_activations_total{action="metered",initiator="guest",kind="nodejs:20",memory="256",namespace="guest"} 2`,
		`openwhisk_action_coldStarts_total{` + labels + `} 1`,
		`openwhisk_action_initTime_seconds_count{` + labels + `} 1`,
		`openwhisk_action_waitTime_seconds_count{` + labels + `} 2`,
		`openwhisk_action_duration_seconds_count{` + labels + `} 2`,
		`openwhisk_action_status{` + labels + `,status="success"} 1`,
		`openwhisk_action_status{` + labels + `,status="application_error"} 1`,
		`openwhisk_action_memory{` + labels + `} 256`,
		`openwhisk_action_activations_total{action="missing",initiator="guest",kind="unknown",memory="0",namespace="guest"} 1`,
		`openwhisk_action_status{action="missing",initiator="guest",namespace="guest",status="application_error"} 1`,
		`brisk_invoker_containers{state="warm"} 1`,
		`brisk_invoker_containers{state="busy"} 0`,
		`brisk_invoker_user_memory_megabytes 2048`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	if t.Failed() {
		t.Logf("scraped:\n%s", text)
	}
}
