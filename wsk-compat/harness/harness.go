// Package harness starts a real `brisk standalone` process for the
// wsk-compat suite and hands tests the coordinates and clients they need.
//
// Each Server owns one process, one free loopback port and one data
// directory from t.TempDir(). The process is stopped with SIGTERM when the
// test ends (killed after a bound), and its combined output is written to the
// test log when the test failed. Restart stops and starts it again on the
// same port and data directory, which is how the suite checks persistence.
//
// The binary is $BRISK_BIN, or bin/brisk under the repository root; when
// neither exists the test is skipped with a message saying how to build it.
//
// With $BRISK_EXTERNAL_APIHOST set, Start starts nothing and returns a
// Server for that API host and the guest key (tests/cluster runs the suite
// against a controller so); tests that need a server of their own call
// RequireOwnServer and skip there.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
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

	"github.com/apache/openwhisk-client-go/whisk"
)

// Guest credentials and namespace that `brisk standalone` provisions.
const (
	GuestUUID      = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"
	GuestKey       = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	GuestAuth      = GuestUUID + ":" + GuestKey
	GuestNamespace = "guest"
)

// Bounds, overridable through the environment for slow machines.
var (
	// StartTimeout bounds the wait for GET /ping to answer "pong"
	// (BRISK_START_TIMEOUT, a Go duration).
	StartTimeout = envDuration("BRISK_START_TIMEOUT", 60*time.Second)
	// StopTimeout bounds the wait for exit after SIGTERM before SIGKILL
	// (BRISK_STOP_TIMEOUT, a Go duration).
	StopTimeout = envDuration("BRISK_STOP_TIMEOUT", 20*time.Second)
)

// maxLogBytes caps the captured server output kept per Server.
const maxLogBytes = 4 << 20

// modulePath identifies the repository root's go.mod.
const modulePath = "github.com/brisk-serverless/brisk"

// Server is one running `brisk standalone` process.
type Server struct {
	// Addr is host:port the server listens on (always 127.0.0.1).
	Addr string
	// APIHost is the base URL clients are given: http://127.0.0.1:PORT.
	APIHost string
	// Auth is the guest "uuid:key" credential.
	Auth string
	// Namespace is the guest namespace name.
	Namespace string
	// DataDir is the --data-dir of the process; it survives Restart.
	DataDir string
	// Client is an openwhisk-client-go client for the guest, namespace "_".
	Client *whisk.Client

	t      testing.TB
	bin    string
	out    *logBuffer
	mu     sync.Mutex
	proc   *process // nil while stopped
	starts int
	extra  []string // from $BRISK_STANDALONE_ARGS, fixed for the Server's life
}

// process is one run of the binary. err is written before exited is closed.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// Start launches a server for t and registers its shutdown with t.Cleanup.
// It skips t when no binary is available and fails t when the server does
// not come up.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t)
}

// StartWith is Start with extra `brisk standalone` flags (after those of
// $BRISK_STANDALONE_ARGS). Against an external server the flags cannot
// apply: callers that need them call RequireOwnServer first.
func StartWith(t testing.TB, args ...string) *Server {
	t.Helper()
	if host := os.Getenv(EnvExternalAPIHost); host != "" {
		return external(t, host)
	}
	bin := Binary(t)
	port, err := freePort()
	if err != nil {
		t.Fatalf("harness: pick a free port: %v", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &Server{
		Addr:      addr,
		APIHost:   "http://" + addr,
		Auth:      GuestAuth,
		Namespace: GuestNamespace,
		DataDir:   t.TempDir(),
		t:         t,
		bin:       bin,
		out:       &logBuffer{},
		extra:     append(standaloneArgs(), args...),
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("harness: %v", err)
		}
		if t.Failed() || os.Getenv("BRISK_SERVER_LOG") != "" {
			t.Logf("harness: output of %s standalone (%d start(s)):\n%s", s.bin, s.starts, s.out.String())
		}
	})
	if err := s.start(); err != nil {
		t.Fatalf("harness: %v", err)
	}
	s.Client = s.NewClient(s.Auth)
	return s
}

// Binary returns the brisk binary to test: $BRISK_BIN if set, else
// <repo>/bin/brisk. It fails t, saying how to build it, when that file does
// not exist.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BRISK_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("harness: BRISK_BIN=%q: %v", p, err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("harness: BRISK_BIN=%q: %v", p, err)
		}
		return abs
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return binaryIn(t, root)
}

// binaryIn returns root/bin/brisk, failing t when it does not exist.
func binaryIn(t testing.TB, root string) string {
	t.Helper()
	p := filepath.Join(root, "bin", "brisk")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("harness: %s not found; build it with `make build` (or `go build -o bin/brisk ./cmd/brisk`) or set BRISK_BIN: %v", p, err)
	}
	return p
}

// RepoRoot walks up from the working directory to the directory whose
// go.mod declares the Brisk module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && declaresModule(data, modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod declaring module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func declaresModule(gomod []byte, path string) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == path {
			return true
		}
	}
	return false
}

// NewClient returns an openwhisk-client-go client for this server that
// authenticates with auth ("uuid:key"), using namespace "_".
func (s *Server) NewClient(auth string) *whisk.Client {
	s.t.Helper()
	base, err := url.Parse(s.APIHost + "/api")
	if err != nil {
		s.t.Fatalf("harness: %v", err)
	}
	c, err := whisk.NewClient(&http.Client{Timeout: 90 * time.Second}, &whisk.Config{
		Host:      s.APIHost,
		BaseURL:   base,
		AuthToken: auth,
		Namespace: "_",
		Version:   "v1",
		Insecure:  true,
	})
	if err != nil {
		s.t.Fatalf("harness: whisk.NewClient: %v", err)
	}
	return c
}

