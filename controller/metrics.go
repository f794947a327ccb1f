package controller

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// metricsPath is where Prometheus scrapes a controller.
const metricsPath = "/metrics"

// metricsRoutes serves GET /metrics, without authentication, in Prometheus's
// text format, when the server has metrics.
func (s *Server) metricsRoutes(e *echo.Echo) {
	if s.cfg.Metrics == nil || s.cfg.MetricsOffAPI {
		return
	}
	e.GET(metricsPath, echo.WrapHandler(s.cfg.Metrics.Handler()))
	e.Match(otherMethods("GET"), metricsPath, methodNotAllowed("GET"))
}

// countRequests counts every answered request (but scrapes) by operation
// and status code. An error is rendered here, rather than after the
// middleware returns, so that its status is known.
func (s *Server) countRequests(next echo.HandlerFunc) echo.HandlerFunc {
	if s.cfg.Metrics == nil {
		return next
	}
	return func(c echo.Context) error {
		if c.Path() == metricsPath {
			return next(c)
		}
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		s.cfg.Metrics.APIRequest(operation(c), c.Response().Status, time.Since(start))
		return nil
	}
}

// operation names a request for the metrics: invoke (POST of an action),
// fire (POST of a trigger), web (a web action) or other.
func operation(c echo.Context) string {
	path := c.Path()
	switch {
	case isWebPath(c.Request().URL.Path):
		return "web"
	case c.Request().Method != http.MethodPost:
		return "other"
	case strings.HasSuffix(path, "/actions/:name") || strings.HasSuffix(path, "/actions/:pkg/:name"):
		return "invoke"
	case strings.HasSuffix(path, "/triggers/:name"):
		return "fire"
	}
	return "other"
}
