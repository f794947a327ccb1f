package containerd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/invoker/containerd"
	"github.com/brisk-serverless/brisk/invoker/containerd/ctrdtest"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// env is a private containerd, the images and a bridge for one test.
type env struct {
	daemon *ctrdtest.Daemon
	images string
	net    containerd.NetworkConfig
	bin    string
}

func startEnv(t *testing.T) *env {
	t.Helper()
	ctrdtest.Require(t)
	e := &env{bin: harness.Binary(t)}
	e.images = ctrdtest.Images(t)
	e.daemon = ctrdtest.Start(t)
	e.net = ctrdtest.Network()
	t.Cleanup(func() {
		// Runs before the daemon stops (cleanups run last-in first-out).
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := containerd.RemoveNetwork(ctx, e.net); err != nil {
			t.Errorf("remove network: %v", err)
		}
	})
	return e
}

// args are the standalone flags that select this environment.
func (e *env) args(extra ...string) string {
	return strings.Join(append([]string{
		"--containers", "containerd", "--containerd-address", e.daemon.Address, "--images-dir", e.images,
		"--cni-bridge", e.net.Bridge, "--cni-subnet", e.net.Subnet,
	}, extra...), " ")
}

// start runs a standalone server on this environment.
func (e *env) start(t *testing.T, extra ...string) *harness.Server {
	t.Helper()
	t.Setenv("BRISK_STANDALONE_ARGS", e.args(extra...))
	t.Setenv("BRISK_START_TIMEOUT", "120s")
	return harness.Start(t)
}
