package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/brisk-serverless/brisk/store"
)

// Bounds of the socket.
const (
	// RequestTimeout bounds one operation served on the socket.
	RequestTimeout = 30 * time.Second
	// CallTimeout bounds one call of a Client, the answer included.
	CallTimeout = RequestTimeout + 5*time.Second
	// maxBody bounds a request or answer body.
	maxBody = 1 << 20
	// shutdownGrace is how long Close lets running operations finish
	// before it cancels them.
	shutdownGrace = CallTimeout
)

// Server serves an [Operations] as JSON over HTTP on a unix socket. Its
// owner stops it with Close.
type Server struct {
	path string
	hs   *http.Server
	log  *slog.Logger
	// cancel cancels the context of every request (when Close's grace ran
	// out).
	cancel context.CancelFunc
	// served is closed when the serving goroutine returned.
	served chan struct{}

	mu       sync.Mutex
	closing  bool
	inflight sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Listen serves ops on a unix socket at path, with mode 0600: only the
// owner of the process may connect. A file left at path is replaced (the
// caller holds the store, so no other server can be using it).
func Listen(path string, ops Operations, log *slog.Logger) (*Server, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{path: path, log: log, cancel: cancel, served: make(chan struct{})}
	s.hs = &http.Server{
		Handler:           s.routes(ops),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      CallTimeout,
		IdleTimeout:       time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go func() {
		defer close(s.served)
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("admin socket stopped", "path", path, "err", err)
		}
	}()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving: it stops accepting, lets running operations finish
// (cancelling them after a grace period), waits for them and for the
// serving goroutine, and removes the socket.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := s.hs.Shutdown(ctx); err != nil {
			s.cancel()
			_ = s.hs.Close()
		}
		<-s.served
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.inflight.Wait()
		s.cancel()
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.closeErr = fmt.Errorf("admin socket: %w", err)
		}
	})
	return s.closeErr
}

// begin registers a running request; false once Close waits for them.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.inflight.Add(1)
	return true
}

func (s *Server) routes(ops Operations) http.Handler {
	mux := http.NewServeMux()
	handle(s, mux, opCreateUser, ops.CreateUser)
	handle(s, mux, opGetUser, func(ctx context.Context, a subjectArgs) (User, error) {
		return ops.GetUser(ctx, a.Subject)
	})
	handle(s, mux, opDeleteUser, func(ctx context.Context, a subjectArgs) (none, error) {
		return none{}, ops.DeleteUser(ctx, a.Subject)
	})
	handle(s, mux, opDeleteNamespace, func(ctx context.Context, a subjectNamespaceArgs) (none, error) {
		return none{}, ops.DeleteNamespace(ctx, a.Subject, a.Namespace)
	})
	handle(s, mux, opListUsers, ops.ListUsers)
	handle(s, mux, opWhois, func(ctx context.Context, a authArgs) (Identity, error) {
		return ops.Whois(ctx, a.Auth)
	})
	handle(s, mux, opBlock, func(ctx context.Context, a subjectArgs) (none, error) {
		return none{}, ops.Block(ctx, a.Subject)
	})
	handle(s, mux, opUnblock, func(ctx context.Context, a subjectArgs) (none, error) {
		return none{}, ops.Unblock(ctx, a.Subject)
	})
	handle(s, mux, opSetLimits, func(ctx context.Context, req SetLimitsRequest) (none, error) {
		return none{}, ops.SetLimits(ctx, req)
	})
	handle(s, mux, opGetLimits, func(ctx context.Context, a namespaceArgs) (store.Limits, error) {
		return ops.GetLimits(ctx, a.Namespace)
	})
	handle(s, mux, opDeleteLimits, func(ctx context.Context, a namespaceArgs) (none, error) {
		return none{}, ops.DeleteLimits(ctx, a.Namespace)
	})
	return mux
}

// handle serves operation op: it decodes a Req, runs fn with the request's
// context bounded by RequestTimeout, and answers its result or error.
func handle[Req, Res any](s *Server, mux *http.ServeMux, op string, fn func(context.Context, Req) (Res, error)) {
	mux.HandleFunc("POST /v1/"+op, func(w http.ResponseWriter, r *http.Request) {
		if !s.begin() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		defer s.inflight.Done()
		var req Req
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, wireError{Kind: kindInternal, Message: fmt.Sprintf("%s: bad request body: %v", op, err)})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
		defer cancel()
		res, err := fn(ctx, req)
		if err != nil {
			status, body := encodeError(err)
			s.log.Info("admin operation", "op", op, "status", status, "err", err)
			writeJSON(w, status, body)
			return
		}
		s.log.Info("admin operation", "op", op, "status", http.StatusOK)
		writeJSON(w, http.StatusOK, res)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
