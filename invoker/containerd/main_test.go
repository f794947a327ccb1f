package containerd_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/containerd"
	"github.com/brisk-serverless/brisk/invoker/containerd/ctrdtest"
)

// One private containerd serves the whole package (images are imported
// once); each test gets its own owner label, state directory and bridge.
var (
	daemon    *ctrdtest.Daemon
	imagesDir string
	stateRoot string // the factories' state directories, removed at the end
	skipWhy   string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var err error
	if stateRoot, err = os.MkdirTemp("", "brisk-ctrd-state-"); err != nil {
		fmt.Fprintln(os.Stderr, "containerd tests:", err)
		return 1
	}
	defer os.RemoveAll(stateRoot)
	skipWhy = ctrdtest.Usable()
	if skipWhy == "" {
		bin, err := ctrdtest.BriskBinary()
		if err != nil {
			skipWhy = err.Error()
		} else if imagesDir, err = ctrdtest.BuildImages(bin); err != nil {
			fmt.Fprintln(os.Stderr, "containerd tests:", err)
			return 1
		}
	}
	if skipWhy == "" {
		var err error
		if daemon, err = ctrdtest.StartDaemon(); err != nil {
			fmt.Fprintln(os.Stderr, "containerd tests:", err)
			return 1
		}
		defer func() {
			if err := daemon.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "containerd tests:", err)
			}
		}()
	}
	return m.Run()
}

func requireDaemon(t testing.TB) {
	t.Helper()
	if daemon == nil {
		if os.Getenv("BRISK_REQUIRE_CONTAINERD") != "" {
			t.Fatalf("containerd tests cannot run: %s", skipWhy)
		}
		t.Skipf("containerd tests cannot run: %s", skipWhy)
	}
}

var (
	cfgMu   sync.Mutex
	configs = map[string]containerd.Config{}
)

// config returns the factory configuration of test t: the same on every
// call within t (so a second factory sees the first one's leftovers).
func config(t testing.TB) containerd.Config {
	t.Helper()
	cfgMu.Lock()
	defer cfgMu.Unlock()
	if c, ok := configs[t.Name()]; ok {
		return c
	}
	owner := fmt.Sprintf("t%d", len(configs)+1)
	m := api.DefaultManifest()
	kinds := map[string]string{}
	for _, k := range append(m.Kinds(), "blackbox") {
		rt, _ := m.Resolve(k)
		kinds[k] = rt.ImageRef()
	}
	c := containerd.Config{
		Address: daemon.Address, Owner: owner, ImagesDir: imagesDir, Images: kinds,
		StateDir: filepath.Join(stateRoot, owner), Network: ctrdtest.Network(),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	configs[t.Name()] = c
	return c
}

func newFactory(t testing.TB, mutate ...func(*containerd.Config)) *containerd.Factory {
	t.Helper()
	requireDaemon(t)
	cfg := config(t)
	for _, m := range mutate {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, err := containerd.New(ctx, cfg)
	if err != nil {
		t.Fatalf("containerd.New: %v", err)
	}
	return f
}

func create(t *testing.T, f invoker.ContainerFactory, kind string, memoryMB int) *containerd.Container {
	t.Helper()
	return createSpec(t, f, invoker.ContainerSpec{Name: t.Name(), Kind: kind, MemoryMB: memoryMB})
}
