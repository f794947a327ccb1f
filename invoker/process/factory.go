package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/brisk-serverless/brisk/invoker"
)

// Defaults for the zero values of Config.
const (
	DefaultLogBuffer    = 4096
	DefaultLogDropAfter = 5 * time.Second
	DefaultLogDrain     = 2 * time.Second
)

// inheritedEnv lists the only variables a proxy inherits from the invoker.
var inheritedEnv = []string{"PATH", "HOME", "LANG"}

// ErrClosed is returned by Create after Close.
var ErrClosed = errors.New("process factory closed")

// Config configures a Factory.
type Config struct {
	// ProxyCommand starts an action proxy, e.g. {"/usr/bin/brisk", "proxy"}.
	// The factory appends "--listen 127.0.0.1:<port> --kind <kind>".
	ProxyCommand []string
	// WorkDir is the scratch root: it holds one directory per container and
	// the pid records Cleanup uses. Default: <os.TempDir()>/brisk-process.
	WorkDir string
	// LogBuffer is the capacity, in lines, of each container's Logs channel
	// (default DefaultLogBuffer).
	LogBuffer int
	// LogDropAfter is how long a log line may wait for room in a full Logs
	// channel before it is dropped (default DefaultLogDropAfter). While
	// dropping, lines are discarded at once until there is room again, then
	// one marker line with Dropped set says how many were lost.
	LogDropAfter time.Duration
	// LogDrain bounds how long, after the proxy has exited, the factory keeps
	// reading output held open by escaped descendants (default
	// DefaultLogDrain).
	LogDrain time.Duration
	// Logger receives the factory's diagnostics; nil discards them.
	Logger *slog.Logger
}

// Factory starts action proxies as local processes. It is safe for
// concurrent use.
type Factory struct {
	cfg           Config
	log           *slog.Logger
	pidsDir       string
	containersDir string

	mu     sync.Mutex
	closed bool
	ports  map[int]bool
	live   map[int]*Container // by proxy pid
}

var _ invoker.ContainerFactory = (*Factory)(nil)

// New validates cfg and prepares the work directory.
func New(cfg Config) (*Factory, error) {
	if len(cfg.ProxyCommand) == 0 || cfg.ProxyCommand[0] == "" {
		return nil, errors.New("process factory: ProxyCommand is empty")
	}
	cfg.ProxyCommand = slices.Clone(cfg.ProxyCommand)
	if cfg.WorkDir == "" {
		cfg.WorkDir = filepath.Join(os.TempDir(), "brisk-process")
	}
	abs, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("process factory: work dir %q: %w", cfg.WorkDir, err)
	}
	cfg.WorkDir = abs
	if cfg.LogBuffer <= 0 {
		cfg.LogBuffer = DefaultLogBuffer
	}
	if cfg.LogDropAfter <= 0 {
		cfg.LogDropAfter = DefaultLogDropAfter
	}
	if cfg.LogDrain <= 0 {
		cfg.LogDrain = DefaultLogDrain
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Factory{
		cfg:           cfg,
		log:           log,
		pidsDir:       filepath.Join(cfg.WorkDir, "pids"),
		containersDir: filepath.Join(cfg.WorkDir, "containers"),
		ports:         make(map[int]bool),
		live:          make(map[int]*Container),
	}
	for _, d := range []string{f.pidsDir, f.containersDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("process factory: create %s: %w", d, err)
		}
	}
	return f, nil
}

// Close marks the factory closed; running containers are left alone (the
// pool destroys them, or the next Cleanup does).
func (f *Factory) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// Create starts one proxy process for spec. It returns as soon as the
// process exists; the proxy may still be binding its port.
func (f *Factory) Create(ctx context.Context, spec invoker.ContainerSpec) (invoker.Container, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create container %q: %w: %w", spec.Name, invoker.ErrContainerStart, err)
	}
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("create container %q: %w: %w", spec.Name, invoker.ErrContainerStart, ErrClosed)
	}
	c, err := f.start(spec)
	if err != nil {
		return nil, fmt.Errorf("create container %q: %w: %w", spec.Name, invoker.ErrContainerStart, err)
	}
	return c, nil
}

