package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-kivik/kivik/v4/driver"
	bolt "go.etcd.io/bbolt"
)

// viewSpans turns the key options into spans of index row keys, in the order
// they are to be read.
func viewSpans(q *queryOpts) ([]span, error) {
	if q.hasKeys {
		spans := make([]span, len(q.keys))
		for i, k := range q.keys {
			e := appendKey(nil, k)
			spans[i] = span{lo: e, hi: withHigh(e), hasLo: true, hasHi: true}
		}
		return spans, nil
	}
	if q.hasStart && q.hasEnd {
		c := collate(q.startKey, q.endKey)
		if (!q.descending && c > 0) || (q.descending && c < 0) {
			return nil, errQueryParse("No rows can match your key range, reverse your start_key and end_key or set descending=true")
		}
	}
	// bound is the encoding of (key[, docid]); rows of that exact key (and
	// doc id) all have it as a prefix, followed by a byte below highByte.
	bound := func(key any, hasID bool, id string) []byte {
		b := appendKey(nil, key)
		if hasID {
			b = appendString(b, id)
		}
		return b
	}
	var sp span
	if q.hasStart {
		b := bound(q.startKey, q.hasStartID, q.startDocID)
		if q.descending {
			sp.hi, sp.hasHi = withHigh(b), true
		} else {
			sp.lo, sp.hasLo = b, true
		}
	}
	if q.hasEnd {
		b := bound(q.endKey, q.hasEndID, q.endDocID)
		switch {
		case q.descending && q.inclusiveEnd:
			sp.lo, sp.hasLo = b, true
		case q.descending:
			sp.lo, sp.hasLo = withHigh(b), true
		case q.inclusiveEnd:
			sp.hi, sp.hasHi = withHigh(b), true
		default:
			sp.hi, sp.hasHi = b, true
		}
	}
	return []span{sp}, nil
}

