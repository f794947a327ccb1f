package cluster

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// clusterCompatTimeout bounds the run of the client suite against the
// cluster.
const clusterCompatTimeout = 8 * time.Minute

// systemAuth is whisk.system's well-known key (upstream's
// well-known key), which the suite uses to publish packages.
const systemAuth = "789c46b1-71f6-4ed5-8c54-816aa4f8c502:abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

// TestWskCompatOnCluster runs the wsk-compat client suite (openwhisk-client-go,
// the npm client, wskdeploy and its integration suite, raw HTTP) against one distributed deployment:
// a controller and two invokers as processes, on pouchdb-server and Kafka
// (Apache Kafka, or the kfake broker with BRISK_CLUSTER_KFAKE=1), with the suite's
// harness pointed at the controller through $BRISK_EXTERNAL_APIHOST. Tests
// that need a server of their own skip there (harness.RequireOwnServer).
func TestWskCompatOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the client suite against a cluster is not short")
	}
	bin := harness.Binary(t)
	// whisk.system too: standalone provisions it, and the suite publishes in /whisk.system.
	c := startCluster(t, startKafka(t), map[string]string{"whisk.system": systemAuth})

	res := harness.RunSuite(t, harness.SuiteRun{Timeout: clusterCompatTimeout, Verbose: true,
		Env:  append(cleanEnv(), "BRISK_BIN="+bin, harness.EnvExternalAPIHost+"="+c.apiHost),
		Keep: func(line []byte) bool { return bytes.Contains(line, []byte("needs a server of its own")) }})
	for _, p := range c.invokers {
		p.running()
	}
	c.ctl.running()
	res.Check(t, "against the cluster at "+c.apiHost)
	if os.Getenv("BRISK_SERVER_LOG") != "" {
		t.Logf("full output:\n%s", res.Output)
	}
}
