package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// maxBindingDepth bounds how many bindings are followed to reach a package.
// The API never creates a binding to a binding (depth 1); the bound only
// guards against hand-edited documents.
const maxBindingDepth = 4

// packageRoutes registers the packages collection: list (any namespace;
// others see only published packages), GET, PUT and DELETE.
func (s *Server) packageRoutes(g *echo.Group) {
	collectionRoutes(g, s.listPackages, "/:ns/packages", "/:ns/packages/")
	const entity = "/:ns/packages/:name"
	g.GET(entity, s.getPackage)
	g.PUT(entity, s.putPackage)
	g.DELETE(entity, s.deletePackage)
	g.Match(otherMethods("GET", "PUT", "DELETE"), entity, methodNotAllowed("PUT, GET, DELETE"))
}

// packageName resolves the namespace and name of a packages/{name} path
// without entitlement.
func packageName(c echo.Context) (ns, name string, owner bool, err error) {
	name = param(c, "name")
	if err := api.CheckName(name); err != nil {
		return "", "", false, err
	}
	ns, owner, err = targetNamespace(c)
	return ns, name, owner, err
}

// listPackages lists a namespace's packages; other namespaces see the
// public view: published packages, no bindings.
func (s *Server) listPackages(c echo.Context) error {
	ns, owner, err := targetNamespace(c)
	if err != nil {
		return err
	}
	view := "packages"
	if !owner {
		view = "packages-public"
	}
	return s.listView(c, "packages", view, ns)
}

// getPackage answers a package with its actions and feeds; for a binding,
// the binding itself with the bound package's parameters under its own and
// the bound package's actions.
func (s *Server) getPackage(c echo.Context) error {
	ns, name, _, err := packageName(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.checkPackageRead(ctx, identity(c).Namespace, ns, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// Upstream's package entitlement reads the package (or the one a
			// binding names) and its route names the resource it asked for.
			return api.NotFoundNamed(ns+"/"+name, err)
		}
		return err
	}
	doc, err := s.store.GetPackage(ctx, ns+"/"+name)
	if err != nil {
		return err
	}
	p := doc.Package
	contents := p.Path()
	if p.IsBinding() {
		target, err := s.resolvePackage(ctx, p.Path())
		if err != nil {
			return err
		}
		p.Parameters = target.Parameters
		contents = target.Doc.Path()
	}
	actions, err := s.store.PackageActions(ctx, contents)
	if err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, api.NewPackageView(p, actions))
}

func (s *Server) putPackage(c echo.Context) error {
	ns, name, owner, err := packageName(c)
	if err != nil {
		return err
	}
	if !owner {
		return api.Forbidden(ns + "/" + name)
	}
	if name == api.ReservedPackageName {
		return api.PackageNameReserved(name)
	}
	overwrite, err := queryBool(c, "overwrite", false)
	if err != nil {
		return err
	}
	body, err := readBody(c, maxPutBytes)
	if err != nil {
		return err
	}
	put, err := api.DecodePackagePut(body, s.cfg.Limits)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	caller := identity(c).Namespace
	if put.Binding != nil {
		if put.Binding.Namespace == "_" {
			put.Binding.Namespace = ns
		}
		if err := s.checkBindingEntitled(ctx, caller, *put.Binding); err != nil {
			return err
		}
	}

	id := ns + "/" + name
	existing, err := readForPut(ctx, id, overwrite, s.readPackage)
	if err != nil {
		return err
	}

	var p api.Package
	rev := ""
	if existing == nil {
		p = api.Package{Namespace: ns, Name: name, Version: "0.0.1", Parameters: put.Parameters, Annotations: put.Annotations}
		if put.Binding != nil {
			if err := s.checkBindingTarget(ctx, *put.Binding); err != nil {
				return err
			}
			p.Binding = *put.Binding
		}
	} else {
		rev = existing.Rev
		p = existing.Package
		if put.Binding != nil {
			if !p.IsBinding() {
				return &api.Error{Status: http.StatusConflict, Message: api.MsgPackageNotBindable}
			}
			if err := s.checkBindingTarget(ctx, *put.Binding); err != nil {
				return err
			}
			p.Binding = *put.Binding
		}
		if put.Parameters != nil {
			p.Parameters = put.Parameters
		}
		if put.Annotations != nil { // package annotations are replaced, not merged (as upstream)
			p.Annotations = put.Annotations
		}
		p.Version = api.BumpVersion(p.Version)
	}
	if put.Version != nil {
		p.Version = *put.Version
	}
	if put.Publish != nil {
		p.Publish = *put.Publish
	}
	// The "binding" annotation is the server's: whatever the client sent is
	// replaced by the binding itself (clients that only list packages read it).
	p.Annotations = p.Annotations.Without([]string{"binding"})
	if p.IsBinding() {
		p.Annotations = p.Annotations.Set("binding", p.Binding)
	}
	p.Updated = time.Now().UnixMilli()
	p = p.Normalized()
	if err := s.writeEntity(ctx, id, rev, api.PackageDoc{EntityType: "package", Package: p}); err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, p)
}

// deletePackage deletes a binding, or a package that holds no actions; with
// ?force=true the package's actions are deleted first.
func (s *Server) deletePackage(c echo.Context) error {
	ns, name, owner, err := packageName(c)
	if err != nil {
		return err
	}
	if !owner {
		return api.Forbidden(ns + "/" + name)
	}
	force, err := queryBool(c, "force", false)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	doc, err := s.store.GetPackage(ctx, ns+"/"+name)
	if err != nil {
		return err
	}
	if !doc.IsBinding() {
		actions, err := s.store.PackageActions(ctx, doc.Path())
		if err != nil {
			return err
		}
		if len(actions) > 0 && !force {
			return api.PackageNotEmpty(len(actions))
		}
		for _, a := range actions {
			if err := s.deleteActionDoc(ctx, doc.Path()+"/"+a.Name); err != nil {
				return err
			}
		}
	}
	if err := s.deleteEntity(ctx, ns+"/"+name, doc.Rev); err != nil {
		return err
	}
	return jsonOK(c, http.StatusOK, doc.Package.Normalized())
}

