package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/api"
)

// Subjects and namespace limits, as upstream's wskadmin writes them in the
// subjects database:
//
//	{"_id": subject, "subject": subject, "namespaces": [{"name","uuid","key"}], "blocked"?: bool}
//	{"_id": "<namespace>/limits", "invocationsPerMinute"?: n, "concurrentInvocations"?: n, ...}
//
// The identities view (subjects.v2.0.0/identities) leaves blocked subjects
// out, so a blocked subject's keys stop authenticating.

// limitsSuffix ends the id of a namespace limits document.
const limitsSuffix = "/limits"

// LimitsDocID is the id of a namespace's limits document.
func LimitsDocID(namespace string) string { return namespace + limitsSuffix }

// GetSubject reads a subject document by subject name.
func (s *Store) GetSubject(ctx context.Context, subject string) (*api.SubjectDoc, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var doc api.SubjectDoc
	if err := s.subjects.Get(ctx, subject).ScanDoc(&doc); err != nil {
		return nil, mapErr(err, "subject "+subject)
	}
	if doc.Subject == "" && doc.Namespaces == nil {
		// Some other document of the subjects db (a limits doc, a design doc).
		return nil, fmt.Errorf("subject %s: %w", subject, ErrNotFound)
	}
	if doc.ID == "" {
		doc.ID = subject
	}
	return &doc, nil
}

// PutSubject creates (doc.Rev "") or updates (doc.Rev current) a subject
// document and returns its new revision. A stale or missing Rev is
// ErrConflict.
func (s *Store) PutSubject(ctx context.Context, doc api.SubjectDoc) (string, error) {
	if doc.ID == "" {
		doc.ID = doc.Subject
	}
	if doc.ID == "" || strings.HasPrefix(doc.ID, "_") || strings.HasSuffix(doc.ID, limitsSuffix) {
		return "", fmt.Errorf("put subject %q: invalid document id", doc.ID)
	}
	if doc.Namespaces == nil {
		doc.Namespaces = []api.NamespaceKey{}
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rev, err := s.subjects.Put(ctx, doc.ID, doc)
	return rev, mapErr(err, "put subject "+doc.ID)
}

// DeleteSubject deletes a subject document at its current revision.
func (s *Store) DeleteSubject(ctx context.Context, subject, rev string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.subjects.Delete(ctx, subject, rev)
	return mapErr(err, "delete subject "+subject)
}

// IdentityRow is one key that gives access to a namespace.
type IdentityRow struct {
	Subject   string `json:"-"`
	Namespace string `json:"namespace"`
	UUID      string `json:"uuid"`
	Key       string `json:"key"`
}

// ListIdentities lists the keys of the namespace (of subjects that are not
// blocked), at most limit of them (0: all).
func (s *Store) ListIdentities(ctx context.Context, namespace string, limit int) ([]IdentityRow, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	params := map[string]any{"key": []any{namespace}}
	if limit > 0 {
		params["limit"] = limit
	}
	rs := s.subjects.Query(ctx, "subjects.v2.0.0", "identities", kivik.Params(params))
	defer rs.Close()
	var out []IdentityRow
	for rs.Next() {
		var row IdentityRow
		if err := rs.ScanValue(&row); err != nil {
			return nil, fmt.Errorf("identities of %s: %w", namespace, err)
		}
		row.Subject, _ = rs.ID()
		out = append(out, row)
	}
	return out, mapErr(rs.Err(), "identities of "+namespace)
}

// Limits are a namespace's overrides of the system limits (upstream's
// UserLimits, in the `<namespace>/limits` document). Absent fields take the
// system's values.
type Limits struct {
	// Rev is the document's revision: set by GetLimits, required by
	// PutLimits to update an existing document.
	Rev string `json:"_rev,omitempty"`

	InvocationsPerMinute  *int     `json:"invocationsPerMinute,omitempty"`
	ConcurrentInvocations *int     `json:"concurrentInvocations,omitempty"`
	FiresPerMinute        *int     `json:"firesPerMinute,omitempty"`
	AllowedKinds          []string `json:"allowedKinds,omitempty"`
	StoreActivations      *bool    `json:"storeActivations,omitempty"`
	MinActionMemory       *int     `json:"minActionMemory,omitempty"`
	MaxActionMemory       *int     `json:"maxActionMemory,omitempty"`
	MinActionLogs         *int     `json:"minActionLogs,omitempty"`
	MaxActionLogs         *int     `json:"maxActionLogs,omitempty"`
	MinActionTimeout      *int     `json:"minActionTimeout,omitempty"`
	MaxActionTimeout      *int     `json:"maxActionTimeout,omitempty"`
	MinActionConcurrency  *int     `json:"minActionConcurrency,omitempty"`
	MaxActionConcurrency  *int     `json:"maxActionConcurrency,omitempty"`
	MaxParameterSize      *string  `json:"maxParameterSize,omitempty"`
	MaxPayloadSize        *string  `json:"maxPayloadSize,omitempty"`
	TruncationSize        *string  `json:"truncationSize,omitempty"`
}

// GetLimits reads a namespace's limits document; ErrNotFound when the
// namespace has none (the system limits apply).
func (s *Store) GetLimits(ctx context.Context, namespace string) (*Limits, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	id := LimitsDocID(namespace)
	var raw json.RawMessage
	if err := s.subjects.Get(ctx, id).ScanDoc(&raw); err != nil {
		return nil, mapErr(err, "limits "+id)
	}
	var l Limits
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("limits %s: %w: %v", id, ErrCorrupted, err)
	}
	return &l, nil
}

// PutLimits creates (l.Rev "") or replaces (l.Rev current) a namespace's
// limits document and returns its new revision.
func (s *Store) PutLimits(ctx context.Context, namespace string, l Limits) (string, error) {
	id := LimitsDocID(namespace)
	b, err := json.Marshal(l)
	if err != nil {
		return "", fmt.Errorf("limits %s: %w", id, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("limits %s: %w", id, err)
	}
	doc["_id"] = id
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rev, err := s.subjects.Put(ctx, id, doc)
	return rev, mapErr(err, "put limits "+id)
}

// DeleteLimits deletes a namespace's limits document at revision rev.
func (s *Store) DeleteLimits(ctx context.Context, namespace, rev string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	id := LimitsDocID(namespace)
	_, err := s.subjects.Delete(ctx, id, rev)
	return mapErr(err, "delete limits "+id)
}
