package proxy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// DefaultListen is where `brisk proxy` listens unless told otherwise.
const DefaultListen = "0.0.0.0:8080"

// shutdownGrace bounds how long Main waits for in-flight requests.
const shutdownGrace = 5 * time.Second

// Main runs `brisk proxy [--listen ADDR] [--kind KIND]` with args being the
// arguments after "proxy". Without --kind the kind comes from the __OW_KIND
// environment variable. It serves until SIGTERM or SIGINT.
func Main(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	listen := fs.String("listen", DefaultListen, "host:port to serve /init and /run on")
	kind := fs.String("kind", "", "action kind, e.g. nodejs:20 or python:3.11 (default $__OW_KIND)")
	prestart := fs.Bool("prestart", os.Getenv("BRISK_PRESTART") == "1", "start the runtime before /init (default $BRISK_PRESTART=1)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("proxy: unexpected arguments %q", fs.Args())
	}
	if *kind == "" {
		*kind = os.Getenv("__OW_KIND")
	}
	srv, err := NewServer(Config{Kind: *kind, Prestart: *prestart})
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("proxy: listen on %s: %w", *listen, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return Serve(ctx, ln, srv)
}

// Serve serves srv on ln until ctx is done, then kills the action process
// and shuts the HTTP server down.
func Serve(ctx context.Context, ln net.Listener, srv *Server) error {
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		srv.Close()
		return fmt.Errorf("proxy: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	// Kill the action first so in-flight runs end now instead of at their
	// deadline, then let the HTTP server finish its replies.
	closeErr := srv.Close()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("proxy: shut down: %w", err)
	}
	return closeErr
}
