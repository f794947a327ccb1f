package controller

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
)

// metaRoutes serves the unauthenticated API description: GET /, /ping,
// /api/v1 and upstream's swagger at /api/v1/api-docs.
func (s *Server) metaRoutes(e *echo.Echo) {
	e.GET("/", s.getRoot)
	e.GET("/ping", func(c echo.Context) error { return c.String(http.StatusOK, "pong") })
	e.GET("/api/v1", s.getAPIInfo)
	e.GET("/api/v1/", s.getAPIInfo)
	e.GET("/api/v1/api-docs", func(c echo.Context) error { return c.JSONBlob(http.StatusOK, api.Swagger()) })
}

// namespaceRoutes serves GET /api/v1/namespaces (the caller's namespace)
// and /api/v1/namespaces/{ns}/limits.
func (s *Server) namespaceRoutes(v1 *echo.Group) {
	v1.GET("", s.listNamespaces)
	v1.GET("/", s.listNamespaces)
	v1.GET("/:ns/limits", s.getLimits)
	v1.Match(otherMethods("GET"), "/:ns/limits", methodNotAllowed("GET"))
}

func (s *Server) getRoot(c echo.Context) error {
	l := s.cfg.Limits
	runtimes := map[string][]map[string]any{}
	for family, rs := range s.cfg.Manifest.Runtimes {
		for _, r := range rs {
			runtimes[family] = append(runtimes[family], map[string]any{
				"kind": r.Kind, "image": r.ImageRef(), "deprecated": r.Deprecated, "default": r.Default,
				"attached": len(r.Attached) > 0, "requireMain": r.RequireMain,
			})
		}
	}
	mb := func(n int) int { return n << 20 }
	return jsonOK(c, http.StatusOK, map[string]any{
		"description": "OpenWhisk",
		"support": map[string]string{
			"github": "https://github.com/apache/openwhisk/issues",
			"slack":  "http://slack.openwhisk.org",
		},
		"api_paths": []string{"/api/v1"},
		"limits": map[string]int{
			"actions_per_minute": l.InvocationsPerMinute, "triggers_per_minute": l.FiresPerMinute,
			"concurrent_actions": l.ConcurrentInvocations, "sequence_length": l.SequenceMaxLength,
			"default_min_action_duration": l.MinTimeoutMs, "default_max_action_duration": l.MaxTimeoutMs,
			"default_min_action_memory": mb(l.MinMemoryMB), "default_max_action_memory": mb(l.MaxMemoryMB),
			"default_min_action_logs": mb(l.MinLogsMB), "default_max_action_logs": mb(l.MaxLogsMB),
			"min_action_duration": l.MinTimeoutMs, "max_action_duration": l.MaxTimeoutMs,
			"min_action_memory": mb(l.MinMemoryMB), "max_action_memory": mb(l.MaxMemoryMB),
			"min_action_logs": mb(l.MinLogsMB), "max_action_logs": mb(l.MaxLogsMB),
		},
		"runtimes": runtimes,
	})
}

func (s *Server) getAPIInfo(c echo.Context) error {
	return jsonOK(c, http.StatusOK, map[string]any{
		"description": "OpenWhisk API", "api_version": "1.0.0", "api_version_path": "v1",
		"build": s.cfg.Build, "buildno": s.cfg.BuildNo,
		// Upstream also advertises "ui": "/docs" (its Swagger UI); Brisk serves
		// no UI, so it advertises only the document it serves.
		"swagger_paths": map[string]string{"api-docs": "/api-docs"},
	})
}

func (s *Server) listNamespaces(c echo.Context) error {
	return jsonOK(c, http.StatusOK, []string{identity(c).Namespace})
}

func (s *Server) getLimits(c echo.Context) error {
	ns, err := namespace(c, "")
	if err != nil {
		return err
	}
	perMinute, concurrent, fires, err := s.throttles.limitsFor(c.Request().Context(), ns)
	if err != nil {
		return err
	}
	limits, err := s.throttles.actionLimitsFor(c.Request().Context(), ns)
	if err != nil {
		return err
	}
	v := limits.View()
	v.InvocationsPerMinute, v.ConcurrentInvocations, v.FiresPerMinute = perMinute, concurrent, fires
	v.MaxActionInstances = concurrent
	return jsonOK(c, http.StatusOK, v)
}
