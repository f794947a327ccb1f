package couchdb

import (
	"os"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// compatTimeout bounds the second run of the client suite.
const compatTimeout = 15 * time.Minute

// TestWskCompatOnCouchDB runs the whole wsk-compat client suite
// (openwhisk-client-go, the npm client, wskdeploy, raw HTTP) a second time,
// with every server it starts given `--couchdb <pouchdb-server> --db-prefix
// t<unique>_` through $BRISK_STANDALONE_ARGS. Running it from here keeps
// `go test ./...` (and so `make test` and CI) the one command; the scenarios
// stay written once, in wsk-compat/.
func TestWskCompatOnCouchDB(t *testing.T) {
	if testing.Short() {
		t.Skip("the full client suite against CouchDB is not short")
	}
	bin := harness.Binary(t)
	cu := couchURL(t)
	harness.RunSuite(t, harness.SuiteRun{Timeout: compatTimeout,
		Env: append(os.Environ(), "BRISK_BIN="+bin, "BRISK_STANDALONE_ARGS=--couchdb "+cu+" --db-prefix t{id}_")}).
		Check(t, "against CouchDB ("+cu+")")
}
