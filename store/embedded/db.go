package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-kivik/kivik/v4/driver"
	bolt "go.etcd.io/bbolt"
)

// Layout of one database's bucket (under bucketDBs):
//
//	docs/   doc id -> stored JSON, beginning {"_id":...,"_rev":...
//	tombs/  doc id -> rev of the deletion (deleted docs keep no body)
//	meta/   doc_count, del_count, seq (uint64 each)
//	views/  one bucket per view index (see views.go)
var (
	bucketDocs   = []byte("docs")
	bucketTombs  = []byte("tombs")
	bucketDBMeta = []byte("meta")
	bucketViews  = []byte("views")
	keyDocCount  = []byte("doc_count")
	keyDelCount  = []byte("del_count")
	keySeq       = []byte("seq")
)

var (
	_ driver.DB         = (*db)(nil)
	_ driver.DocCreator = (*db)(nil)
	_ driver.BulkDocer  = (*db)(nil)
	_ driver.RevGetter  = (*db)(nil)
)

// db is a handle on one database of a client's file.
type db struct {
	client *client
	name   string
}

type dbBuckets struct {
	docs, tombs, meta, views *bolt.Bucket
}

func (d *db) buckets(tx *bolt.Tx) (*dbBuckets, error) {
	root := tx.Bucket(bucketDBs).Bucket([]byte(d.name))
	if root == nil {
		return nil, errNoDB(d.name)
	}
	return &dbBuckets{
		docs:  root.Bucket(bucketDocs),
		tombs: root.Bucket(bucketTombs),
		meta:  root.Bucket(bucketDBMeta),
		views: root.Bucket(bucketViews),
	}, nil
}

// view runs fn in a read transaction on the db.
func (d *db) view(ctx context.Context, op string, fn func(*bolt.Tx, *dbBuckets) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s in db %q: %w", op, d.name, err)
	}
	err := d.client.bolt.View(func(tx *bolt.Tx) error {
		b, err := d.buckets(tx)
		if err != nil {
			return err
		}
		return fn(tx, b)
	})
	if err != nil {
		return errInternal(fmt.Sprintf("%s in db %q", op, d.name), err)
	}
	return nil
}

// update runs fn in a write transaction on the db; everything fn writes
// (docs, counters, index rows) commits or rolls back together.
func (d *db) update(ctx context.Context, op string, fn func(*bolt.Tx, *dbBuckets) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s in db %q: %w", op, d.name, err)
	}
	err := d.client.bolt.Update(func(tx *bolt.Tx) error {
		b, err := d.buckets(tx)
		if err != nil {
			return err
		}
		return fn(tx, b)
	})
	if err != nil {
		return errInternal(fmt.Sprintf("%s in db %q", op, d.name), err)
	}
	return nil
}

// docWrite is one parsed document write.
type docWrite struct {
	id      string
	rev     string         // the rev the writer claims to replace, "" for none
	deleted bool           // _deleted: true, or a Delete call
	body    map[string]any // decoded with UseNumber, special fields removed
}

