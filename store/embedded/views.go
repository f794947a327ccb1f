package embedded

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// View is the Go equivalent of one view of a CouchDB design doc.
type View struct {
	// Map is called once for every document that is not a design doc, with
	// the document as encoding/json decodes it into map[string]any (numbers
	// are float64, like JavaScript's). It calls emit once per row; keys and
	// values must be JSON-encodable. Map must not modify doc, which is shared
	// between views. If Map panics, the document contributes no rows to this
	// view, as when a JavaScript map function throws.
	Map func(doc map[string]any, emit func(key, value any))
	// Reduce is "" (map only), "_count" or "_sum".
	Reduce string
	// Version names the logic of Map. An index built with another Version is
	// dropped and rebuilt on the next query of that view. Change it whenever
	// Map changes, or existing files keep their old rows.
	Version string
}

var registry = struct {
	sync.RWMutex
	views map[string]View // by viewID(ddoc, view)
}{views: map[string]View{}}

// RegisterView registers v as view `view` of design doc `ddoc` (with or
// without the "_design/" prefix) for every database of every client. A later
// registration under the same names replaces the earlier one. It panics if
// v.Map is nil or v.Reduce is not "", "_count" or "_sum".
func RegisterView(ddoc, view string, v View) {
	if v.Map == nil {
		panic(fmt.Sprintf("brisk-embedded: RegisterView(%q, %q): nil Map", ddoc, view))
	}
	switch v.Reduce {
	case "", "_count", "_sum":
	default:
		panic(fmt.Sprintf("brisk-embedded: RegisterView(%q, %q): unsupported reduce %q", ddoc, view, v.Reduce))
	}
	registry.Lock()
	defer registry.Unlock()
	registry.views[viewID(ddoc, view)] = v
}

func lookupView(ddoc, view string) (View, bool) {
	registry.RLock()
	defer registry.RUnlock()
	v, ok := registry.views[viewID(ddoc, view)]
	return v, ok
}

func lookupViewID(id string) (View, bool) {
	registry.RLock()
	defer registry.RUnlock()
	v, ok := registry.views[id]
	return v, ok
}

// viewID names a view's index bucket. NUL cannot occur in either name part
// as they come from URLs.
func viewID(ddoc, view string) string {
	return strings.TrimPrefix(ddoc, "_design/") + "\x00" + view
}

// Layout of a view's index bucket (one per db and view, under bucketViews):
//
//	rows/    rowKey(key, docid, ordinal) -> value JSON
//	byid/    docid -> the doc's row keys (uvarint length-prefixed), to unindex
//	version  View.Version the index was built with
//	count    total rows (uint64), reported as total_rows
//	cursor   while building: the last doc id indexed so far
//	built    present once the build has covered every doc
var (
	bucketRows  = []byte("rows")
	bucketByID  = []byte("byid")
	keyVersion  = []byte("version")
	keyRowCount = []byte("count")
	keyCursor   = []byte("cursor")
	keyBuilt    = []byte("built")
)

type emitted struct {
	key   any
	value []byte
}

// runMap runs v.Map on doc. A panic (the Go analogue of a JavaScript map
// function throwing) discards every row of that doc.
func runMap(v View, docID string, doc map[string]any) (rows []emitted) {
	defer func() {
		if r := recover(); r != nil {
			slog.Debug("brisk-embedded: map function failed; doc not indexed", "doc", docID, "panic", r)
			rows = nil
		}
	}()
	v.Map(doc, func(key, value any) {
		k, err := normalizeKey(key)
		if err != nil {
			panic(fmt.Errorf("emit key: %w", err))
		}
		val, err := marshalJSON(value)
		if err != nil {
			panic(fmt.Errorf("emit value: %w", err))
		}
		rows = append(rows, emitted{key: k, value: val})
	})
	return rows
}

func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// index is an open view index bucket within a write transaction.
type index struct {
	b    *bolt.Bucket
	rows *bolt.Bucket
	byID *bolt.Bucket
}

func openIndex(b *bolt.Bucket) *index {
	return &index{b: b, rows: b.Bucket(bucketRows), byID: b.Bucket(bucketByID)}
}

func (ix *index) addCount(delta int) error {
	var n uint64
	if raw := ix.b.Get(keyRowCount); len(raw) == 8 {
		n = binary.BigEndian.Uint64(raw)
	}
	n = uint64(int64(n) + int64(delta))
	return ix.b.Put(keyRowCount, binary.BigEndian.AppendUint64(nil, n))
}

func (ix *index) total() int64 {
	if raw := ix.b.Get(keyRowCount); len(raw) == 8 {
		return int64(binary.BigEndian.Uint64(raw))
	}
	return 0
}

// unindex removes every row of docID.
func (ix *index) unindex(docID string) error {
	list := ix.byID.Get([]byte(docID))
	if list == nil {
		return nil
	}
	n := 0
	for len(list) > 0 {
		l, w := binary.Uvarint(list)
		if w <= 0 || uint64(len(list)-w) < l {
			return fmt.Errorf("corrupt row list of doc %q", docID)
		}
		if err := ix.rows.Delete(list[w : w+int(l)]); err != nil {
			return err
		}
		list = list[w+int(l):]
		n++
	}
	if err := ix.byID.Delete([]byte(docID)); err != nil {
		return err
	}
	return ix.addCount(-n)
}

