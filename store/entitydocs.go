package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/go-kivik/kivik/v4"
)

// ListEntityDocs is ListEntities returning the rows' documents
// (include_docs), for views whose value is not the entity: upstream lists
// rules this way (their view emits 1). Newest first.
func (s *Store) ListEntityDocs(ctx context.Context, view, entityPath string, q ListQuery) ([]json.RawMessage, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rs := s.whisks.Query(ctx, "whisks.v2.1.0", view, kivik.Params(map[string]any{
		"descending": true, "reduce": false, "include_docs": true,
		"startkey": []any{entityPath, "\ufff0"}, "endkey": []any{entityPath, 0},
		"skip": q.Skip, "limit": q.Limit,
	}))
	defer rs.Close()
	var out []json.RawMessage
	for rs.Next() {
		var doc json.RawMessage
		if err := rs.ScanDoc(&doc); err != nil {
			return nil, fmt.Errorf("view whisks.v2.1.0/%s: %w", view, err)
		}
		out = append(out, doc)
	}
	return out, mapErr(rs.Err(), "view whisks.v2.1.0/"+view)
}

// ListDocsByPrefix returns at most limit documents of the entities database
// whose id starts with prefix, in id order. It serves documents kept beside
// the entities under an id space no entity can take (ids that do not start
// with a valid namespace), such as the alarm schedules.
func (s *Store) ListDocsByPrefix(ctx context.Context, prefix string, limit int) ([]json.RawMessage, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rs := s.whisks.AllDocs(ctx, kivik.Params(map[string]any{
		"include_docs": true, "startkey": prefix, "endkey": prefix + "\ufff0", "limit": limit,
	}))
	defer rs.Close()
	var out []json.RawMessage
	for rs.Next() {
		var doc json.RawMessage
		if err := rs.ScanDoc(&doc); err != nil {
			return nil, fmt.Errorf("documents %s*: %w", prefix, err)
		}
		out = append(out, doc)
	}
	return out, mapErr(rs.Err(), "documents "+prefix+"*")
}