// parseDoc decodes a document given to Put, CreateDoc or BulkDocs.
func parseDoc(doc any) (*docWrite, error) {
	var raw []byte
	switch t := doc.(type) {
	case json.RawMessage:
		raw = t
	case []byte:
		raw = t
	default:
		var err error
		if raw, err = json.Marshal(doc); err != nil {
			return nil, errBadRequest("document is not JSON-encodable: %v", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil || body == nil {
		return nil, errBadRequest("Document must be a JSON object")
	}
	w := &docWrite{body: body}
	for k, v := range body {
		if !strings.HasPrefix(k, "_") {
			continue
		}
		switch k {
		case "_id":
			s, ok := v.(string)
			if !ok {
				return nil, errBadRequest("Document id must be a string")
			}
			w.id = s
		case "_rev":
			s, ok := v.(string)
			if !ok {
				return nil, errBadRequest("Invalid rev format")
			}
			w.rev = s
		case "_deleted":
			w.deleted = v == true
		case "_attachments":
			return nil, errNotImplemented("attachments")
		case "_revisions", "_revs_info", "_conflicts", "_deleted_conflicts", "_local_seq":
		default:
			return nil, newError(http.StatusBadRequest, "doc_validation", "Bad special document member: "+k)
		}
		delete(body, k)
	}
	return w, nil
}

func checkDocID(id string) error {
	switch {
	case id == "":
		return errBadRequest("Document id must not be empty")
	case !utf8.ValidString(id):
		return errBadRequest("Document id must be valid UTF-8")
	case strings.HasPrefix(id, "_") && !isDesignDoc(id) && !strings.HasPrefix(id, "_local/"):
		return errBadRequest("Only reserved document ids may start with underscore.")
	}
	return nil
}

// revNum returns N of "N-hex"; ok is false for a malformed rev.
func revNum(rev string) (int, bool) {
	num, hash, found := strings.Cut(rev, "-")
	if !found || hash == "" {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it aborts the program instead)
	return hex.EncodeToString(b[:])
}

// storedRev reads _rev from a stored doc, which always begins with _id, _rev.
func storedRev(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return ""
	}
	for range 2 {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		v, err := dec.Token()
		if err != nil {
			return ""
		}
		if k == "_rev" {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// encodeDoc renders the stored JSON with _id and _rev first.
func encodeDoc(id, rev string, body map[string]any) ([]byte, error) {
	rest, err := marshalJSON(body)
	if err != nil {
		return nil, fmt.Errorf("encode doc %q: %w", id, err)
	}
	idJSON, _ := marshalJSON(id)
	revJSON, _ := marshalJSON(rev)
	out := make([]byte, 0, len(rest)+len(idJSON)+len(revJSON)+16)
	out = append(out, `{"_id":`...)
	out = append(out, idJSON...)
	out = append(out, `,"_rev":`...)
	out = append(out, revJSON...)
	if len(rest) > 2 {
		out = append(out, ',')
		out = append(out, rest[1:]...)
	} else {
		out = append(out, '}')
	}
	return out, nil
}

func getCounter(b *bolt.Bucket, k []byte) int64 {
	if raw := b.Get(k); len(raw) == 8 {
		return int64(binary.BigEndian.Uint64(raw))
	}
	return 0
}

func addCounter(b *bolt.Bucket, k []byte, delta int64) error {
	return b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(getCounter(b, k)+delta)))
}

// write applies one document write inside a write transaction, with
// CouchDB's revision rules, and updates counters and view indexes.
func write(b *dbBuckets, w *docWrite) (string, error) {
	if err := checkDocID(w.id); err != nil {
		return "", err
	}
	if w.rev != "" {
		if _, ok := revNum(w.rev); !ok {
			return "", errBadRequest("Invalid rev format")
		}
	}
	key := []byte(w.id)
	var curRev string
	live := false
	if cur := b.docs.Get(key); cur != nil {
		curRev, live = storedRev(cur), true
	}
	tomb := b.tombs.Get(key)
	switch {
	case live && w.rev != curRev:
		return "", errConflict()
	case live:
	case w.deleted && tomb != nil:
		return "", errNotFound("deleted")
	case w.deleted:
		return "", errNotFound("missing")
	case tomb != nil && w.rev != "" && w.rev != string(tomb):
		return "", errConflict()
	case tomb != nil:
		curRev = string(tomb)
	case w.rev != "":
		return "", errConflict()
	}
	n := 0
	if curRev != "" {
		n, _ = revNum(curRev)
	}
	newRev := strconv.Itoa(n+1) + "-" + randomHex()
	var data []byte
	if !w.deleted {
		var err error
		if data, err = encodeDoc(w.id, newRev, w.body); err != nil {
			return "", errBadRequest("%v", err)
		}
	}

	if err := addCounter(b.meta, keySeq, 1); err != nil {
		return "", err
	}
	if w.deleted {
		if err := b.docs.Delete(key); err != nil {
			return "", err
		}
		if err := b.tombs.Put(key, []byte(newRev)); err != nil {
			return "", err
		}
		if err := addCounter(b.meta, keyDocCount, -1); err != nil {
			return "", err
		}
		if err := addCounter(b.meta, keyDelCount, 1); err != nil {
			return "", err
		}
		return newRev, reindexDoc(b, w.id, nil)
	}
	if err := b.docs.Put(key, data); err != nil {
		return "", err
	}
	if !live {
		if err := addCounter(b.meta, keyDocCount, 1); err != nil {
			return "", err
		}
	}
	if tomb != nil {
		if err := b.tombs.Delete(key); err != nil {
			return "", err
		}
		if err := addCounter(b.meta, keyDelCount, -1); err != nil {
			return "", err
		}
	}
	return newRev, reindexDoc(b, w.id, data)
}

// Put creates or updates docID. The rev to replace comes from the body's _rev
// or the "rev" option; {"_deleted": true} deletes.
func (d *db) Put(ctx context.Context, docID string, doc any, options driver.Options) (string, error) {
	w, err := parseDoc(doc)
	if err != nil {
		return "", fmt.Errorf("put %q: %w", docID, err)
	}
	optRev, err := revOpt(options)
	if err != nil {
		return "", err
	}
	if optRev != "" {
		if w.rev != "" && w.rev != optRev {
			return "", errBadRequest("Document rev from request body and query string have different values")
		}
		w.rev = optRev
	}
	w.id = docID
	var rev string
	err = d.update(ctx, "put "+strconv.Quote(docID), func(_ *bolt.Tx, b *dbBuckets) error {
		rev, err = write(b, w)
		return err
	})
	return rev, err
}

// CreateDoc stores doc under its _id, or under a new random 32-hex id.
func (d *db) CreateDoc(ctx context.Context, doc any, _ driver.Options) (string, string, error) {
	w, err := parseDoc(doc)
	if err != nil {
		return "", "", fmt.Errorf("create doc: %w", err)
	}
	if w.id == "" {
		w.id = randomHex()
	}
	var rev string
	err = d.update(ctx, "create doc", func(_ *bolt.Tx, b *dbBuckets) error {
		rev, err = write(b, w)
		return err
	})
	return w.id, rev, err
}

// Delete deletes docID; the "rev" option must be its current rev.
func (d *db) Delete(ctx context.Context, docID string, options driver.Options) (string, error) {
	rev, err := revOpt(options)
	if err != nil {
		return "", err
	}
	w := &docWrite{id: docID, rev: rev, deleted: true}
	var newRev string
	err = d.update(ctx, "delete "+strconv.Quote(docID), func(_ *bolt.Tx, b *dbBuckets) error {
		newRev, err = write(b, w)
		return err
	})
	return newRev, err
}

// BulkDocs writes every doc independently (each gets its own result and
// error), in one transaction.
func (d *db) BulkDocs(ctx context.Context, docs []any, options driver.Options) ([]driver.BulkResult, error) {
	if ne, ok := optionMap(options)["new_edits"]; ok && (ne == false || ne == "false") {
		return nil, errNotImplemented("new_edits=false")
	}
	writes := make([]*docWrite, len(docs))
	results := make([]driver.BulkResult, len(docs))
	for i, doc := range docs {
		w, err := parseDoc(doc)
		if err != nil {
			results[i].Error = err
			continue
		}
		if w.id == "" {
			w.id = randomHex()
		}
		writes[i] = w
		results[i].ID = w.id
	}
	err := d.update(ctx, "bulk docs", func(_ *bolt.Tx, b *dbBuckets) error {
		for i, w := range writes {
			if w == nil {
				continue
			}
			rev, err := write(b, w)
			var se *statusError
			switch {
			case err == nil:
				results[i].Rev, results[i].Error = rev, nil
			case isStatus(err, &se) && se.status < 500:
				results[i].Rev, results[i].Error = "", err
			default:
				return fmt.Errorf("doc %q: %w", w.id, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// Get returns the current revision of docID. With the "rev" option, any
// other revision is 404 (old revisions are not kept).
func (d *db) Get(ctx context.Context, docID string, options driver.Options) (*driver.Document, error) {
	wantRev, err := revOpt(options)
	if err != nil {
		return nil, err
	}
	var data []byte
	err = d.view(ctx, "get "+strconv.Quote(docID), func(_ *bolt.Tx, b *dbBuckets) error {
		cur := b.docs.Get([]byte(docID))
		switch {
		case cur == nil && b.tombs.Get([]byte(docID)) != nil:
			return errNotFound("deleted")
		case cur == nil:
			return errNotFound("missing")
		}
		data = bytes.Clone(cur)
		return nil
	})
	if err != nil {
		return nil, err
	}
	rev := storedRev(data)
	if wantRev != "" && wantRev != rev {
		return nil, errNotFound("missing")
	}
	return &driver.Document{Rev: rev, Body: io.NopCloser(bytes.NewReader(data))}, nil
}

// GetRev returns the current rev of docID.
func (d *db) GetRev(ctx context.Context, docID string, options driver.Options) (string, error) {
	doc, err := d.Get(ctx, docID, options)
	if err != nil {
		return "", err
	}
	return doc.Rev, nil
}

// Stats reports doc counts, the update sequence and the file size.
func (d *db) Stats(ctx context.Context) (*driver.DBStats, error) {
	var st driver.DBStats
	err := d.view(ctx, "stats", func(tx *bolt.Tx, b *dbBuckets) error {
		st = driver.DBStats{
			Name:         d.name,
			DocCount:     getCounter(b.meta, keyDocCount),
			DeletedCount: getCounter(b.meta, keyDelCount),
			UpdateSeq:    strconv.FormatInt(getCounter(b.meta, keySeq), 10),
			DiskSize:     tx.Size(),
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// Close does nothing: the file belongs to the client.
func (d *db) Close() error { return nil }

func (d *db) Compact(context.Context) error { return errNotImplemented("Compact") }

func (d *db) CompactView(context.Context, string) error { return errNotImplemented("CompactView") }

func (d *db) ViewCleanup(context.Context) error { return errNotImplemented("ViewCleanup") }

func (d *db) Changes(context.Context, driver.Options) (driver.Changes, error) {
	return nil, errNotImplemented("Changes")
}

func (d *db) PutAttachment(context.Context, string, *driver.Attachment, driver.Options) (string, error) {
	return "", errNotImplemented("PutAttachment")
}

func (d *db) GetAttachment(context.Context, string, string, driver.Options) (*driver.Attachment, error) {
	return nil, errNotImplemented("GetAttachment")
}

func (d *db) DeleteAttachment(context.Context, string, string, driver.Options) (string, error) {
	return "", errNotImplemented("DeleteAttachment")
}
