// Package embedded is a kivik v4 driver, registered as "brisk-embedded", that
// stores CouchDB-style databases in a single bbolt file. It is what standalone
// Brisk uses instead of CouchDB; the store layer above talks to it only through
// kivik, exactly as it talks to CouchDB in production.
//
//	client, err := kivik.New("brisk-embedded", "/var/lib/brisk/brisk.db")
//
// The DSN is the file path. The file is opened (and flock'ed) once per client:
// a second client on the same file, in this process or another, waits at most
// the lock timeout (DefaultLockTimeout, or OptionLockTimeout) and then fails
// with HTTP status 503 instead of hanging. Close the client to release it.
// Every commit is fsync'ed unless OptionNoSync is given. A client is safe for
// concurrent use; bbolt runs one writer at a time and readers in parallel.
//
// Errors carry the HTTP status CouchDB would answer (kivik.HTTPStatus): 400
// bad request, 404 not_found, 409 conflict, 412 file_exists, 501 unsupported.
//
// # What is supported
//
// Client: Version, AllDBs, DBExists, CreateDB (412 when it exists), DestroyDB,
// DB and Close. DB: Put, CreateDoc, Get, Delete, BulkDocs, AllDocs, Query,
// Stats and Close, with CouchDB's revision rules (a write to an existing doc
// needs its current rev, otherwise 409; revs are "N-<32 hex>"). Deleted docs
// leave a tombstone (id and rev) so a re-created doc continues the revision
// numbering, as in CouchDB; their bodies are gone. Old revisions are not kept:
// Get with a rev other than the current one is 404. Every other driver method
// (attachments, changes, compaction, ...) returns an error with HTTP status
// 501 (Not Implemented).
//
// # Views
//
// CouchDB design docs hold JavaScript map functions; this driver runs none.
// Design docs can be stored and read as ordinary documents, but a view query
// (DB.Query(ctx, ddoc, view)) runs the Go View registered with RegisterView
// under that design doc and view name, whatever the stored design doc says.
// The package registers Go translations of the upstream OpenWhisk views
// (see builtin_views.go). Each (db, view) pair has a persistent index, keyed by
// an order-preserving binary encoding of (key, doc id). It is built on the
// first query of that view in that db (1000 docs per transaction, so writers
// get in between; writes during the build keep the part already built
// current), and from then on it is updated in the same bbolt transaction as
// every document write, so queries never scan the documents. A View's Version
// change rebuilds the index on its next query.
//
// # Query options
//
// Options are given as with kivik's couchdb driver (kivik.Param, kivik.Params,
// kivik.Rev, kivik.IncludeDocs); key options take Go values (a json.RawMessage
// is parsed as JSON). Query supports key, keys, startkey/start_key,
// endkey/end_key, startkey_docid/start_key_doc_id,
// endkey_docid/end_key_doc_id, inclusive_end, descending, skip, limit,
// include_docs, reduce, group and group_level; AllDocs supports the same
// minus the docid bounds and reduce options. Other options (stale, update,
// update_seq, conflicts, ...) are ignored. Get and Delete take rev; Put takes
// _rev in the body or rev. BulkDocs rejects new_edits=false (501).
//
// As in CouchDB: reduce defaults to true for a view with a reduce; a reduce
// over an empty range gives no rows (not a row with 0); skip and limit apply to
// the reduced rows; include_docs with reduce, or keys without group on a
// reduce, are 400. include_docs returns the doc named by the value's _id when
// the value is an object with one (null if that doc does not exist), else the
// emitting doc. total_rows is the view's (or db's) row count; offset is
// always 0.
//
// # Collation
//
// Rows are ordered as CouchDB orders view keys: null < false < true < numbers <
// strings < arrays < objects, arrays element by element (a shorter prefix
// first), then by doc id. Two differences from CouchDB, both deliberate:
//
//   - Strings compare by Unicode code point (equivalently UTF-8 bytes), not by
//     CouchDB's ICU/UCA collation. So "B" < "a" here, while CouchDB puts "a" <
//     "B"; case, accents and punctuation are not folded. The OpenWhisk
//     high-key sentinel "\ufff0" still sorts above every name OpenWhisk allows,
//     but supplementary-plane characters (e.g. emoji) sort above it here.
//   - Objects compare by their members sorted by key (code point order),
//     member by member, key then value; CouchDB compares members in the order
//     they appear in the JSON text, which a Go map does not keep.
//
// _all_docs is ordered by doc id in code point order.
package embedded