// Restart stops the server with SIGTERM and starts it again on the same
// port and data directory. It fails the test if either step fails.
func (s *Server) Restart() {
	s.t.Helper()
	if s.bin == "" {
		s.t.Skipf("harness: %s is set: an external server is not restarted by the test", EnvExternalAPIHost)
	}
	if err := s.stop(); err != nil {
		s.t.Fatalf("harness: restart: %v", err)
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("harness: restart: %v", err)
	}
}

// Output returns everything the server printed so far (capped).
func (s *Server) Output() string { return s.out.String() }

func (s *Server) start() error {
	s.mu.Lock()
	if s.proc != nil {
		s.mu.Unlock()
		return errors.New("server already running")
	}
	s.starts++
	fmt.Fprintf(s.out, "=== harness: start #%d: %s standalone --listen %s --data-dir %s %s\n", s.starts, s.bin, s.Addr, s.DataDir, strings.Join(s.extra, " "))
	cmd := exec.Command(s.bin, append([]string{"standalone", "--listen", s.Addr, "--data-dir", s.DataDir}, s.extra...)...)
	cmd.Stdout = s.out
	cmd.Stderr = s.out
	// Own process group, so that a kill after the stop bound also reaches
	// anything the server spawned (action runtimes).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	s.proc = p
	s.mu.Unlock()

	deadline := time.Now().Add(StartTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-p.exited:
			s.mu.Lock()
			s.proc = nil
			s.mu.Unlock()
			return fmt.Errorf("server exited before answering /ping: %v", exitText(p.err))
		default:
		}
		if pingOK(client, s.APIHost+"/ping") {
			return nil
		}
		if time.Now().After(deadline) {
			_ = s.stop()
			return fmt.Errorf("server did not answer GET /ping with pong within %v (BRISK_START_TIMEOUT)", StartTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pingOK(c *http.Client, u string) bool {
	resp, err := c.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode == http.StatusOK && strings.TrimSpace(b.String()) == "pong"
}

// stop sends SIGTERM and waits up to StopTimeout, then kills the process
// group. It reports an error when the server needed the kill or did not exit
// with status 0 (the contract is a clean shutdown on SIGTERM).
func (s *Server) stop() error {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	pgid := p.cmd.Process.Pid
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(StopTimeout)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
		fmt.Fprintf(s.out, "=== harness: killed after %v without exiting on SIGTERM\n", StopTimeout)
		return fmt.Errorf("server did not exit within %v of SIGTERM (BRISK_STOP_TIMEOUT); killed", StopTimeout)
	}
	// Whatever the server left behind in its process group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	fmt.Fprintf(s.out, "=== harness: exited after SIGTERM: %s\n", exitText(p.err))
	if p.err != nil {
		return fmt.Errorf("server did not shut down cleanly on SIGTERM: %v", p.err)
	}
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return def
}

// WaitFor polls f every interval until it returns true or ctx ends; it
// returns ctx's error in the latter case.
func WaitFor(ctx context.Context, interval time.Duration, f func() bool) error {
	for {
		if f() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// logBuffer is a goroutine-safe, size-capped sink for the server output.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	dropped int
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	b.buf.Write(p)
	if over := b.buf.Len() - maxLogBytes; over > 0 {
		b.buf.Next(over)
		b.dropped += over
	}
	return n, nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped > 0 {
		return fmt.Sprintf("[... %d earlier bytes dropped ...]\n%s", b.dropped, b.buf.String())
	}
	return b.buf.String()
}

// standaloneArgs returns the extra flags in $BRISK_STANDALONE_ARGS (split on
// spaces), with every "{id}" replaced by a token unique to this Server, e.g.
// "--couchdb http://127.0.0.1:5984 --db-prefix t{id}_" gives each server its
// own databases on a shared CouchDB (tests/couchdb runs the suite so).
func standaloneArgs() []string {
	args := strings.Fields(os.Getenv("BRISK_STANDALONE_ARGS"))
	id := strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.FormatUint(uint64(serverSeq.Add(1)), 36)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "{id}", id)
	}
	return args
}

var serverSeq atomic.Uint32

// EnvExternalAPIHost names the variable that points the suite at a server it
// did not start (e.g. http://127.0.0.1:3233, a controller of a cluster that
// tests/cluster runs): Start then starts and stops nothing.
const EnvExternalAPIHost = "BRISK_EXTERNAL_APIHOST"

// external is the Server for an API host the harness does not own, with the
// guest credentials. It has no DataDir and no output; Restart skips.
func external(t testing.TB, host string) *Server {
	t.Helper()
	host = strings.TrimRight(host, "/")
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		t.Fatalf("harness: %s=%q is not a base URL like http://127.0.0.1:3233", EnvExternalAPIHost, host)
	}
	s := &Server{Addr: u.Host, APIHost: host, Auth: GuestAuth, Namespace: GuestNamespace, t: t, out: &logBuffer{}}
	if !pingOK(&http.Client{Timeout: 10 * time.Second}, host+"/ping") {
		t.Fatalf("harness: external server %s does not answer GET /ping with pong", host)
	}
	s.Client = s.NewClient(s.Auth)
	return s
}

// External reports whether the suite runs against an external server
// ($BRISK_EXTERNAL_APIHOST).
func External() bool { return os.Getenv(EnvExternalAPIHost) != "" }

// RequireOwnServer skips t when the suite runs against an external server:
// for tests that need a server of their own (settings from the environment,
// a restart, `brisk admin` on its data directory).
func RequireOwnServer(t testing.TB, why string) {
	t.Helper()
	if External() {
		t.Skipf("harness: needs a server of its own (%s); %s points at a shared external server", why, EnvExternalAPIHost)
	}
}
