// Package ctrdtest gives tests what the containerd backend needs: a private
// containerd daemon (its own root, state and socket in a fresh directory,
// stopped and removed when the test ends), the runtime images built from the
// brisk binary under test, and a network (bridge name and subnet) no other
// test uses at the same time.
//
// Tests that need containerd skip when the machine cannot run it (not root,
// containerd, runc or the CNI plugins missing: scripts/containerd.sh install
// provides them), unless BRISK_REQUIRE_CONTAINERD is set, in which case they
// fail instead.
package ctrdtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/actions/images"
	"github.com/brisk-serverless/brisk/invoker/containerd"
)

// Daemon is one private containerd.
type Daemon struct {
	// Address is the daemon's socket.
	Address string
	// Dir holds the daemon's root, state, socket, config and log.
	Dir string

	cmd    *exec.Cmd
	exited chan struct{}
	log    *bytes.Buffer
}

// Usable reports why containerd tests cannot run here ("" when they can).
func Usable() string {
	if os.Geteuid() != 0 {
		return "containerd tests need root"
	}
	for _, b := range []string{"containerd", "runc", "containerd-shim-runc-v2", "iptables"} {
		if _, err := exec.LookPath(b); err != nil {
			return b + " is not installed (scripts/containerd.sh install)"
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		return "the CNI plugins are not installed (scripts/containerd.sh install)"
	}
	return ""
}

// Require skips (or, with BRISK_REQUIRE_CONTAINERD set, fails) t when
// containerd cannot run here.
func Require(t testing.TB) {
	t.Helper()
	if why := Usable(); why != "" {
		if os.Getenv("BRISK_REQUIRE_CONTAINERD") != "" {
			t.Fatalf("ctrdtest: %s (BRISK_REQUIRE_CONTAINERD is set)", why)
		}
		t.Skipf("ctrdtest: %s", why)
	}
}

// Start starts a private containerd for t and stops it when t ends. Stop
// first kills whatever shims the daemon left and unmounts what is left
// below Dir.
func Start(t testing.TB) *Daemon {
	t.Helper()
	Require(t)
	d, err := StartDaemon()
	if err != nil {
		t.Fatalf("ctrdtest: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("ctrdtest: %v", err)
		}
	})
	return d
}

// StartDaemon starts a private containerd in a new directory below
// os.TempDir() (for benchmarks and TestMain; tests use Start).
func StartDaemon() (*Daemon, error) {
	dir, err := os.MkdirTemp("", "brisk-ctrd-")
	if err != nil {
		return nil, err
	}
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  address = %[5]q
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %[6]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), filepath.Join(dir, "containerd.sock"),
		filepath.Join(dir, "containerd.sock.ttrpc"), filepath.Join(dir, "debug.sock"), filepath.Join(dir, "opt"))
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	d := &Daemon{Address: filepath.Join(dir, "containerd.sock"), Dir: dir, exited: make(chan struct{}), log: &bytes.Buffer{}}
	d.cmd = exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	d.cmd.Stdout = &lockedWriter{w: d.log}
	d.cmd.Stderr = d.cmd.Stdout
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(d.Address); err == nil {
			return d, nil
		}
		select {
		case <-d.exited:
			out := d.Log()
			os.RemoveAll(dir)
			return nil, fmt.Errorf("containerd exited at start: %s", out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = d.Stop()
			return nil, fmt.Errorf("containerd did not create %s within 30s", d.Address)
		}
	}
}

// Log is what the daemon printed so far.
func (d *Daemon) Log() string {
	lw := d.cmd.Stdout.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return d.log.String()
}

// Stop stops the daemon, kills the shims it started, unmounts what they
// left and removes Dir.
func (d *Daemon) Stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	killShims(d.Address)
	unmountBelow(d.Dir)
	for _, sub := range []string{"memory", "pids", "cpu", "cpuacct", "freezer", "blkio", "devices", "cpuset", "systemd"} {
		_ = os.Remove(filepath.Join("/sys/fs/cgroup", sub, containerd.DefaultNamespace))
	}
	if err := os.RemoveAll(d.Dir); err != nil {
		return fmt.Errorf("remove %s: %w", d.Dir, err)
	}
	return nil
}

