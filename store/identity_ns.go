package store

import (
	"context"
	"fmt"

	"github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/api"
)

// GetIdentityByNamespace finds the identity owning a namespace name, through
// the subjects view "identities" keyed [ns] (upstream's lookup for web
// actions, which run as the owner of the namespace in their path). Blocked
// subjects are not in the view, so they are not found.
func (s *Store) GetIdentityByNamespace(ctx context.Context, namespace string) (*api.Identity, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rs := s.subjects.Query(ctx, "subjects.v2.0.0", "identities", kivik.Params(map[string]any{
		"key": []any{namespace}, "limit": 1}))
	defer rs.Close()
	if !rs.Next() {
		if err := rs.Err(); err != nil {
			return nil, mapErr(err, "identity of namespace "+namespace)
		}
		return nil, fmt.Errorf("identity of namespace %s: %w", namespace, ErrNotFound)
	}
	var v struct {
		Namespace string `json:"namespace"`
		UUID      string `json:"uuid"`
		Key       string `json:"key"`
	}
	if err := rs.ScanValue(&v); err != nil {
		return nil, fmt.Errorf("identity of namespace %s: %w", namespace, err)
	}
	subject, _ := rs.ID()
	return &api.Identity{Subject: subject, Namespace: v.Namespace, UUID: v.UUID, Key: v.Key}, nil
}
