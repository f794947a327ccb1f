package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/brisk-serverless/brisk/internal/config"
	"github.com/brisk-serverless/brisk/internal/metrics"
)

// stepTimeout bounds each step of a role's shutdown.
const stepTimeout = 15 * time.Second

// role is the run and shutdown sequence every role (standalone, controller,
// invoker) shares. Parts are registered as they start: loops (consumers,
// servers) run in goroutines the role owns, and every part gets a stop step.
// wait returns at a signal or at the first loop that ends on its own; stop
// then runs the stop steps in the reverse order of registration, each
// bounded by stepTimeout, so that what started last stops first (the HTTP
// server before the consumers its requests wait on, the consumers before
// the store they write).
type role struct {
	log    *slog.Logger
	failed chan error // the first loop that ended on its own

	mu    sync.Mutex
	steps []stopStep
}

type stopStep struct {
	name string
	stop func(ctx context.Context)
}

func newRole(log *slog.Logger) *role {
	return &role{log: log, failed: make(chan error, 1)}
}

// onStop registers a stop step.
func (r *role) onStop(name string, stop func(ctx context.Context)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, stopStep{name: name, stop: stop})
}

// closer registers a part whose stop step is close, logging its error.
func (r *role) closer(name string, closeFn func() error) {
	r.onStop(name, func(context.Context) {
		if err := closeFn(); err != nil {
			r.log.Warn("stop "+name, "err", err)
		}
	})
}

// loop runs run in a goroutine the role owns until the role stops; a loop
// that ends before that ends the role with its error. Its stop step cancels
// run's context, waits for run to return, then calls close (if any), so
// that a consumer's last offset commits are not cut off.
func (r *role) loop(name string, run func(ctx context.Context) error, closeFn func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("ended unexpectedly")
		}
		select {
		case r.failed <- fmt.Errorf("%s: %w", name, err):
		default:
		}
	}()
	r.onStop(name, func(sctx context.Context) {
		cancel()
		select {
		case <-done:
		case <-sctx.Done():
			r.log.Warn(name + " did not stop in time")
		}
		if closeFn != nil {
			if err := closeFn(); err != nil {
				r.log.Warn("close "+name, "err", err)
			}
		}
	})
}

// serve serves hs on ln as a loop; its stop step shuts it down gracefully
// (in-flight requests finish).
func (r *role) serve(name string, hs *http.Server, ln net.Listener) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			select {
			case r.failed <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
	r.onStop(name, func(sctx context.Context) {
		if err := hs.Shutdown(sctx); err != nil {
			r.log.Warn(name+" did not stop in time", "err", err)
			_ = hs.Close()
		}
		<-done
	})
}

// serveMetrics serves m's /metrics alone on addr (empty: nothing) and
// returns the URL it answers at.
func (r *role) serveMetrics(addr string, m *metrics.Metrics) (string, error) {
	if addr == "" {
		return "", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	r.serve("metrics", &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}, ln)
	return "http://" + ln.Addr().String() + "/metrics", nil
}

// wait blocks until ctx ends (a signal: nil) or a loop ends on its own (its
// error).
func (r *role) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		r.log.Info("shutting down")
		return nil
	case err := <-r.failed:
		r.log.Error("stopping", "err", err)
		return err
	}
}

// stop runs the stop steps, the last registered first. It is safe to call
// more than once (the steps run once) and is deferred right after newRole,
// so that a failed start stops what did start.
func (r *role) stop() {
	r.mu.Lock()
	steps := r.steps
	r.steps = nil
	r.mu.Unlock()
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		s.stop(ctx)
		cancel()
	}
}

// loadConfig fills cfg (holding the defaults) from the file, BRISK_*
// variables and args, and validates it. help is true when --help was asked
// (the usage is printed; the command should exit 0).
func loadConfig(command, sample string, cfg interface{ Validate() error }, args []string) (help bool, err error) {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: brisk %s [--config FILE] [flags]\n\n"+
			"Settings come from the file, then BRISK_* variables, then flags (annotated sample: %s).\n\n", command, sample)
		config.PrintDefaults(fs)
	}
	if _, err := config.Load(cfg, fs, args, os.Environ()); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, fmt.Errorf("%s config: %w", command, err)
	}
	if err := cfg.Validate(); err != nil {
		return false, fmt.Errorf("%s config: %w", command, err)
	}
	return false, nil
}

// newLogger is a role's text logger on stderr at level, tagged with the
// role's name when it has one, and made the default logger.
func newLogger(level, name string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	if name != "" {
		log = log.With("role", name)
	}
	slog.SetDefault(log)
	return log, nil
}

// envOr is the value of the environment variable key, or def when it is
// unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
