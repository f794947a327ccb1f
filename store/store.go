// Package store is Brisk's storage API over kivik: entities (actions,
// packages, triggers, rules), activation records and subjects, kept in
// upstream OpenWhisk's three databases and document shapes. The embedded
// kivik driver (store/embedded) backs standalone; kivik's couchdb driver backs
// real deployments.
package store

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/internal/metrics"
)

// Sentinel errors of the store.
var (
	ErrNotFound = errors.New("document not found")
	ErrConflict = errors.New("document update conflict")
)

//go:embed designdocs/*.json
var designDocs embed.FS

// Config selects the kivik driver and databases.
type Config struct {
	Driver string // "brisk-embedded" or "couch"
	DSN    string // file path or URL
	Prefix string // database name prefix, default "whisk_local_"
	// Options are passed to kivik.New (e.g. couchdb HTTP client settings).
	Options []kivik.Option
	// Timeout bounds every store call; default 10 s.
	Timeout time.Duration
	// Metrics records each call's time and the failed calls (nil: none).
	Metrics *metrics.Metrics

	// couch is CouchConfig's HTTP transport, which counts failed requests.
	couch *countingTransport
}

// Store reads and writes entities, activations and subjects.
type Store struct {
	client                        *kivik.Client
	whisks, activations, subjects *kivik.DB
	timeout                       time.Duration
	metrics                       *metrics.Metrics
}

// Open connects, creates the three databases when missing and installs the
// design documents.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "whisk_local_"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	client, err := kivik.New(cfg.Driver, cfg.DSN, cfg.Options...)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Driver, err)
	}
	s := &Store{client: client, timeout: cfg.Timeout, metrics: cfg.Metrics}
	if cfg.couch != nil {
		cfg.couch.metrics.Store(cfg.Metrics)
	}
	dbs := map[string]**kivik.DB{"whisks": &s.whisks, "activations": &s.activations, "subjects": &s.subjects}
	for name, dst := range dbs {
		full := cfg.Prefix + name
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		exists, err := client.DBExists(cctx, full)
		if err == nil && !exists {
			err = client.CreateDB(cctx, full)
			if kivik.HTTPStatus(err) == http.StatusPreconditionFailed {
				err = nil
			}
		}
		cancel()
		if err != nil {
			_ = client.Close()
			return nil, mapErr(err, "create database "+full)
		}
		*dst = client.DB(full)
	}
	if err := s.installDesignDocs(ctx); err != nil {
		_ = client.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the client.
func (s *Store) Close() error { return s.client.Close() }

func (s *Store) installDesignDocs(ctx context.Context) error {
	files, err := designDocs.ReadDir("designdocs")
	if err != nil {
		return fmt.Errorf("design docs: %w", err)
	}
	for _, f := range files {
		b, err := designDocs.ReadFile(path.Join("designdocs", f.Name()))
		if err != nil {
			return fmt.Errorf("design doc %s: %w", f.Name(), err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("design doc %s: %w", f.Name(), err)
		}
		id, _ := doc["_id"].(string)
		var targets []*kivik.DB
		switch {
		case strings.HasPrefix(f.Name(), "whisks_design_document_for_entities"):
			targets = []*kivik.DB{s.whisks}
		case strings.Contains(f.Name(), "activations_db"):
			targets = []*kivik.DB{s.activations}
		case strings.Contains(f.Name(), "subjects_db"):
			targets = []*kivik.DB{s.subjects}
		default: // the replication filter goes everywhere
			targets = []*kivik.DB{s.whisks, s.activations, s.subjects}
		}
		for _, db := range targets {
			if err := s.ensureDoc(ctx, db, id, doc); err != nil {
				return fmt.Errorf("install %s in %s: %w", id, db.Name(), err)
			}
		}
	}
	return nil
}

func (s *Store) ensureDoc(ctx context.Context, db *kivik.DB, id string, doc map[string]any) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var existing map[string]any
	err := db.Get(ctx, id).ScanDoc(&existing)
	switch {
	case err == nil:
		return nil // keep what is installed (an operator may have newer views)
	case kivik.HTTPStatus(err) != http.StatusNotFound:
		return mapErr(err, "read")
	}
	if _, err := db.Put(ctx, id, doc); err != nil && kivik.HTTPStatus(err) != http.StatusConflict {
		return mapErr(err, "write")
	}
	return nil
}

// mapErr turns kivik errors into the store's sentinels.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
	}
	switch kivik.HTTPStatus(err) {
	case http.StatusNotFound:
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	case http.StatusConflict:
		return fmt.Errorf("%s: %w", what, ErrConflict)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ctx bounds a store call; its cancel function records the call's time,
// by the calling method's name, and counts a call that ran out of time as
// failed (the database unavailable).
func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	if s.metrics == nil {
		return ctx, cancel
	}
	start, op := time.Now(), callerName()
	return ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.metrics.StoreError(true)
		}
		cancel()
		s.metrics.StoreCall(op, time.Since(start))
	}
}

// GetEntity reads an entity document by id ("ns/name" or "ns/pkg/name") as raw JSON.
func (s *Store) GetEntity(ctx context.Context, id string) (json.RawMessage, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var raw json.RawMessage
	if err := s.whisks.Get(ctx, id).ScanDoc(&raw); err != nil {
		return nil, mapErr(err, "entity "+id)
	}
	if bytes.Contains(raw, []byte(`"attachmentName"`)) {
		return s.inlineAttachedCode(ctx, id, raw)
	}
	return raw, nil
}

