package embedded

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/go-kivik/kivik/v4/driver"
	bolt "go.etcd.io/bbolt"
)

// span is a half-open byte range [lo, hi) of bucket keys; an unset bound is
// open.
type span struct {
	lo, hi       []byte
	hasLo, hasHi bool
}

// scan visits the keys of sp in order (or reverse order) until fn returns
// false or an error.
func scan(c *bolt.Cursor, sp span, descending bool, fn func(k, v []byte) (bool, error)) error {
	var k, v []byte
	if !descending {
		if sp.hasLo {
			k, v = c.Seek(sp.lo)
		} else {
			k, v = c.First()
		}
		for ; k != nil; k, v = c.Next() {
			if sp.hasHi && bytes.Compare(k, sp.hi) >= 0 {
				return nil
			}
			if more, err := fn(k, v); err != nil || !more {
				return err
			}
		}
		return nil
	}
	if sp.hasHi {
		if k, v = c.Seek(sp.hi); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Last()
	}
	for ; k != nil; k, v = c.Prev() {
		if sp.hasLo && bytes.Compare(k, sp.lo) < 0 {
			return nil
		}
		if more, err := fn(k, v); err != nil || !more {
			return err
		}
	}
	return nil
}

// idBound converts an _all_docs start/end key to a doc id.
func idBound(name string, k any) (string, error) {
	s, ok := k.(string)
	if !ok {
		return "", errQueryParse("%s must be a doc id (string) in _all_docs", name)
	}
	return s, nil
}

// allDocsSpan turns the range options into a span of doc ids (byte order).
func allDocsSpan(q *queryOpts) (span, error) {
	var sp span
	// The smallest id above every id with prefix-equality to s is s+"\x00".
	after := func(s string) []byte { return append([]byte(s), 0) }
	if q.hasStart {
		s, err := idBound("startkey", q.startKey)
		if err != nil {
			return sp, err
		}
		if q.descending {
			sp.hi, sp.hasHi = after(s), true
		} else {
			sp.lo, sp.hasLo = []byte(s), true
		}
	}
	if q.hasEnd {
		e, err := idBound("endkey", q.endKey)
		if err != nil {
			return sp, err
		}
		switch {
		case q.descending && q.inclusiveEnd:
			sp.lo, sp.hasLo = []byte(e), true
		case q.descending:
			sp.lo, sp.hasLo = after(e), true
		case q.inclusiveEnd:
			sp.hi, sp.hasHi = after(e), true
		default:
			sp.hi, sp.hasHi = []byte(e), true
		}
	}
	if q.hasStart && q.hasEnd {
		s, e := q.startKey.(string), q.endKey.(string)
		if (!q.descending && s > e) || (q.descending && s < e) {
			return sp, errQueryParse("No rows can match your key range, reverse your start_key and end_key or set descending=true")
		}
	}
	return sp, nil
}

func revValue(rev string, deleted bool) []byte {
	v := map[string]any{"rev": rev}
	if deleted {
		v["deleted"] = true
	}
	out, _ := json.Marshal(v)
	return out
}

// AllDocs lists documents by id. Supported options: startkey/start_key,
// endkey/end_key, key, keys, descending, inclusive_end, skip, limit,
// include_docs. total_rows is the doc count; offset is always 0.
func (d *db) AllDocs(ctx context.Context, options driver.Options) (driver.Rows, error) {
	q, err := parseQueryOpts(options)
	if err != nil {
		return nil, err
	}
	out := &rows{}
	err = d.view(ctx, "all docs", func(_ *bolt.Tx, b *dbBuckets) error {
		out.totalRows = getCounter(b.meta, keyDocCount)
		skip, limit := q.skip, q.limit
		emit := func(r row) bool {
			if skip > 0 {
				skip--
				return true
			}
			if limit == 0 {
				return false
			}
			out.rows = append(out.rows, r)
			if limit > 0 {
				limit--
			}
			return limit != 0
		}
		if q.hasKeys {
			for _, k := range q.keys {
				keyJSON, _ := json.Marshal(k)
				id, isString := k.(string)
				var r row
				switch {
				case !isString:
					r = row{key: keyJSON, err: errNotFound("not_found")}
				case b.docs.Get([]byte(id)) != nil:
					data := b.docs.Get([]byte(id))
					rev := storedRev(data)
					r = row{id: id, rev: rev, key: keyJSON, value: revValue(rev, false)}
					if q.includeDocs {
						r.doc, r.hasDoc = bytes.Clone(data), true
					}
				case b.tombs.Get([]byte(id)) != nil:
					rev := string(b.tombs.Get([]byte(id)))
					r = row{id: id, rev: rev, key: keyJSON, value: revValue(rev, true), hasDoc: q.includeDocs}
				default:
					r = row{key: keyJSON, err: errNotFound("not_found")}
				}
				if !emit(r) {
					break
				}
			}
			return nil
		}
		sp, err := allDocsSpan(q)
		if err != nil {
			return err
		}
		n := 0
		return scan(b.docs.Cursor(), sp, q.descending, func(k, v []byte) (bool, error) {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return false, err
				}
			}
			if skip > 0 {
				skip--
				return true, nil
			}
			id := string(k)
			rev := storedRev(v)
			keyJSON, _ := json.Marshal(id)
			r := row{id: id, rev: rev, key: keyJSON, value: revValue(rev, false)}
			if q.includeDocs {
				r.doc, r.hasDoc = bytes.Clone(v), true
			}
			return emit(r), nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
