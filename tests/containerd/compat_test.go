package containerd

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// compatTimeout bounds the run of the client suite on containerd.
const compatTimeout = 20 * time.Minute

// summaryLine matches go test's per-package and per-test result lines.
var summaryLine = regexp.MustCompile(`^(ok|FAIL|---|    ---|panic:)`)

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
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), compatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "-timeout", (compatTimeout - time.Minute).String(), "./wsk-compat/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BRISK_BIN="+env.bin, "BRISK_STANDALONE_ARGS="+env.args(), "BRISK_START_TIMEOUT=120s")
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.CombinedOutput()

	var summary bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if summaryLine.Match(sc.Bytes()) {
			summary.Write(sc.Bytes())
			summary.WriteByte('\n')
		}
	}
	if err != nil {
		const maxOut = 2 << 20
		if len(out) > maxOut {
			out = append(out[:maxOut:maxOut], "\n[output cut]\n"...)
		}
		t.Fatalf("wsk-compat on containerd: %v\n%s\n--- summary ---\n%s", err, out, summary.Bytes())
	}
	t.Logf("wsk-compat on containerd:\n%s", summary.Bytes())
}
