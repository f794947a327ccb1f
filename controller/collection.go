package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// The CRUD scaffolding the entity collections (actions, packages, triggers,
// rules) share. What differs between them (entitlement, bindings, feeds,
// rule links) stays in each collection's file.

// listCollection answers a list route of collection once its namespace or
// package has been resolved: it parses skip and limit, and answers
// count=true with {"<collection>": n} from count, else the page list returns
// (an empty page as []). As upstream's CouchDB store, a count is of what a
// list from skip would hold: the view's total less skip, never below 0; the
// limit does not apply.
func listCollection[T any](c echo.Context, collection string,
	count func(context.Context) (int, error),
	list func(context.Context, store.ListQuery) ([]T, error),
) error {
	q, err := listQuery(c, collection)
	if err != nil {
		return err
	}
	counting, err := queryBool(c, "count", false)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if counting {
		n, err := count(ctx)
		if err != nil {
			return err
		}
		return jsonOK(c, http.StatusOK, map[string]int{collection: max(n-q.Skip, 0)})
	}
	page, err := list(ctx, q)
	if err != nil {
		return err
	}
	if page == nil {
		page = []T{}
	}
	return jsonOK(c, http.StatusOK, page)
}

// listView is listCollection over one of the store's entity views for an
// entity path, answering the view's rows as they are stored.
func (s *Server) listView(c echo.Context, collection, view, path string) error {
	return listCollection(c, collection,
		func(ctx context.Context) (int, error) { return s.store.CountEntities(ctx, view, path) },
		func(ctx context.Context, q store.ListQuery) ([]json.RawMessage, error) {
			return s.store.ListEntities(ctx, view, path, q)
		})
}

// readEntity reads the entity document id of collection kind ("action",
// "package", "trigger", "rule") into a D: store.ErrNotFound when missing,
// api.ErrWrongColl (409) when the name belongs to another collection, and
// api.MsgCorrupted (500) when the document does not decode.
func readEntity[D any](ctx context.Context, st *store.Store, id, kind string) (*D, error) {
	raw, err := st.GetEntity(ctx, id)
	if err != nil {
		return nil, err
	}
	if store.EntityKind(raw) != kind {
		return nil, fmt.Errorf("%s %s: %w", kind, id, api.ErrWrongColl)
	}
	var doc D
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, &api.Error{Status: http.StatusInternalServerError, Message: api.MsgCorrupted, Err: err}
	}
	return &doc, nil
}

// readForPut is the read that starts a PUT of the entity document id: the
// current document, nil when there is none (the PUT creates it), or
// api.ErrExists when there is one and the PUT may not overwrite it. Any
// other error of read (another collection's name, a corrupted document, the
// store failing) is returned as it is.
func readForPut[D any](ctx context.Context, id string, overwrite bool, read func(context.Context, string) (*D, error)) (*D, error) {
	doc, err := read(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case !overwrite:
		return nil, api.ErrExists
	}
	return doc, nil
}

// writeEntity writes the entity document id over revision rev, "" creating
// it, and ends the PUT readForPut started. A write conflict means another
// request got there between the read and the write: on a create the
// document now exists (api.ErrExists), on an update it has changed
// (api.ErrConcurrent); both are 409.
func (s *Server) writeEntity(ctx context.Context, id, rev string, doc any) error {
	_, err := s.store.PutEntity(ctx, id, rev, doc)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, store.ErrConflict):
		return err
	case rev == "":
		return fmt.Errorf("%s: %w", id, api.ErrExists)
	}
	return fmt.Errorf("%s: %w", id, api.ErrConcurrent)
}

// deleteEntity deletes the entity document id at revision rev; a conflict
// (the document changed since it was read) is api.ErrConcurrent.
func (s *Server) deleteEntity(ctx context.Context, id, rev string) error {
	err := s.store.DeleteEntity(ctx, id, rev)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%s: %w", id, api.ErrConcurrent)
	}
	return err
}
