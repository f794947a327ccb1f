package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-kivik/kivik/v4"
)

// Defaults of activation retention.
const (
	// DefaultActivationRetention is how long activation records are kept.
	DefaultActivationRetention = 7 * 24 * time.Hour
	// defaultRetentionInterval is how often the retention job runs.
	defaultRetentionInterval = time.Hour
	// defaultRetentionBatch bounds the records one delete request removes.
	defaultRetentionBatch = 500
)

// RetentionConfig configures the job that deletes old activation records.
type RetentionConfig struct {
	// MaxAge is how long records are kept, by their start time; 0 means
	// DefaultActivationRetention.
	MaxAge time.Duration
	// Interval is the time between runs (default 1 h, at most MaxAge/2).
	Interval time.Duration
	// Batch bounds each delete request (default 500).
	Batch int
	// Log receives one line per run that deleted something, and failures.
	Log *slog.Logger
}

// DeleteActivationsBefore deletes the activation records of every namespace
// that started before cutoff, in requests of at most batch records, and
// returns how many it deleted. It stops early when ctx ends.
func (s *Store) DeleteActivationsBefore(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = defaultRetentionBatch
	}
	end := cutoff.UnixMilli()
	deleted := 0
	for {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		docs, err := s.activationsBefore(ctx, end, batch)
		if err != nil || len(docs) == 0 {
			return deleted, err
		}
		n, err := s.deleteDocs(ctx, docs)
		deleted += n
		if err != nil {
			return deleted, err
		}
		if n == 0 {
			// Every row conflicted (records deleted by someone else in the
			// meantime, or the view lags): try again at the next run.
			return deleted, nil
		}
	}
}

// activationsBefore reads up to limit (id, rev) pairs of records that started
// before end (epoch ms), oldest first, from upstream's activations/byDate view.
func (s *Store) activationsBefore(ctx context.Context, end int64, limit int) ([]any, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	rs := s.activations.Query(ctx, "activations", "byDate", kivik.Params(map[string]any{
		"endkey": end, "inclusive_end": false, "limit": limit}))
	defer rs.Close()
	var docs []any
	for rs.Next() {
		var idRev [2]string
		if err := rs.ScanValue(&idRev); err != nil || idRev[0] == "" || idRev[1] == "" {
			continue // not a row this job wrote the view for
		}
		docs = append(docs, map[string]any{"_id": idRev[0], "_rev": idRev[1], "_deleted": true})
	}
	return docs, mapErr(rs.Err(), "view activations/byDate")
}

// deleteDocs deletes the given {_id,_rev,_deleted} documents in one bulk
// request and returns how many were deleted.
func (s *Store) deleteDocs(ctx context.Context, docs []any) (int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	results, err := s.activations.BulkDocs(ctx, docs)
	if err != nil {
		return 0, mapErr(err, fmt.Sprintf("delete %d activations", len(docs)))
	}
	n := 0
	for _, r := range results {
		if r.Error == nil {
			n++
		}
	}
	return n, nil
}

// RunRetention deletes activation records older than cfg.MaxAge now and
// then every cfg.Interval, until ctx ends. A failed run (the database is
// down) is logged and retried at the next interval.
func (s *Store) RunRetention(ctx context.Context, cfg RetentionConfig) {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultActivationRetention
	}
	if cfg.Interval <= 0 {
		cfg.Interval = min(defaultRetentionInterval, cfg.MaxAge/2)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		n, err := s.DeleteActivationsBefore(ctx, time.Now().Add(-cfg.MaxAge), cfg.Batch)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			cfg.Log.Warn("activation retention", "deleted", n, "err", err)
		case n > 0:
			cfg.Log.Info("activation retention", "deleted", n, "older than", cfg.MaxAge.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
