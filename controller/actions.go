package controller

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// maxPutBytes bounds a PUT body: the 48 MB exec limit plus room for the rest.
const maxPutBytes = 50 << 20

// actionRoutes serves /api/v1/namespaces/{ns}/actions: list (also of a
// package), get, put, delete and invoke (POST).
func (s *Server) actionRoutes(v1 *echo.Group) {
	collectionRoutes(v1, s.listActions, "/:ns/actions", "/:ns/actions/", "/:ns/actions/:pkg/")
	for _, path := range []string{"/:ns/actions/:name", "/:ns/actions/:pkg/:name"} {
		v1.GET(path, s.getAction)
		v1.PUT(path, s.putAction)
		v1.DELETE(path, s.deleteAction)
		v1.POST(path, s.invokeAction)
		v1.Match(otherMethods("GET", "PUT", "DELETE", "POST"), path, methodNotAllowed("PUT, GET, DELETE, POST"))
	}
}

// actionName resolves the action addressed by the path. Another namespace's
// actions are reachable only inside a package and only to read or invoke
// (GET, POST); resolveAction then checks that the package is readable. Every
// other access to another namespace is refused here.
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
	ns, owner, err := targetNamespace(c)
	if err != nil {
		return api.FullyQualifiedName{}, err
	}
	fqn := api.FullyQualifiedName{Namespace: ns, Package: pkg, Name: name}
	if !owner {
		m := c.Request().Method
		if pkg == "" || (m != http.MethodGet && m != http.MethodPost && m != http.MethodHead) {
			return api.FullyQualifiedName{}, api.Forbidden(fqn.DocID())
		}
	}
	return fqn, nil
}

// listActions lists a namespace's actions (its own only), or with
// actions/{pkg}/ the actions of a readable package (a binding lists the
// bound package's actions).
func (s *Server) listActions(c echo.Context) error {
	pkg := param(c, "pkg")
	if pkg != "" {
		if err := api.CheckName(pkg); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	var path string
	if pkg == "" {
		ns, err := namespace(c, "")
		if err != nil {
			return err
		}
		path = ns
	} else {
		ns, _, err := targetNamespace(c)
		if err != nil {
			return err
		}
		if err := s.checkPackageRead(ctx, identity(c).Namespace, ns, pkg); err != nil {
			return err
		}
		target, err := s.resolvePackage(ctx, ns+"/"+pkg)
		if err != nil {
			return err
		}
		path = target.Doc.Path()
	}
	return listCollection(c, "actions",
		func(ctx context.Context) (int, error) { return s.store.CountActions(ctx, path) },
		func(ctx context.Context, q store.ListQuery) ([]api.ActionSummary, error) {
			return s.store.ListActions(ctx, path, q)
		})
}

// getAction answers an action; through a package or binding, the real
// action with the merged parameters (package < binding < action). Without
// code, an action reached through a binding also names the binding, as
// upstream's metadata response does.
func (s *Server) getAction(c echo.Context) error {
	fqn, err := actionName(c)
	if err != nil {
		return err
	}
	withCode, err := queryBool(c, "code", true)
	if err != nil {
		return err
	}
	target, err := s.resolveActionWith(c.Request().Context(), identity(c), fqn, readActionFresh)
	if err != nil {
		return err
	}
	a := target.Doc.Action
	a.Parameters = target.Parameters
	if withCode {
		return jsonOK(c, http.StatusOK, normalizeAction(a))
	}
	a.Exec.Code = nil
	return jsonOK(c, http.StatusOK, struct {
		api.Action
		Binding string `json:"binding,omitempty"`
	}{normalizeAction(a), target.Binding})
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

// readAction reads an action document for a PUT (see readEntity); other
// reads use the store's GetAction, whose errors are the store's.
func (s *Server) readAction(ctx context.Context, id string) (*api.ActionDoc, error) {
	return readEntity[api.ActionDoc](ctx, s.store, id, "action")
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
	ctx := c.Request().Context()
	if fqn.Package != "" {
		if err := s.writablePackage(ctx, fqn.Namespace, fqn.Package); err != nil {
			return err
		}
	}
	body, err := readBody(c, maxPutBytes)
	if err != nil {
		return err
	}
	put, err := api.DecodeActionPut(body, s.cfg.Manifest, s.cfg.Limits)
	if err != nil {
		return err
	}
	existing, err := readForPut(ctx, fqn.DocID(), overwrite, s.readAction)
	if err != nil {
		return err
	}
	rev := ""
	if existing != nil {
		rev = existing.Rev
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
	limits, err := s.throttles.actionLimitsFor(ctx, fqn.Namespace)
	if err != nil {
		return err
	}
	if err := limits.Check(a.Limits); err != nil {
		return err
	}
	if err := s.prepareSequence(ctx, identity(c), fqn, put, existing, &a); err != nil {
		return err
	}
	a.Annotations = a.Annotations.Set("exec", a.Exec.Kind)
	a.Updated = time.Now().UnixMilli()
	a = normalizeAction(a)
	err = s.writeEntity(ctx, fqn.DocID(), rev, api.ActionDoc{EntityType: "action", Action: a})
	s.actions.invalidate(fqn.DocID()) // before answering, so the caller's next invoke reads the new document
	if err != nil {
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
	if fqn.Package != "" {
		if err := s.writablePackage(ctx, fqn.Namespace, fqn.Package); err != nil {
			return err
		}
	}
	doc, err := s.store.GetAction(ctx, fqn.DocID())
	if err != nil {
		return err
	}
	err = s.deleteEntity(ctx, fqn.DocID(), doc.Rev)
	s.actions.invalidate(fqn.DocID()) // before answering
	if err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, normalizeAction(doc.Action))
}