// Query runs the Go view registered as ddoc/view (see RegisterView). Supported
// options: key, keys, startkey/start_key, endkey/end_key,
// startkey_docid/start_key_doc_id, endkey_docid/end_key_doc_id, inclusive_end,
// descending, skip, limit, include_docs, reduce, group, group_level; stale,
// update and other options are ignored. total_rows is the number of rows in
// the whole view; offset is always 0.
func (d *db) Query(ctx context.Context, ddoc, viewName string, options driver.Options) (driver.Rows, error) {
	v, ok := lookupView(ddoc, viewName)
	if !ok {
		return nil, fmt.Errorf("view %s/%s: %w", ddoc, viewName, errNotFound("missing_named_view"))
	}
	q, err := parseQueryOpts(options)
	if err != nil {
		return nil, err
	}
	reduce := v.Reduce != ""
	if q.reduce != nil {
		if *q.reduce && !reduce {
			return nil, errQueryParse("Reduce is invalid for map-only views.")
		}
		reduce = *q.reduce
	}
	grouping := q.group || (q.hasGroupLevel && q.groupLevel > 0)
	switch {
	case reduce && q.includeDocs:
		return nil, errQueryParse("`include_docs` is invalid for reduce")
	case !reduce && (q.group || q.hasGroupLevel):
		return nil, errQueryParse("Invalid use of grouping on a map view.")
	case reduce && !grouping && q.hasKeys && len(q.keys) != 1:
		return nil, errQueryParse("Multi-key fetches for reduce views must use `group` = `true`")
	}
	spans, err := viewSpans(q)
	if err != nil {
		return nil, err
	}
	id := viewID(ddoc, viewName)
	if err := d.ensureIndex(ctx, id, v); err != nil {
		return nil, err
	}
	out := &rows{}
	err = d.view(ctx, "query "+ddoc+"/"+viewName, func(_ *bolt.Tx, b *dbBuckets) error {
		ixb := b.views.Bucket([]byte(id))
		if !indexReady(b, id, v) {
			// Dropped or re-registered between ensureIndex and now.
			return newError(http.StatusServiceUnavailable, "index_rebuilding", "view index changed during the query; retry")
		}
		ix := openIndex(ixb)
		if reduce {
			return reduceRows(ctx, ix, v.Reduce, q, spans, grouping, out)
		}
		out.totalRows = ix.total()
		return mapRows(ctx, b, ix, q, spans, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ensureIndex builds the view's index on this db if it is missing, stale or
// half built, one chunk per write transaction. Concurrent callers share the
// work: progress is stored in the index itself.
func (d *db) ensureIndex(ctx context.Context, id string, v View) error {
	ready := false
	err := d.view(ctx, "check index", func(_ *bolt.Tx, b *dbBuckets) error {
		ready = indexReady(b, id, v)
		return nil
	})
	for err == nil && !ready {
		err = d.update(ctx, "build index", func(_ *bolt.Tx, b *dbBuckets) error {
			var stepErr error
			ready, stepErr = buildIndexStep(b, id, v)
			return stepErr
		})
	}
	return err
}

func mapRows(ctx context.Context, b *dbBuckets, ix *index, q *queryOpts, spans []span, out *rows) error {
	skip, limit := q.skip, q.limit
	n := 0
	for _, sp := range spans {
		if limit == 0 {
			return nil
		}
		err := scan(ix.rows.Cursor(), sp, q.descending, func(k, v []byte) (bool, error) {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return false, err
				}
			}
			if skip > 0 {
				skip--
				return true, nil
			}
			_, key, docID, err := splitRowKey(k)
			if err != nil {
				return false, fmt.Errorf("index row: %w", err)
			}
			keyJSON, err := marshalJSON(key)
			if err != nil {
				return false, fmt.Errorf("index row key: %w", err)
			}
			r := row{id: docID, key: keyJSON, value: bytes.Clone(v)}
			if q.includeDocs {
				r.hasDoc = true
				r.doc = includedDoc(b, docID, v)
			}
			out.rows = append(out.rows, r)
			if limit > 0 {
				limit--
			}
			return limit != 0, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// includedDoc is the include_docs doc of a row: the doc named by the value's
// _id if it has one (CouchDB's linked documents), else the emitting doc; nil
// (null) if that doc does not exist.
func includedDoc(b *dbBuckets, docID string, value []byte) []byte {
	if len(value) > 0 && value[0] == '{' {
		var linked struct {
			ID json.RawMessage `json:"_id"`
		}
		if json.Unmarshal(value, &linked) == nil && len(linked.ID) > 0 {
			var s string
			if json.Unmarshal(linked.ID, &s) == nil {
				docID = s
			}
		}
	}
	if data := b.docs.Get([]byte(docID)); data != nil {
		return bytes.Clone(data)
	}
	return nil
}

// reduceRows computes _count or _sum over the spans, as one row (key null)
// or one row per group. Like CouchDB, an empty range gives no rows, and skip
// and limit apply to the reduced rows.
func reduceRows(ctx context.Context, ix *index, fn string, q *queryOpts, spans []span, grouping bool, out *rows) error {
	type group struct {
		enc   []byte
		key   any
		count int64
		sum   float64
	}
	var groups []*group
	var cur *group
	n := 0
	for _, sp := range spans {
		if grouping {
			cur = nil // with keys, each key is its own group
		}
		err := scan(ix.rows.Cursor(), sp, q.descending, func(k, v []byte) (bool, error) {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return false, err
				}
			}
			var gEnc []byte
			var gKey any
			if grouping {
				keyEnc, key, _, err := splitRowKey(k)
				if err != nil {
					return false, fmt.Errorf("index row: %w", err)
				}
				gEnc, gKey = keyEnc, key
				if arr, isArr := key.([]any); isArr && q.hasGroupLevel && len(arr) > q.groupLevel {
					gKey = arr[:q.groupLevel]
					gEnc = appendKey(nil, gKey)
				}
			}
			if cur == nil || (grouping && !bytes.Equal(cur.enc, gEnc)) {
				cur = &group{enc: bytes.Clone(gEnc), key: gKey}
				groups = append(groups, cur)
			}
			cur.count++
			if fn == "_sum" {
				var x any
				if err := json.Unmarshal(v, &x); err != nil {
					return false, fmt.Errorf("index row value: %w", err)
				}
				f, isNum := x.(float64)
				if !isNum {
					return false, newError(http.StatusInternalServerError, "builtin_reduce_error",
						"_sum function requires that map values be numbers, got "+string(v))
				}
				cur.sum += f
			}
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	skip, limit := q.skip, q.limit
	for _, g := range groups {
		if skip > 0 {
			skip--
			continue
		}
		if limit == 0 {
			break
		}
		if limit > 0 {
			limit--
		}
		keyJSON, err := marshalJSON(g.key)
		if err != nil {
			return fmt.Errorf("reduce key: %w", err)
		}
		var val []byte
		if fn == "_count" {
			val = strconv.AppendInt(nil, g.count, 10)
		} else if val, err = marshalJSON(g.sum); err != nil {
			return fmt.Errorf("reduce value: %w", err)
		}
		out.rows = append(out.rows, row{key: keyJSON, value: val})
	}
	return nil
}