// deleteActionDoc deletes one action of a package being force-deleted; an
// action already gone is fine.
func (s *Server) deleteActionDoc(ctx context.Context, id string) error {
	defer s.actions.invalidate(id)
	doc, err := s.store.GetAction(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.deleteEntity(ctx, id, doc.Rev); !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// readPackage reads a package document for a PUT (see readEntity); other
// reads use the store's GetPackage, whose errors are the store's.
func (s *Server) readPackage(ctx context.Context, id string) (*api.PackageDoc, error) {
	return readEntity[api.PackageDoc](ctx, s.store, id, "package")
}

// checkPackageRead is upstream's READ entitlement on the package ns/name
// for a caller in namespace caller: the owner may read its packages, and its
// bindings when the bound package is readable; others may read published
// packages only. A missing package is 404 for its owner and 403 for others,
// so that nobody learns what another namespace holds.
func (s *Server) checkPackageRead(ctx context.Context, caller, ns, name string) error {
	ok, err := s.packageReadable(ctx, caller, ns+"/"+name, 0)
	if err != nil {
		return err
	}
	if !ok {
		return api.Forbidden(ns + "/" + name)
	}
	return nil
}

// packageReadable walks a binding chain from docID and reports whether the
// caller may read it. Errors are the owner's: not found, not a package,
// corrupted, circular.
func (s *Server) packageReadable(ctx context.Context, caller, docID string, depth int) (bool, error) {
	owner := rootNamespace(docID) == caller
	doc, err := s.store.GetPackage(ctx, docID)
	switch {
	case err == nil:
	case !owner && (errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrWrongCollection) || errors.Is(err, store.ErrCorrupted)):
		return false, nil
	default:
		return false, err
	}
	if !doc.IsBinding() {
		return doc.Publish || owner, nil
	}
	if !owner {
		return false, nil // another namespace's bindings are never readable
	}
	target := doc.Binding.DocID()
	if target == docID || depth >= maxBindingDepth {
		return false, api.CircularBinding(target)
	}
	return s.packageReadable(ctx, caller, target, depth+1)
}

// checkBindingEntitled checks that the caller may bind to b, with upstream's
// rewording of the owner's errors for a binding target.
func (s *Server) checkBindingEntitled(ctx context.Context, caller string, b api.Binding) error {
	ok, err := s.packageReadable(ctx, caller, b.DocID(), 0)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.BadRequest(api.MsgBindingMissing)
	case errors.Is(err, store.ErrWrongCollection):
		return &api.Error{Status: http.StatusConflict, Message: api.MsgBindingNotPackage}
	case err != nil:
		return err
	case !ok:
		return api.Forbidden(b.DocID())
	}
	return nil
}

// checkBindingTarget checks that b names an existing package that is not
// itself a binding.
func (s *Server) checkBindingTarget(ctx context.Context, b api.Binding) error {
	doc, err := s.store.GetPackage(ctx, b.DocID())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.BadRequest(api.MsgBindingMissing)
	case errors.Is(err, store.ErrWrongCollection):
		return &api.Error{Status: http.StatusConflict, Message: api.MsgBindingNotPackage}
	case err != nil:
		return err
	case doc.IsBinding():
		return api.BadRequest(api.MsgBindingToBinding)
	}
	return nil
}

// resolvedPackage is the package an entity path leads to.
type resolvedPackage struct {
	// Doc is the real package (never a binding).
	Doc *api.PackageDoc
	// Parameters are the package's parameters under those of the bindings
	// followed to reach it (a binding's parameters win).
	Parameters api.KeyValues
}

// resolvePackage reads the package at docID ("ns/pkg") and, if it is a
// binding, follows it to the bound package, merging parameters on the way.
// A missing package is store.ErrNotFound; entitlement is the caller's job.
func (s *Server) resolvePackage(ctx context.Context, docID string) (*resolvedPackage, error) {
	var over api.KeyValues // parameters of the bindings followed, outermost last
	id := docID
	for depth := 0; ; depth++ {
		doc, err := s.store.GetPackage(ctx, id)
		if err != nil {
			return nil, err
		}
		if !doc.IsBinding() {
			params := doc.Parameters
			if over != nil {
				params = params.Merge(over)
			}
			return &resolvedPackage{Doc: doc, Parameters: params}, nil
		}
		next := doc.Binding.DocID()
		if next == id || depth >= maxBindingDepth {
			return nil, api.CircularBinding(next)
		}
		// An inner binding's parameters sit under the outer ones.
		over = doc.Parameters.Merge(over)
		id = next
	}
}

// rootNamespace is the first segment of an entity path or document id.
func rootNamespace(path string) string {
	for i := 0; i < len(path); i++ {
		if path[i] == '/' {
			return path[:i]
		}
	}
	return path
}

// writablePackage checks that actions may be written into or deleted from
// the package ns/pkg: it must exist and must not be a binding.
func (s *Server) writablePackage(ctx context.Context, ns, pkg string) error {
	doc, err := s.store.GetPackage(ctx, ns+"/"+pkg)
	if err != nil {
		return fmt.Errorf("package %s/%s: %w", ns, pkg, err)
	}
	if doc.IsBinding() {
		return api.BadRequest(api.MsgBindingOp)
	}
	return nil
}
