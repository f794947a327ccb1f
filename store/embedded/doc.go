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
// an order-preserving binary encoding of (key, doc id), that is built in full on
// the first query and then maintained in the same bbolt transaction as every
// document write, so queries never scan the documents.
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
