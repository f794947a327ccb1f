// Package couchdb holds Brisk's end-to-end tests against a CouchDB API
// (pouchdb-server, installed by scripts/pouchdb.sh from the pinned
// package-lock.json in this directory, or the server in $BRISK_COUCHDB_URL):
// documents written by upstream OpenWhisk read and invoked through Brisk's
// API, database outages, and the wsk-compat client suite run against
// `brisk standalone --couchdb`.
package couchdb
