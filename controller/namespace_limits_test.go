package controller_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/loadbalancer"
)

// TestNamespaceActionLimits: a namespace's action limit ranges (set with
// `brisk admin limits set`) narrow or widen the system's within its hard
// range, for action PUT validation and in GET limits, as upstream's
// allowedMin*/allowedMax* limits do.
func TestNamespaceActionLimits(t *testing.T) {
	ints := func(v int) *int { return &v }
	overrides := &controller.NamespaceLimits{
		MaxActionConcurrency: ints(2), MinActionMemory: ints(200), MaxActionTimeout: ints(10000),
		MaxActionLogs: ints(1000), // above the system's 10 MB: clamped
	}
	sys := api.DefaultLimits()
	sys.MaxConcurrency = 500
	e := newEnvWith(t, loadbalancer.New(loadbalancer.Config{Log: quietLogger()}), func(c *controller.Config) {
		c.Limits = sys
		c.NamespaceLimits = func(_ context.Context, ns string) (*controller.NamespaceLimits, error) {
			if ns == "guest" {
				return overrides, nil
			}
			return nil, nil
		}
	})
	put := func(name string, limits map[string]any) *response {
		return e.guest(http.MethodPut, "/api/v1/namespaces/_/actions/"+name, map[string]any{
			"exec": map[string]any{"kind": "nodejs:20", "code": "function main() { return {}; }"}, "limits": limits})
	}
	wantError(t, put("c3", map[string]any{"concurrency": 3, "memory": 256, "timeout": 1000}), http.StatusBadRequest,
		"concurrency 3 exceeds allowed threshold of 2")
	wantError(t, put("m128", map[string]any{"memory": 128, "timeout": 1000}), http.StatusBadRequest,
		"memory size 128 MB below allowed threshold of 200 MB")
	wantError(t, put("t20", map[string]any{"timeout": 20000, "memory": 256}), http.StatusBadRequest,
		"duration 20000 milliseconds exceeds allowed threshold of 10000 milliseconds")
	wantError(t, put("l20", map[string]any{"logs": 20, "timeout": 1000}), http.StatusBadRequest,
		"log size 20 MB exceeds allowed threshold of 10 MB")
	wantStatus(t, put("ok", map[string]any{"concurrency": 2, "memory": 200, "timeout": 10000}), http.StatusOK)

	r := e.guest(http.MethodGet, "/api/v1/namespaces/_/limits", nil)
	wantStatus(t, r, http.StatusOK)
	var got map[string]any
	r.json(t, &got)
	for k, v := range map[string]float64{"maxActionConcurrency": 2, "minActionMemory": 200, "maxActionMemory": 512,
		"maxActionTimeout": 10000, "maxActionLogs": 10, "minActionConcurrency": 1} {
		if got[k] != v {
			t.Errorf("limits.%s = %v, want %v", k, got[k], v)
		}
	}
}
