package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-kivik/kivik/v4"

	"github.com/brisk-serverless/brisk/store"
)

// Bounds of a pouchdb-server process.
const (
	pouchStartTimeout = 60 * time.Second
	pouchStopTimeout  = 10 * time.Second
	maxPouchLogBytes  = 1 << 20
)

// CouchURLEnv names the environment variable that points the CouchDB tests
// at an existing server (for example an Apache CouchDB 3.x,
// http://admin:secret@127.0.0.1:5984) instead of a pouchdb-server they start.
const CouchURLEnv = "BRISK_COUCHDB_URL"

// PouchDB is one pouchdb-server process started by a test, on a free
// loopback port. Stop and Start restart it on the same port (and, when it
// was started with a directory, the same data).
type PouchDB struct {
	// URL is http://127.0.0.1:PORT.
	URL string

	t       testing.TB
	root    string
	port    int
	dir     string // "" for in-memory
	workdir string
	out     *capped
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
}

// PouchOptions configures StartPouchDB.
type PouchOptions struct {
	// Dir keeps the databases on disk (leveldb) so that they survive a
	// restart; empty means in memory.
	Dir string
}

// StartPouchDB starts pouchdb-server through scripts/pouchdb.sh and stops it
// when the test ends. It fails t when pouchdb-server is not installed
// (scripts/pouchdb.sh install, run by `make test-deps`).
func StartPouchDB(t testing.TB, opts PouchOptions) *PouchDB {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("pouchdb: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "tests/couchdb/node_modules/.bin/pouchdb-server")); err != nil {
		t.Fatalf("pouchdb-server is not installed (%v): run scripts/pouchdb.sh install (make test-deps does)", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("pouchdb: free port: %v", err)
	}
	p := &PouchDB{t: t, root: root, port: port, dir: opts.Dir, workdir: t.TempDir(), out: &capped{},
		URL: "http://127.0.0.1:" + strconv.Itoa(port)}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("pouchdb-server output:\n%s", p.out.String())
		}
	})
	p.Start()
	return p
}

// Start starts the server (again) and waits until it answers.
func (p *PouchDB) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.t.Fatal("pouchdb: already running")
	}
	args := []string{filepath.Join(p.root, "scripts/pouchdb.sh"), "run", "--port", strconv.Itoa(p.port), "--workdir", p.workdir}
	if p.dir != "" {
		args = append(args, "--dir", p.dir)
	}
	cmd := exec.Command("bash", args...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("pouchdb: start: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(pouchStartTimeout)
	for {
		resp, err := client.Get(p.URL + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			p.cmd = nil
			p.t.Fatalf("pouchdb: exited before answering:\n%s", p.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("pouchdb: no answer on %s within %s:\n%s", p.URL, pouchStartTimeout, p.out.String())
		}
	}
}

// Stop stops the server (SIGTERM to its process group, SIGKILL after a
// bound) and waits until it is gone. Stopping a stopped server does nothing.
func (p *PouchDB) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGCONT) // in case it was paused
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(pouchStopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	p.cmd = nil
}

// Pause stops the server's processes (SIGSTOP) without closing their
// sockets: connections are accepted by the kernel and never answered, as
// with a hung database. Resume continues them; the test's end resumes a
// paused server before stopping it.
func (p *PouchDB) Pause() {
	p.t.Helper()
	p.signal(syscall.SIGSTOP)
}

// Resume continues a paused server.
func (p *PouchDB) Resume() {
	p.t.Helper()
	p.signal(syscall.SIGCONT)
}

func (p *PouchDB) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		p.t.Fatal("pouchdb: not running")
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		p.t.Fatalf("pouchdb: %v: %v", sig, err)
	}
}

// CouchURL returns the URL of a CouchDB server for t: $BRISK_COUCHDB_URL
// when set, else a pouchdb-server started for t (in memory).
func CouchURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(CouchURLEnv); u != "" {
		return u
	}
	return StartPouchDB(t, PouchOptions{}).URL
}

// UniquePrefix returns a database name prefix no other test uses, so that
// tests can share one server.
func UniquePrefix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b) + "_"
}

// OpenCouch opens a store in new databases (a unique prefix) on the CouchDB
// server at url. The store is closed and its databases are deleted when the
// test ends.
func OpenCouch(t testing.TB, url string) (*store.Store, string) {
	t.Helper()
	prefix := UniquePrefix()
	cfg, err := store.CouchConfig(url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open CouchDB store at %s: %v", url, err)
	}
	t.Cleanup(func() {
		_ = st.Close()
		DestroyDBs(t, url, prefix)
	})
	return st, prefix
}

// Client returns a kivik client for the server at url, set up as the store
// sets up its own; the caller closes it.
func Client(t testing.TB, url string) *kivik.Client {
	t.Helper()
	cfg, err := store.CouchConfig(url, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := kivik.New(cfg.Driver, cfg.DSN, cfg.Options...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// DestroyDBs deletes the three databases with prefix (errors are logged: the
// server may be gone already).
func DestroyDBs(t testing.TB, url, prefix string) {
	c := Client(t, url)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, db := range []string{"whisks", "activations", "subjects"} {
		if err := c.DestroyDB(ctx, prefix+db); err != nil && kivik.HTTPStatus(err) != http.StatusNotFound {
			t.Logf("destroy %s%s: %v", prefix, db, err)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// repoRoot walks up from the working directory to the directory that holds
// scripts/pouchdb.sh.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts/pouchdb.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/pouchdb.sh not found above the working directory")
		}
		dir = parent
	}
}

// capped keeps the first bytes of a process's output.
type capped struct {
	mu sync.Mutex
	b  strings.Builder
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxPouchLogBytes - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}
