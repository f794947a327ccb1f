// Package cluster holds Brisk's multi-process test of the distributed roles:
// a Kafka broker, a CouchDB API (pouchdb-server), one `brisk controller` and
// two `brisk invoker` processes of bin/brisk, driven with
// openwhisk-client-go.
//
// The broker is the one at $BRISK_KAFKA_BROKERS, else an Apache Kafka that
// scripts/kafka.sh starts (`make test-deps` installs it), or, only with
// BRISK_CLUSTER_KFAKE=1, the embedded kfake broker in a process of its own
// (tests/cluster/kfake). The database is the one at $BRISK_COUCHDB_URL, else
// a pouchdb-server the test starts. The tests fail, saying how to install
// what is missing, when Apache Kafka, bin/brisk or pouchdb-server is not
// there (`make test-deps` builds and installs them).
package cluster
