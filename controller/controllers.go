package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller/cluster"
)

// Cluster is what the API needs of the controllers' Raft group
// (*cluster.Cluster).
type Cluster interface {
	// Controllers lists the members and their state as this controller
	// sees it.
	Controllers() []cluster.Controller
	// AddVoter and RemoveServer change the membership; on a follower they
	// answer a *cluster.NotLeaderError naming the leader.
	AddVoter(ctx context.Context, id, address, api string) error
	RemoveServer(ctx context.Context, id string) error
}

const (
	// forwardTimeout bounds a membership request forwarded to the leader.
	forwardTimeout = 30 * time.Second
	// forwardedHeader marks a forwarded request, which is not forwarded
	// again.
	forwardedHeader = "X-Brisk-Forwarded"
)

// controllerRoutes serves the controllers' Raft group:
//
//	GET    /controllers       [{"id","address","state"}], no authentication (as /invokers)
//	PUT    /controllers/{id}  {"address":"host:port","api":"http://host:port"}: add a controller
//	DELETE /controllers/{id}  remove a controller
//
// PUT and DELETE need whisk.system's credentials; a follower forwards them
// to the leader.
func (s *Server) controllerRoutes(e *echo.Echo) {
	for _, path := range []string{"/controllers", "/controllers/"} {
		e.GET(path, s.listControllers)
		e.Match(otherMethods("GET"), path, methodNotAllowed("GET"))
	}
	path := "/controllers/:id"
	e.PUT(path, s.putController, s.authenticate)
	e.DELETE(path, s.deleteController, s.authenticate)
	e.Match(otherMethods("PUT", "DELETE"), path, methodNotAllowed("PUT, DELETE"))
}

func (s *Server) listControllers(c echo.Context) error {
	list := []cluster.Controller{}
	if s.cfg.Cluster != nil {
		list = append(list, s.cfg.Cluster.Controllers()...)
	}
	return jsonOK(c, http.StatusOK, list)
}

// controllerPut is the body of PUT /controllers/{id}.
type controllerPut struct {
	// Address is the new controller's Raft address, host:port.
	Address string `json:"address"`
	// API is its REST API's base URL (optional).
	API string `json:"api,omitempty"`
}

// systemOnly lets whisk.system's credentials through.
func systemOnly(c echo.Context) error {
	if identity(c).Namespace != "whisk.system" {
		return api.Forbidden("controllers")
	}
	return nil
}

// controllerID reads and checks the :id of a membership request.
func controllerID(c echo.Context) (string, error) {
	id := param(c, "id")
	if err := api.CheckName(id); err != nil {
		return "", err
	}
	return id, nil
}

func (s *Server) putController(c echo.Context) error {
	if err := systemOnly(c); err != nil {
		return err
	}
	id, err := controllerID(c)
	if err != nil {
		return err
	}
	body, err := readBody(c, 64<<10)
	if err != nil {
		return err
	}
	var put controllerPut
	if err := json.Unmarshal(body, &put); err != nil {
		return api.Malformed("the request body must be a JSON object")
	}
	if _, _, err := net.SplitHostPort(put.Address); err != nil {
		return api.BadRequest("The controller's address must be its Raft host:port.")
	}
	if s.cfg.Cluster == nil {
		return api.Errorf(http.StatusServiceUnavailable, "This controller runs without a Raft group.")
	}
	err = s.cfg.Cluster.AddVoter(c.Request().Context(), id, put.Address, put.API)
	if forwarded, ferr := s.forwardToLeader(c, err, body); forwarded {
		return ferr
	}
	if err != nil {
		return membershipError(err)
	}
	return s.listControllers(c)
}

func (s *Server) deleteController(c echo.Context) error {
	if err := systemOnly(c); err != nil {
		return err
	}
	id, err := controllerID(c)
	if err != nil {
		return err
	}
	if s.cfg.Cluster == nil {
		return api.Errorf(http.StatusServiceUnavailable, "This controller runs without a Raft group.")
	}
	err = s.cfg.Cluster.RemoveServer(c.Request().Context(), id)
	if forwarded, ferr := s.forwardToLeader(c, err, nil); forwarded {
		return ferr
	}
	if err != nil {
		return membershipError(err)
	}
	return s.listControllers(c)
}

// membershipError maps the Raft group's errors to upstream-shaped ones.
func membershipError(err error) error {
	switch {
	case errors.Is(err, cluster.ErrBadMember):
		return &api.Error{Status: http.StatusBadRequest, Message: "The controller needs an id and a Raft host:port.", Err: err}
	case errors.Is(err, cluster.ErrUnknownMember):
		return &api.Error{Status: http.StatusNotFound, Message: "The controller is not a member of the group.", Err: err}
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrNotLeader):
		return &api.Error{Status: http.StatusServiceUnavailable, Message: "The controllers have no leader at the moment; try again.", Err: err}
	}
	return fmt.Errorf("membership change: %w", err)
}

// forwardToLeader sends a membership request a follower got to the leader
// and relays the leader's answer. It reports whether it forwarded.
func (s *Server) forwardToLeader(c echo.Context, err error, body []byte) (bool, error) {
	var nl *cluster.NotLeaderError
	if !errors.As(err, &nl) || nl.LeaderAPI == "" || c.Request().Header.Get(forwardedHeader) != "" {
		return false, nil
	}
	r := c.Request()
	ctx, cancel := context.WithTimeout(r.Context(), forwardTimeout)
	defer cancel()
	req, rerr := http.NewRequestWithContext(ctx, r.Method, strings.TrimSuffix(nl.LeaderAPI, "/")+r.URL.Path, bytes.NewReader(body))
	if rerr != nil {
		return true, fmt.Errorf("forward to the leader %s: %w", nl.LeaderID, rerr)
	}
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(forwardedHeader, "1")
	resp, ferr := http.DefaultClient.Do(req)
	if ferr != nil {
		return true, &api.Error{Status: http.StatusBadGateway, Message: "The leader of the controllers did not answer.", Err: ferr}
	}
	defer resp.Body.Close()
	b, ferr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if ferr != nil {
		return true, &api.Error{Status: http.StatusBadGateway, Message: "The leader of the controllers did not answer.", Err: ferr}
	}
	return true, c.Blob(resp.StatusCode, "application/json", b)
}