// EntityKind tells which collection a stored entity document belongs to,
// using the same tests as upstream's views.
func EntityKind(raw json.RawMessage) string {
	var probe struct {
		EntityType string          `json:"entityType"`
		Exec       json.RawMessage `json:"exec"`
		Binding    json.RawMessage `json:"binding"`
		Trigger    json.RawMessage `json:"trigger"`
		Parameters json.RawMessage `json:"parameters"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	if probe.EntityType != "" {
		return probe.EntityType
	}
	switch {
	case probe.Exec != nil:
		return "action"
	case probe.Binding != nil:
		return "package"
	case probe.Trigger != nil:
		return "rule"
	case probe.Parameters != nil:
		return "trigger"
	}
	return ""
}

// GetAction reads an action document.
func (s *Store) GetAction(ctx context.Context, id string) (*api.ActionDoc, error) {
	raw, err := s.GetEntity(ctx, id)
	if err != nil {
		return nil, err
	}
	if EntityKind(raw) != "action" {
		return nil, fmt.Errorf("entity %s: %w", id, ErrWrongCollection)
	}
	var doc api.ActionDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("entity %s: %w: %v", id, ErrCorrupted, err)
	}
	return &doc, nil
}

// More sentinels for entity reads.
var (
	ErrWrongCollection = errors.New("entity is not in this collection")
	ErrCorrupted       = errors.New("entity document cannot be read")
)

// PutEntity writes an entity document; rev "" creates it. It returns the new revision.
func (s *Store) PutEntity(ctx context.Context, id, rev string, doc any) (string, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("entity %s: %w", id, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", fmt.Errorf("entity %s: %w", id, err)
	}
	m["_id"] = id
	if rev != "" {
		m["_rev"] = rev
	} else {
		delete(m, "_rev")
	}
	newRev, err := s.whisks.Put(ctx, id, m)
	return newRev, mapErr(err, "put entity "+id)
}

// DeleteEntity deletes an entity document at a revision.
func (s *Store) DeleteEntity(ctx context.Context, id, rev string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.whisks.Delete(ctx, id, rev)
	return mapErr(err, "delete entity "+id)
}

// ListQuery selects a page of a list, newest first.
type ListQuery struct {
	Skip, Limit int
}

// ListActions lists the actions under an entity path ("ns" includes the
// actions in ns's packages, as upstream), newest first.
func (s *Store) ListActions(ctx context.Context, entityPath string, q ListQuery) ([]api.ActionSummary, error) {
	var out []api.ActionSummary
	err := s.listView(ctx, s.whisks, "whisks.v2.1.0", "actions", entityPath, q, func(rs *kivik.ResultSet) error {
		var v api.ActionSummary
		if err := rs.ScanValue(&v); err != nil {
			return err
		}
		if v.Annotations == nil {
			v.Annotations = api.KeyValues{}
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// CountActions counts the actions a ListActions of entityPath would return.
func (s *Store) CountActions(ctx context.Context, entityPath string) (int, error) {
	return s.countView(ctx, s.whisks, "whisks.v2.1.0", "actions", []any{entityPath, "\ufff0"}, []any{entityPath, 0})
}

// ListEntities lists the rows of one of upstream's entity views ("actions",
// "packages", "packages-public", "triggers", "rules") for an entity path,
// newest first, as the view's raw values.
func (s *Store) ListEntities(ctx context.Context, view, entityPath string, q ListQuery) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := s.listView(ctx, s.whisks, "whisks.v2.1.0", view, entityPath, q, func(rs *kivik.ResultSet) error {
		var v json.RawMessage
		if err := rs.ScanValue(&v); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// CountEntities counts what ListEntities of the view and path would return.
func (s *Store) CountEntities(ctx context.Context, view, entityPath string) (int, error) {
	return s.countView(ctx, s.whisks, "whisks.v2.1.0", view, []any{entityPath, "\ufff0"}, []any{entityPath, 0})
}

func (s *Store) listView(ctx context.Context, db *kivik.DB, ddoc, view, key string, q ListQuery, each func(*kivik.ResultSet) error) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	params := map[string]any{
		"descending": true, "reduce": false,
		"startkey": []any{key, "\ufff0"}, "endkey": []any{key, 0},
		"skip": q.Skip, "limit": q.Limit,
	}
	rs := db.Query(ctx, ddoc, view, kivik.Params(params))
	defer rs.Close()
	for rs.Next() {
		if err := each(rs); err != nil {
			return fmt.Errorf("view %s/%s: %w", ddoc, view, err)
		}
	}
	return mapErr(rs.Err(), "view "+ddoc+"/"+view)
}

func (s *Store) countView(ctx context.Context, db *kivik.DB, ddoc, view string, start, end any) (int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rs := db.Query(ctx, ddoc, view, kivik.Params(map[string]any{
		"descending": true, "reduce": true, "startkey": start, "endkey": end,
	}))
	defer rs.Close()
	n := 0
	for rs.Next() {
		var v int
		if err := rs.ScanValue(&v); err != nil {
			return 0, fmt.Errorf("view %s/%s: %w", ddoc, view, err)
		}
		n += v
	}
	return n, mapErr(rs.Err(), "view "+ddoc+"/"+view)
}