// add indexes the rows doc emits.
func (ix *index) add(v View, docID string, doc map[string]any) error {
	rows := runMap(v, docID, doc)
	if len(rows) == 0 {
		return nil
	}
	var list []byte
	for i, r := range rows {
		rk := rowKey(appendKey(nil, r.key), docID, uint32(i))
		if err := ix.rows.Put(rk, r.value); err != nil {
			return err
		}
		list = binary.AppendUvarint(list, uint64(len(rk)))
		list = append(list, rk...)
	}
	if err := ix.byID.Put([]byte(docID), list); err != nil {
		return err
	}
	return ix.addCount(len(rows))
}

// reindexDoc updates every index of the db for a write of docID; data is the
// new stored JSON, nil for a delete. An index still being built is updated
// only for docs its build has already passed. Indexes of views that are no
// longer registered, or were built with another Version, are left alone: the
// next query rebuilds them.
func reindexDoc(b *dbBuckets, docID string, data []byte) error {
	if isDesignDoc(docID) {
		return nil
	}
	var ids [][]byte
	err := b.views.ForEachBucket(func(k []byte) error {
		ids = append(ids, bytes.Clone(k))
		return nil
	})
	if err != nil {
		return err
	}
	var doc map[string]any
	for _, id := range ids {
		v, ok := lookupViewID(string(id))
		ixb := b.views.Bucket(id)
		if !ok || string(ixb.Get(keyVersion)) != v.Version {
			continue
		}
		if ixb.Get(keyBuilt) == nil {
			if cursor := ixb.Get(keyCursor); cursor == nil || docID > string(cursor) {
				continue // the build has not reached this doc yet
			}
		}
		ix := openIndex(ixb)
		if err := ix.unindex(docID); err != nil {
			return fmt.Errorf("unindex %q from view %q: %w", docID, id, err)
		}
		if data == nil {
			continue
		}
		if doc == nil {
			if err := json.Unmarshal(data, &doc); err != nil {
				return fmt.Errorf("decode doc %q: %w", docID, err)
			}
		}
		if err := ix.add(v, docID, doc); err != nil {
			return fmt.Errorf("index %q in view %q: %w", docID, id, err)
		}
	}
	return nil
}

func isDesignDoc(id string) bool { return strings.HasPrefix(id, "_design/") }

// indexReady reports whether the db has a complete, current index for view id.
func indexReady(b *dbBuckets, id string, v View) bool {
	ixb := b.views.Bucket([]byte(id))
	return ixb != nil && string(ixb.Get(keyVersion)) == v.Version && ixb.Get(keyBuilt) != nil
}

// buildChunk is the number of docs indexed per build transaction. Small
// transactions keep bbolt's in-memory nodes small (inserts into one huge
// dirty node are quadratic) and let other writers in between.
const buildChunk = 1000

// buildIndexStep indexes the next buildChunk docs of view id, in the
// caller's write transaction, (re)creating the index first if it is missing
// or stale. Progress is the last indexed doc id (keyCursor); writes in the
// meantime keep the part already built up to date (see reindexDoc). It
// reports whether the index is complete.
func buildIndexStep(b *dbBuckets, id string, v View) (bool, error) {
	ixb := b.views.Bucket([]byte(id))
	if ixb != nil && string(ixb.Get(keyVersion)) != v.Version {
		if err := b.views.DeleteBucket([]byte(id)); err != nil {
			return false, fmt.Errorf("drop stale index: %w", err)
		}
		ixb = nil
	}
	if ixb == nil {
		var err error
		if ixb, err = createIndex(b, id, v); err != nil {
			return false, err
		}
	}
	if ixb.Get(keyBuilt) != nil {
		return true, nil
	}
	ix := openIndex(ixb)
	c := b.docs.Cursor()
	var k, data []byte
	if cursor := ixb.Get(keyCursor); cursor == nil {
		k, data = c.First()
	} else if k, data = c.Seek(cursor); k != nil && bytes.Equal(k, cursor) {
		k, data = c.Next()
	}
	var last []byte
	for n := 0; k != nil && n < buildChunk; k, data = c.Next() {
		n++
		last = k
		docID := string(k)
		if isDesignDoc(docID) {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			return false, fmt.Errorf("decode doc %q: %w", docID, err)
		}
		if err := ix.add(v, docID, doc); err != nil {
			return false, fmt.Errorf("index doc %q: %w", docID, err)
		}
	}
	if k == nil {
		if err := ixb.Delete(keyCursor); err != nil {
			return false, err
		}
		return true, ixb.Put(keyBuilt, []byte{1})
	}
	return false, ixb.Put(keyCursor, bytes.Clone(last))
}

func createIndex(b *dbBuckets, id string, v View) (*bolt.Bucket, error) {
	ixb, err := b.views.CreateBucket([]byte(id))
	if err != nil {
		return nil, fmt.Errorf("create index: %w", err)
	}
	for _, sub := range [][]byte{bucketRows, bucketByID} {
		if _, err := ixb.CreateBucket(sub); err != nil {
			return nil, fmt.Errorf("create index bucket %s: %w", sub, err)
		}
	}
	if err := ixb.Put(keyVersion, []byte(v.Version)); err != nil {
		return nil, fmt.Errorf("set index version: %w", err)
	}
	if err := ixb.Put(keyRowCount, make([]byte, 8)); err != nil {
		return nil, fmt.Errorf("set index count: %w", err)
	}
	return ixb, nil
}
