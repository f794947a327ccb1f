package controller

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// maxPutBytes bounds a PUT body: the 48 MB exec limit plus room for the rest.
const maxPutBytes = 50 << 20

// actionName resolves the action addressed by the path and checks entitlement.
func actionName(c echo.Context) (api.FullyQualifiedName, error) {
	name, pkg := param(c, "name"), param(c, "pkg")
	if strings.Contains(c.Param("name"), "/") {
		return api.FullyQualifiedName{}, echo.ErrNotFound // deeper than actions/{pkg}/{name}: not routed
	}
	for _, seg := range []string{pkg, name} {
		if seg == "" {
			continue
		}
		if err := api.CheckName(seg); err != nil {
			return api.FullyQualifiedName{}, err
		}
	}
	entity := name
	if pkg != "" {
		entity = pkg + "/" + name
	}
	ns, err := namespace(c, entity)
	if err != nil {
		return api.FullyQualifiedName{}, err
	}
	return api.FullyQualifiedName{Namespace: ns, Package: pkg, Name: name}, nil
}

func (s *Server) listActions(c echo.Context) error {
	pkg := param(c, "pkg")
	if pkg != "" {
		if err := api.CheckName(pkg); err != nil {
			return err
		}
	}
	ns, err := namespace(c, "")
	if err != nil {
		return err
	}
	q, err := listQuery(c, "actions")
	if err != nil {
		return err
	}
	count, err := queryBool(c, "count", false)
	if err != nil {
		return err
	}
	path := ns
	if pkg != "" {
		path = ns + "/" + pkg
		if _, err := s.getPackage(c, path); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	if count {
		n, err := s.store.CountActions(ctx, path)
		if err != nil {
			return err
		}
		return jsonOK(c, http.StatusOK, map[string]int{"actions": n})
	}
	list, err := s.store.ListActions(ctx, path, q)
	if err != nil {
		return err
	}
	if list == nil {
		list = []api.ActionSummary{}
	}
	return jsonOK(c, http.StatusOK, list)
}

// getPackage reads a package document (packages arrive with issue 3; until
// then every package path is missing).
func (s *Server) getPackage(c echo.Context, id string) (json.RawMessage, error) {
	raw, err := s.store.GetEntity(c.Request().Context(), id)
	if err != nil {
		return nil, err
	}
	if store.EntityKind(raw) != "package" {
		return nil, api.ErrNotFound
	}
	return raw, nil
}

func (s *Server) getAction(c echo.Context) error {
	fqn, err := actionName(c)
	if err != nil {
		return err
	}
	withCode, err := queryBool(c, "code", true)
	if err != nil {
		return err
	}
	doc, err := s.store.GetAction(c.Request().Context(), fqn.DocID())
	if err != nil {
		return err
	}
	a := doc.Action
	if !withCode {
		a.Exec.Code = nil
	}
	return jsonOK(c, http.StatusOK, normalizeAction(a))
}

// normalizeAction fills empty lists so responses carry [] rather than null.
func normalizeAction(a api.Action) api.Action {
	if a.Parameters == nil {
		a.Parameters = api.KeyValues{}
	}
	if a.Annotations == nil {
		a.Annotations = api.KeyValues{}
	}
	return a
}

func (s *Server) putAction(c echo.Context) error {
	fqn, err := actionName(c)
	if err != nil {
		return err
	}
	overwrite, err := queryBool(c, "overwrite", false)
	if err != nil {
		return err
	}
	body, err := readBody(c, maxPutBytes)
	if err != nil {
		return err
	}
	put, err := api.DecodeActionPut(body, s.cfg.Manifest, s.cfg.Limits)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if fqn.Package != "" {
		if _, err := s.getPackage(c, fqn.Path()); err != nil {
			return err
		}
	}
	var (
		existing *api.ActionDoc
		rev      string
	)
	raw, err := s.store.GetEntity(ctx, fqn.DocID())
	switch {
	case err == nil:
		if store.EntityKind(raw) != "action" {
			return api.ErrWrongColl
		}
		if !overwrite {
			return api.ErrExists
		}
		existing = &api.ActionDoc{}
		if err := json.Unmarshal(raw, existing); err != nil {
			return &api.Error{Status: http.StatusInternalServerError, Message: api.MsgCorrupted, Err: err}
		}
		rev = existing.Rev
	case !errors.Is(err, store.ErrNotFound):
		return err
	}

	var a api.Action
	if existing == nil {
		if put.Exec == nil {
			return api.BadRequest(api.MsgExecUndefined)
		}
		a = api.Action{Namespace: fqn.Path(), Name: fqn.Name, Version: "0.0.1", Exec: *put.Exec,
			Parameters: put.Parameters, Limits: put.Limits.Apply(s.cfg.Limits.Defaults()), Annotations: put.Annotations}
		if !a.Annotations.Has("provide-api-key") {
			a.Annotations = a.Annotations.Set("provide-api-key", false)
		}
	} else {
		a = existing.Action
		a.Version = api.BumpVersion(a.Version)
		if put.Exec != nil {
			a.Exec = *put.Exec
		}
		if put.Parameters != nil {
			a.Parameters = put.Parameters
		}
		a.Limits = put.Limits.Apply(a.Limits)
		a.Annotations = a.Annotations.Without(put.DelAnnotations).Merge(put.Annotations)
	}
	if put.Version != nil {
		a.Version = *put.Version
	}
	if put.Publish != nil {
		a.Publish = *put.Publish
	}
	if err := s.cfg.Limits.Check(a.Limits); err != nil {
		return err
	}
	a.Annotations = a.Annotations.Set("exec", a.Exec.Kind)
	a.Updated = time.Now().UnixMilli()
	a = normalizeAction(a)
	defer s.actions.invalidate(fqn.DocID())
	if _, err := s.store.PutEntity(ctx, fqn.DocID(), rev, api.ActionDoc{EntityType: "action", Action: a}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			if rev == "" {
				return api.ErrExists
			}
			return api.ErrConcurrent
		}
		return err
	}
	return jsonOK(c, http.StatusOK, a)
}

func (s *Server) deleteAction(c echo.Context) error {
	fqn, err := actionName(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	doc, err := s.store.GetAction(ctx, fqn.DocID())
	if err != nil {
		return err
	}
	defer s.actions.invalidate(fqn.DocID())
	if err := s.store.DeleteEntity(ctx, fqn.DocID(), doc.Rev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return api.ErrConcurrent
		}
		return err
	}
	return jsonOK(c, http.StatusOK, normalizeAction(doc.Action))
}
