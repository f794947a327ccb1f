package controller

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// activationRoutes serves /api/v1/namespaces/{ns}/activations: list, get,
// and an activation's logs and result (read only).
func (s *Server) activationRoutes(v1 *echo.Group) {
	collectionRoutes(v1, s.listActivations, "/:ns/activations", "/:ns/activations/")
	v1.GET("/:ns/activations/:id", s.getActivation)
	v1.GET("/:ns/activations/:id/logs", s.getActivationLogs)
	v1.GET("/:ns/activations/:id/result", s.getActivationResult)
	for _, path := range []string{"/:ns/activations/:id",
		"/:ns/activations/:id/logs", "/:ns/activations/:id/result"} {
		v1.Match(otherMethods("GET"), path, methodNotAllowed("GET"))
	}
}

func (s *Server) listActivations(c echo.Context) error {
	ns, err := namespace(c, "")
	if err != nil {
		return err
	}
	lq, err := listQuery(c, "activations")
	if err != nil {
		return err
	}
	q := store.ActivationQuery{Skip: lq.Skip, Limit: lq.Limit}
	if name := c.QueryParam("name"); name != "" {
		parts := strings.Split(name, "/")
		if len(parts) > 2 {
			return api.BadRequest("Parameter may be a 'simple' name or 'package-name/simple' name: %s", name)
		}
		for _, p := range parts {
			if err := api.CheckName(p); err != nil {
				return err
			}
		}
		q.Name = name
	}
	for _, b := range []struct {
		name string
		dst  *int64
	}{{"since", &q.Since}, {"upto", &q.Upto}} {
		if v := c.QueryParam(b.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return api.BadRequest("Parameter is not a valid value for epoch seconds: %s", v)
			}
			*b.dst = n
		}
	}
	count, err := queryBool(c, "count", false)
	if err != nil {
		return err
	}
	if q.Docs, err = queryBool(c, "docs", false); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if count {
		if q.Docs {
			return api.BadRequest(api.MsgDocsWithCount)
		}
		n, err := s.store.CountActivations(ctx, ns, q)
		if err != nil {
			return err
		}
		return jsonOK(c, http.StatusOK, map[string]int{"activations": n})
	}
	acts, err := s.store.ListActivations(ctx, ns, q)
	if err != nil {
		return err
	}
	if q.Docs {
		out := make([]api.ActivationView, len(acts))
		for i, a := range acts {
			out[i] = a.View()
		}
		return jsonOK(c, http.StatusOK, out)
	}
	out := make([]api.ActivationSummary, len(acts))
	for i, a := range acts {
		out[i] = a.Summary()
	}
	return jsonOK(c, http.StatusOK, out)
}

func (s *Server) activation(c echo.Context) (*api.Activation, error) {
	id := param(c, "id")
	ns, err := namespace(c, id)
	if err != nil {
		return nil, err
	}
	if err := api.CheckActivationID(id); err != nil {
		return nil, err
	}
	return s.store.GetActivation(c.Request().Context(), ns, id)
}

func (s *Server) getActivation(c echo.Context) error {
	a, err := s.activation(c)
	if err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, a.View())
}

func (s *Server) getActivationLogs(c echo.Context) error {
	a, err := s.activation(c)
	if err != nil {
		return err
	}
	logs := a.Logs
	if logs == nil {
		logs = []string{}
	}
	return jsonOK(c, http.StatusOK, map[string][]string{"logs": logs})
}

func (s *Server) getActivationResult(c echo.Context) error {
	a, err := s.activation(c)
	if err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, a.Response.View())
}
