package embedded

import (
	"bytes"
	"io"

	"github.com/go-kivik/kivik/v4/driver"
)

var nullJSON = []byte("null")

// row is one materialised result row. Results are collected inside the read
// transaction (bbolt memory is only valid there) and served from memory.
type row struct {
	id, rev string
	key     []byte
	value   []byte // nil: no value
	doc     []byte // nil with hasDoc: null
	hasDoc  bool
	err     error
}

type rows struct {
	rows      []row
	next      int
	totalRows int64
	offset    int64
}

var _ driver.Rows = (*rows)(nil)

func (r *rows) Next(dst *driver.Row) error {
	if r.next >= len(r.rows) {
		return io.EOF
	}
	src := &r.rows[r.next]
	r.next++
	dst.ID = src.id
	dst.Rev = src.rev
	dst.Key = src.key
	if src.value != nil {
		dst.Value = bytes.NewReader(src.value)
	}
	if src.hasDoc {
		doc := src.doc
		if doc == nil {
			doc = nullJSON
		}
		dst.Doc = bytes.NewReader(doc)
	}
	dst.Error = src.err
	return nil
}

// Close is a no-op: the rows are already in memory, and kivik may call it
// from two goroutines at once (ResultSet.Close and its context watcher).
func (r *rows) Close() error { return nil }

func (r *rows) UpdateSeq() string { return "" }

func (r *rows) Offset() int64 { return r.offset }

func (r *rows) TotalRows() int64 { return r.totalRows }