// killShims kills the shim processes serving a daemon's socket (they outlive
// the daemon by design).
func killShims(address string) {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for _, a := range args {
			if a == address {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
}

// unmountBelow detaches every mount below dir, deepest first.
func unmountBelow(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	f.Close()
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 1<<20 {
		l.w.Reset()
	}
	return l.w.Write(p)
}

var (
	netSeq   atomic.Int32
	netMu    sync.Mutex
	netLocks = map[int]*os.File{} // subnets this process holds, by third octet
)

// Network returns a bridge name and a subnet no other caller uses: the
// subnet 10.210.N.0/24 is claimed with an flock on a file in os.TempDir()
// that this process holds until it exits, so concurrent test processes
// never share one (two bridges on one subnet would break both).
func Network() containerd.NetworkConfig {
	n := int(netSeq.Add(1))
	netMu.Lock()
	defer netMu.Unlock()
	start := rand.IntN(250)
	for i := range 250 {
		third := (start + i) % 250
		if _, mine := netLocks[third]; mine {
			continue
		}
		f, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("brisk-ctrdtest-net-%d.lock", third)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue
		}
		netLocks[third] = f
		return containerd.NetworkConfig{
			Bridge:        fmt.Sprintf("brt%d-%d", os.Getpid()%100000, n),
			Subnet:        fmt.Sprintf("10.210.%d.0/24", third),
			RemoveOnClose: true,
		}
	}
	panic("ctrdtest: every test subnet 10.210.0-249.0/24 is taken")
}

// BriskBinary returns the brisk binary under test: $BRISK_BIN, else
// bin/brisk at the repository root.
func BriskBinary() (string, error) {
	if p := os.Getenv("BRISK_BIN"); p != "" {
		return filepath.Abs(p)
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", "brisk")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found; build it with `make build` or set BRISK_BIN", p)
	}
	return p, nil
}

// Images returns a directory with the runtime images built from the brisk
// binary under test (see BuildImages). It skips t when there is no binary.
func Images(t testing.TB) string {
	t.Helper()
	bin, err := BriskBinary()
	if err != nil {
		t.Skipf("ctrdtest: %v", err)
	}
	dir, err := BuildImages(bin)
	if err != nil {
		t.Fatalf("ctrdtest: %v", err)
	}
	return dir
}

// BuildImages returns <repo>/bin/images after (re)building the images there
// unless they are newer than bin, under a file lock shared by every test
// process.
func BuildImages(bin string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "bin", "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", dir, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if fresh(dir, bin) {
		return dir, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := images.Build(ctx, images.Options{Brisk: bin, OutDir: dir}); err != nil {
		return "", fmt.Errorf("build images: %w", err)
	}
	return dir, nil
}

// fresh reports whether dir has every image and is newer than bin.
func fresh(dir, bin string) bool {
	idx, err := images.ReadIndex(dir)
	if err != nil || len(idx.Images) < 3 {
		return false
	}
	ist, err1 := os.Stat(filepath.Join(dir, images.IndexFile))
	bst, err2 := os.Stat(bin)
	if err1 != nil || err2 != nil || ist.ModTime().Before(bst.ModTime()) {
		return false
	}
	for _, e := range idx.Images {
		if _, err := os.Stat(filepath.Join(dir, e.File)); err != nil {
			return false
		}
	}
	return true
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/brisk-serverless/brisk\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of github.com/brisk-serverless/brisk above the working directory")
		}
		dir = parent
	}
}

// OutsideServer runs a small HTTP server in a new network namespace
// joined to the host by a veth pair: to the containers it is "the outside",
// reached only through the host's forwarding. It returns host:port.
func OutsideServer(t testing.TB) string {
	t.Helper()
	n := os.Getpid()%200 + 20
	ns := fmt.Sprintf("brisk-out-%d", os.Getpid())
	hostIf, peer := fmt.Sprintf("bo%d", os.Getpid()%100000), "eth0"
	hostAddr, nsAddr := fmt.Sprintf("10.211.%d.1", n), fmt.Sprintf("10.211.%d.2", n)
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	sh("ip", "netns", "add", ns)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", hostIf).Run()
		_ = exec.Command("ip", "netns", "del", ns).Run()
	})
	sh("ip", "link", "add", hostIf, "type", "veth", "peer", "name", peer, "netns", ns)
	sh("ip", "addr", "add", hostAddr+"/24", "dev", hostIf)
	sh("ip", "link", "set", hostIf, "up")
	sh("ip", "-n", ns, "addr", "add", nsAddr+"/24", "dev", peer)
	sh("ip", "-n", ns, "link", "set", peer, "up")
	sh("ip", "-n", ns, "link", "set", "lo", "up")
	dir := t.TempDir()
	script := filepath.Join(dir, "server.py")
	if err := os.WriteFile(script, []byte(`import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8099))
s.listen(16)
while True:
    c, _ = s.accept()
    c.recv(1000)
    c.sendall(b"HTTP/1.0 200 outside\r\n\r\n")
    c.close()
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "python3", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := nsAddr + ":8099"
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("outside server %s did not come up: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
