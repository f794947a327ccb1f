package invoker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/process"
)

// proxyBin is the action proxy test program TestMain builds.
var proxyBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "brisk-invoker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	goBin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "go tool not found:", err)
		return 1
	}
	proxyBin = filepath.Join(dir, "proxymain")
	build := exec.Command(goBin, "build", "-o", proxyBin, "./process/testdata/proxymain")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build proxy test program:", err)
		return 1
	}
	return m.Run()
}

// quietLogger drops everything below error.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

func requireBin(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not on PATH (make test-deps installs the runtimes: apt-get install nodejs python3): %v", name, err)
	}
}

// newFactory is the real process backend over the test proxy binary.
func newFactory(t *testing.T) *process.Factory {
	t.Helper()
	f, err := process.New(process.Config{ProxyCommand: []string{proxyBin}, WorkDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatalf("process.New: %v", err)
	}
	t.Cleanup(func() {
		// Whatever a failing test left behind.
		_ = f.Cleanup(context.Background())
		_ = f.Close()
	})
	return f
}

// proc is the process behind a pooled container.
func proc(t *testing.T, c invoker.Container) *process.Container {
	t.Helper()
	pc, ok := c.(*process.Container)
	if !ok {
		t.Fatalf("container %T is not a process container", c)
	}
	return pc
}

func exited(c invoker.Container) bool {
	select {
	case <-c.(*process.Container).Exited():
		return true
	default:
		return false
	}
}

func waitExited(t *testing.T, c invoker.Container, within time.Duration) {
	t.Helper()
	select {
	case <-proc(t, c).Exited():
	case <-time.After(within):
		t.Fatalf("container %s still running after %v", c.ID(), within)
	}
}

// eventually polls cond until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
