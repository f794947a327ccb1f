package controller

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/loadbalancer"
)

// invokerRoutes serves upstream's unauthenticated invoker health endpoints:
//
//	GET /invokers               {"invoker0":"up","invoker1":"down",...}
//	GET /invokers/healthy/count the number of invokers that are up
//	GET /invokers/ready         200 {"healthy":"2/2"}, or 500 {"unhealthy":"1/2"}
func (s *Server) invokerRoutes(e *echo.Echo) {
	e.GET("/invokers", s.listInvokers)
	e.GET("/invokers/", s.listInvokers)
	e.GET("/invokers/healthy/count", s.countHealthyInvokers)
	e.GET("/invokers/ready", s.invokersReady)
	for _, path := range []string{"/invokers", "/invokers/", "/invokers/healthy/count", "/invokers/ready"} {
		e.Match(otherMethods("GET"), path, methodNotAllowed("GET"))
	}
}

// listInvokers answers every known invoker's state, in instance order.
func (s *Server) listInvokers(c echo.Context) error {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, h := range s.balancer.Invokers() {
		if i > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(h.Name())
		if err != nil {
			return fmt.Errorf("encode invoker name: %w", err)
		}
		b.Write(name)
		b.WriteString(`:"` + h.State.String() + `"`)
	}
	b.WriteByte('}')
	return c.JSONBlob(http.StatusOK, b.Bytes())
}

// healthyInvokers counts the invokers that are up, and all of them.
func (s *Server) healthyInvokers() (healthy, all int) {
	for _, h := range s.balancer.Invokers() {
		if h.State == loadbalancer.InvokerUp {
			healthy++
		}
		all++
	}
	return healthy, all
}

func (s *Server) countHealthyInvokers(c echo.Context) error {
	healthy, _ := s.healthyInvokers()
	return jsonOK(c, http.StatusOK, healthy)
}

// invokersReady answers 200 when at least the readiness fraction (default
// all) of the known invokers is up, else 500; with no invoker known it is
// not ready. (Upstream compares healthy/all in integer arithmetic, which
// makes any fraction below 1 mean "all"; this one compares the fraction.)
func (s *Server) invokersReady(c echo.Context) error {
	healthy, all := s.healthyInvokers()
	frac := s.balancer.ReadinessFraction()
	if all > 0 && float64(healthy) >= frac*float64(all) {
		return jsonOK(c, http.StatusOK, map[string]string{"healthy": fmt.Sprintf("%d/%d", healthy, all)})
	}
	return jsonOK(c, http.StatusInternalServerError, map[string]string{"unhealthy": fmt.Sprintf("%d/%d", all-healthy, all)})
}
