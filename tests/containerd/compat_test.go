package containerd

import (
	"os"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// compatTimeout bounds the run of the client suite on containerd.
const compatTimeout = 20 * time.Minute

// TestWskCompatOnContainerd runs the whole wsk-compat client suite
// (openwhisk-client-go, the npm client, wskdeploy, raw HTTP) again with
// every server it starts given `--containers containerd` on a private
// containerd daemon, through $BRISK_STANDALONE_ARGS. The scenarios stay
// written once, in wsk-compat/.
func TestWskCompatOnContainerd(t *testing.T) {
	if testing.Short() {
		t.Skip("the full client suite on containerd is not short")
	}
	env := startEnv(t)
	harness.RunSuite(t, harness.SuiteRun{Timeout: compatTimeout,
		Env: append(os.Environ(), "BRISK_BIN="+env.bin, "BRISK_STANDALONE_ARGS="+env.args(), "BRISK_START_TIMEOUT=120s")}).
		Check(t, "on containerd")
}
