package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/api"
)

// GetPackage reads a package or binding document.
func (s *Store) GetPackage(ctx context.Context, id string) (*api.PackageDoc, error) {
	raw, err := s.GetEntity(ctx, id)
	if err != nil {
		return nil, err
	}
	if EntityKind(raw) != "package" {
		return nil, fmt.Errorf("entity %s: %w", id, ErrWrongCollection)
	}
	var doc api.PackageDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("entity %s: %w: %v", id, ErrCorrupted, err)
	}
	return &doc, nil
}

// PackageActions lists every action directly inside the package at
// entityPath ("ns/pkg"), newest first, with no page limit: a package
// response and a forced delete need all of them.
func (s *Store) PackageActions(ctx context.Context, entityPath string) ([]api.ActionSummary, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rs := s.whisks.Query(ctx, "whisks.v2.1.0", "actions", kivik.Params(map[string]any{
		"descending": true, "reduce": false,
		"startkey": []any{entityPath, "\ufff0"}, "endkey": []any{entityPath, 0},
	}))
	defer rs.Close()
	var out []api.ActionSummary
	for rs.Next() {
		var v api.ActionSummary
		if err := rs.ScanValue(&v); err != nil {
			return nil, fmt.Errorf("actions in %s: %w", entityPath, err)
		}
		if v.Annotations == nil {
			v.Annotations = api.KeyValues{}
		}
		out = append(out, v)
	}
	return out, mapErr(rs.Err(), "actions in "+entityPath)
}
