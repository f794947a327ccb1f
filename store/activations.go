package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/api"
)

// ActivationDocID is the document id of an activation: "<invoking ns>/<id>".
func ActivationDocID(namespace, activationID string) string {
	return namespace + "/" + activationID
}

// PutActivations writes activation records in one bulk request. Records that
// already exist are left as they are (an activation is written once).
func (s *Store) PutActivations(ctx context.Context, acts []*api.Activation) error {
	if len(acts) == 0 {
		return nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	docs := make([]any, len(acts))
	for i, a := range acts {
		if a.Annotations == nil { // upstream's views expect arrays
			a.Annotations = api.KeyValues{}
		}
		if a.Logs == nil {
			a.Logs = []string{}
		}
		docs[i] = api.ActivationDoc{ID: ActivationDocID(a.Namespace, a.ActivationID), EntityType: "activation", Activation: *a}
	}
	results, err := s.activations.BulkDocs(ctx, docs)
	if err != nil {
		return mapErr(err, fmt.Sprintf("write %d activations", len(acts)))
	}
	for _, r := range results {
		if r.Error != nil && kivik.HTTPStatus(r.Error) != 409 {
			return mapErr(r.Error, "write activation "+r.ID)
		}
	}
	return nil
}

// GetActivation reads one activation of a namespace.
func (s *Store) GetActivation(ctx context.Context, namespace, activationID string) (*api.Activation, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var doc api.ActivationDoc
	id := ActivationDocID(namespace, activationID)
	if err := s.activations.Get(ctx, id).ScanDoc(&doc); err != nil {
		return nil, mapErr(err, "activation "+id)
	}
	return &doc.Activation, nil
}

// FiltersDesignDoc is the design document whose "activations" view lists a
// namespace's activations by action name. It is upstream's
// whisks-filters.v2.1.1 with its loop variable declared, under its own name:
// upstream's map assigns an undeclared variable, which throws in the strict
// mode that pouchdb-server evaluates views in, so that view emits nothing
// there. Its rows (keys and values) are upstream's, so the records an
// upstream deployment wrote are listed by name too.
const FiltersDesignDoc = "whisks-filters.v2.1.1-brisk.1"

// ActivationQuery selects activations of one namespace.
type ActivationQuery struct {
	// Name filters by "action" or "pkg/action" (empty: all).
	Name string
	// Since and Upto bound start (epoch ms, inclusive); 0 means unbounded.
	Since, Upto int64
	Skip, Limit int
	// Docs returns full records instead of summaries.
	Docs bool
}

func (q ActivationQuery) view(namespace string) (ddoc string, start, end []any) {
	key := namespace
	ddoc = "whisks.v2.1.0"
	if q.Name != "" {
		key = namespace + "/" + q.Name
		ddoc = FiltersDesignDoc
	}
	start = []any{key, "\ufff0"}
	if q.Upto > 0 {
		start = []any{key, q.Upto}
	}
	end = []any{key, 0}
	if q.Since > 0 {
		end = []any{key, q.Since}
	}
	return ddoc, start, end
}

// ListActivations lists activations newest first. With Docs unset the
// records hold only the summary fields.
func (s *Store) ListActivations(ctx context.Context, namespace string, q ActivationQuery) ([]*api.Activation, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	ddoc, start, end := q.view(namespace)
	params := map[string]any{"descending": true, "reduce": false, "startkey": start, "endkey": end,
		"skip": q.Skip, "limit": q.Limit, "include_docs": q.Docs}
	rs := s.activations.Query(ctx, ddoc, "activations", kivik.Params(params))
	defer rs.Close()
	var out []*api.Activation
	for rs.Next() {
		var a api.Activation
		var err error
		if q.Docs {
			err = rs.ScanDoc(&a)
		} else {
			var v struct {
				api.Activation
				StatusCode *int `json:"statusCode"`
			}
			if err = rs.ScanValue(&v); err == nil {
				a = v.Activation
				if v.StatusCode != nil {
					a.Response.StatusCode = *v.StatusCode
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("list activations of %s: %w", namespace, err)
		}
		out = append(out, &a)
	}
	return out, mapErr(rs.Err(), "list activations of "+namespace)
}

// CountActivations counts what ListActivations would return without paging.
func (s *Store) CountActivations(ctx context.Context, namespace string, q ActivationQuery) (int, error) {
	ddoc, start, end := q.view(namespace)
	// The activation views have no reduce function upstream: count the rows.
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rs := s.activations.Query(ctx, ddoc, "activations", kivik.Params(map[string]any{
		"descending": true, "reduce": false, "startkey": start, "endkey": end}))
	defer rs.Close()
	n := 0
	for rs.Next() {
		n++
	}
	return n, mapErr(rs.Err(), "count activations of "+namespace)
}

// GetIdentity finds the identity owning the key "uuid:key".
func (s *Store) GetIdentity(ctx context.Context, uuid, key string) (*api.Identity, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rs := s.subjects.Query(ctx, "subjects.v2.0.0", "identities", kivik.Params(map[string]any{
		"key": []any{uuid, key}, "limit": 1}))
	defer rs.Close()
	if !rs.Next() {
		if err := rs.Err(); err != nil {
			return nil, mapErr(err, "identity")
		}
		return nil, fmt.Errorf("identity %s: %w", uuid, ErrNotFound)
	}
	var v struct {
		Namespace string `json:"namespace"`
		UUID      string `json:"uuid"`
		Key       string `json:"key"`
	}
	if err := rs.ScanValue(&v); err != nil {
		return nil, fmt.Errorf("identity %s: %w", uuid, err)
	}
	subject, _ := rs.ID()
	return &api.Identity{Subject: subject, Namespace: v.Namespace, UUID: v.UUID, Key: v.Key}, nil
}

// EnsureSubject creates a subject document if it does not exist yet.
func (s *Store) EnsureSubject(ctx context.Context, doc api.SubjectDoc) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var existing json.RawMessage
	err := s.subjects.Get(ctx, doc.ID).ScanDoc(&existing)
	if err == nil {
		return nil
	}
	if kivik.HTTPStatus(err) != 404 {
		return mapErr(err, "subject "+doc.ID)
	}
	_, err = s.subjects.Put(ctx, doc.ID, doc)
	if kivik.HTTPStatus(err) == 409 {
		return nil
	}
	return mapErr(err, "create subject "+doc.ID)
}