func (f *Factory) start(spec invoker.ContainerSpec) (*Container, error) {
	dir, err := os.MkdirTemp(f.containersDir, invoker.SafeName(spec.Name, 64, "container")+"-")
	if err != nil {
		return nil, fmt.Errorf("create container directory: %w", err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create container temp directory: %w", err)
	}
	port, err := f.allocPort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c, err := f.spawn(spec, dir, tmp, port)
	if err != nil {
		f.releasePort(port)
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// spawn starts the proxy process and the goroutines that watch it.
func (f *Factory) spawn(spec invoker.ContainerSpec, dir, tmp string, port int) (*Container, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	argv := append(slices.Clone(f.cfg.ProxyCommand), "--listen", addr, "--kind", spec.Kind)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = proxyEnv(tmp, spec.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("create stderr pipe: %w", err)
	}
	cmd.Stdout = outW
	cmd.Stderr = errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start proxy %q: %w", argv[0], err)
	}
	pid := cmd.Process.Pid
	c := &Container{
		id:        spec.Name,
		addr:      addr,
		port:      port,
		dir:       dir,
		pid:       pid,
		pidFile:   filepath.Join(f.pidsDir, strconv.Itoa(pid)+".json"),
		factory:   f,
		cmd:       cmd,
		logs:      make(chan invoker.LogLine, f.cfg.LogBuffer),
		exited:    make(chan struct{}),
		dropAfter: f.cfg.LogDropAfter,
	}
	if c.id == "" {
		c.id = "proxy-" + strconv.Itoa(pid)
	}
	if err := writeRecord(c.pidFile, pidRecord{Pid: pid, Args: cmd.Args, Dir: dir}); err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		outR.Close()
		errR.Close()
		return nil, err
	}
	f.mu.Lock()
	f.live[pid] = c
	f.mu.Unlock()
	c.watch(outR, errR, f.cfg.LogDrain)
	f.log.Debug("proxy started", "container", c.id, "pid", pid, "addr", addr, "kind", spec.Kind)
	return c, nil
}

// proxyEnv is the minimal inherited environment plus the spec's variables,
// with TMPDIR pointing at the container's own temp directory.
func proxyEnv(tmp string, extra map[string]string) []string {
	env := make(map[string]string, len(inheritedEnv)+len(extra)+1)
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	env["TMPDIR"] = tmp
	maps.Copy(env, extra)
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// allocPort picks a free loopback port not handed to another live container
// of this factory. The port is free when picked; the proxy binds it shortly
// after, so a foreign process could in theory grab it in between.
func (f *Factory) allocPort() (int, error) {
	for range 32 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		f.mu.Lock()
		taken := f.ports[port]
		if !taken {
			f.ports[port] = true
		}
		f.mu.Unlock()
		if !taken {
			return port, nil
		}
	}
	return 0, errors.New("find a free port: every candidate was in use")
}

func (f *Factory) releasePort(port int) {
	f.mu.Lock()
	delete(f.ports, port)
	f.mu.Unlock()
}

// forget drops a destroyed container from the factory's books.
func (f *Factory) forget(c *Container) {
	f.mu.Lock()
	delete(f.ports, c.port)
	if f.live[c.pid] == c {
		delete(f.live, c.pid)
	}
	f.mu.Unlock()
}

// pidRecord is what the factory writes for every running proxy.
type pidRecord struct {
	Pid  int      `json:"pid"`
	Args []string `json:"args"`
	Dir  string   `json:"dir"`
}

func writeRecord(path string, rec pidRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode pid record: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write pid record: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write pid record: %w", err)
	}
	return nil
}
