package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Sentinel is written to stdout and stderr after every activation and after
// every failed initialization, so the invoker knows the activation's logs are
// complete.
const Sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

// Limits applied when the Config leaves them zero.
const (
	DefaultMaxBodyBytes    = 48 << 20
	DefaultMaxArchiveBytes = 256 << 20
)

// Messages of the runtime protocol, as upstream's runtimes word them.
const (
	msgMissingCode    = "Missing main/no code to execute."
	msgInitTwice      = "Cannot initialize the action more than once."
	msgNotInitialized = "System not initialized."
	msgInitFailed     = "Initialization has failed due to: "
	msgInitExited     = "The action did not initialize and exited unexpectedly."
	msgNotDictionary  = "The action did not return a dictionary."
	msgShuttingDown   = "The action proxy is shutting down."
)

// Config configures a Server.
type Config struct {
	// Kind is the action kind, e.g. "nodejs:20" or "python:3.11".
	Kind string
	// TempDir is where the proxy creates its scratch directory; empty means
	// os.TempDir().
	TempDir string
	// Stdout and Stderr receive the user code's output and the sentinels;
	// nil means os.Stdout and os.Stderr. They are handed to the launcher
	// process as its own descriptors, so ordering is preserved.
	Stdout, Stderr *os.File
	// Prestart starts the launcher before /init (see prestart.go).
	Prestart bool
	// MaxBodyBytes caps request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxArchiveBytes caps the extracted size of a zip action (default
	// DefaultMaxArchiveBytes).
	MaxArchiveBytes int64
	// Logger receives the proxy's own diagnostics; nil discards them (stdout
	// and stderr belong to the action).
	Logger *slog.Logger
}

type state int

const (
	stateNew state = iota
	stateInitializing
	stateReady
	stateFailed  // /init failed; no run will ever succeed
	stateStopped // the launcher is gone or refused further runs
	stateClosed
)

// Server is the action proxy's HTTP handler. It serves POST /init once and
// POST /run any number of times, one run at a time.
type Server struct {
	cfg     Config
	family  Family
	rt      runtimeSpec
	workDir string
	log     *slog.Logger

	outMu sync.Mutex // serializes sentinel writes
	runMu sync.Mutex // one activation at a time

	mu         sync.Mutex
	state      state
	stopReason string
	child      *child
	pre        *child    // a prestarted launcher waiting for /init
	bb         *blackbox // FamilyBlackbox only
}

// NewServer validates cfg and creates the proxy's scratch directory.
func NewServer(cfg Config) (*Server, error) {
	family, err := ParseKind(cfg.Kind)
	if err != nil {
		return nil, err
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxArchiveBytes <= 0 {
		cfg.MaxArchiveBytes = DefaultMaxArchiveBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "brisk-proxy-")
	if err != nil {
		return nil, fmt.Errorf("create proxy scratch directory: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		family:  family,
		rt:      specFor(family),
		workDir: dir,
		log:     log.With("kind", cfg.Kind),
	}
	if cfg.Prestart && family != FamilyBlackbox {
		if err := s.prestart(); err != nil {
			s.log.Warn("prestart launcher", "err", err)
		}
	}
	return s, nil
}

// Family reports the runtime family the server runs.
func (s *Server) Family() Family { return s.family }

// Close kills the launcher process, if any, and removes the scratch
// directory. Requests arriving afterwards get 503.
func (s *Server) Close() error {
	s.mu.Lock()
	c, pre := s.child, s.pre
	s.child, s.pre = nil, nil
	s.state = stateClosed
	s.mu.Unlock()
	if c != nil {
		c.kill()
	}
	if pre != nil {
		pre.kill()
	}
	if err := os.RemoveAll(s.workDir); err != nil {
		return fmt.Errorf("remove proxy scratch directory: %w", err)
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || (r.URL.Path != "/init" && r.URL.Path != "/run") {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Not found: %s %s.", r.Method, r.URL.Path))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("The request body exceeds the limit of %d bytes.", tooBig.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "Cannot read the request body.")
		return
	}
	if r.URL.Path == "/init" {
		status, payload, sentinel := s.initAction(r.Context(), body)
		if sentinel {
			s.writeSentinels()
		}
		writeJSON(w, status, payload)
		return
	}
	status, payload := s.runAction(r.Context(), body)
	// Reply first, then end the logs: the invoker waits for the sentinels
	// before it reuses the container, so the order of the two does not matter
	// to it, and the reply does not wait behind two pipe writes.
	writeJSON(w, status, payload)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.writeSentinels()
}

// initRequest is the "value" of an /init body.
type initRequest struct {
	name, main, code string
	binary           bool
	env              map[string]string
}

// parseInit reads an /init body leniently: a field of the wrong JSON type
// counts as missing.
func parseInit(body []byte) initRequest {
	var outer struct {
		Value map[string]json.RawMessage `json:"value"`
	}
	var req initRequest
	if json.Unmarshal(body, &outer) != nil {
		return req
	}
	v := outer.Value
	_ = json.Unmarshal(v["name"], &req.name)
	_ = json.Unmarshal(v["main"], &req.main)
	_ = json.Unmarshal(v["code"], &req.code)
	_ = json.Unmarshal(v["binary"], &req.binary)
	var env map[string]json.RawMessage
	if json.Unmarshal(v["env"], &env) == nil && len(env) > 0 {
		req.env = make(map[string]string, len(env))
		for k, raw := range env {
			req.env[k] = envString(raw)
		}
	}
	return req
}

// envString renders a JSON value as an environment variable value: strings
// as themselves, null as empty, anything else as its JSON text.
func envString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	t := bytes.TrimSpace(raw)
	if bytes.Equal(t, []byte("null")) {
		return ""
	}
	var buf bytes.Buffer
	if json.Compact(&buf, t) == nil {
		return buf.String()
	}
	return string(t)
}

// initAction handles /init. It reports whether sentinels must follow.
func (s *Server) initAction(ctx context.Context, body []byte) (int, any, bool) {
	s.mu.Lock()
	switch s.state {
	case stateNew:
		s.state = stateInitializing
	case stateClosed:
		s.mu.Unlock()
		return http.StatusServiceUnavailable, errorBody(msgShuttingDown), false
	default:
		s.mu.Unlock()
		return http.StatusForbidden, errorBody(msgInitTwice), false
	}
	s.mu.Unlock()

	req := parseInit(body)
	if req.main == "" || req.code == "" {
		s.setState(stateNew, "")
		return http.StatusForbidden, errorBody(msgMissingCode), true
	}
	var c *child
	var err error
	if s.family == FamilyBlackbox {
		err = s.initBlackbox(req)
	} else if c, err = s.startLauncher(req); err == nil {
		err = s.awaitInit(ctx, c)
	}
	if err != nil {
		if c != nil {
			c.kill()
		}
		s.setState(stateFailed, err.Error())
		s.log.Debug("init failed", "action", req.name, "err", err)
		var uf userFacing
		if errors.As(err, &uf) {
			return http.StatusBadGateway, errorBody(string(uf)), true
		}
		if errors.Is(err, errChildExited) {
			// Upstream's runtime dies with the action here; its invoker reports this text.
			fmt.Fprintf(s.cfg.Stderr, "The action process exited during initialization: %v\n", err)
			return http.StatusBadGateway, errorBody(msgInitExited), true
		}
		return http.StatusBadGateway, errorBody(msgInitFailed + err.Error()), true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		if c != nil {
			c.kill()
		}
		return http.StatusServiceUnavailable, errorBody(msgShuttingDown), false
	}
	s.child = c
	s.state = stateReady
	return http.StatusOK, map[string]bool{"ok": true}, false
}

// userFacing is an init error whose text is the whole reply message.
type userFacing string

func (u userFacing) Error() string { return string(u) }

// startLauncher lays out the action code and starts the launcher.
func (s *Server) startLauncher(req initRequest) (*child, error) {
	actionDir := filepath.Join(s.workDir, "action")
	if err := os.MkdirAll(actionDir, 0o755); err != nil {
		return nil, fmt.Errorf("create action directory: %w", err)
	}
	if req.binary {
		data, err := decodeBase64(req.code)
		if err != nil {
			return nil, err
		}
		if err := extractZip(data, actionDir, s.cfg.MaxArchiveBytes); err != nil {
			return nil, err
		}
		if msg, ok := s.rt.zipEntry(actionDir); !ok {
			return nil, userFacing(msg)
		}
	} else {
		src := filepath.Join(actionDir, s.rt.sourceName)
		if err := os.WriteFile(src, []byte(req.code), 0o644); err != nil {
			return nil, fmt.Errorf("write action source: %w", err)
		}
	}
	if c := s.takePrestarted(req); c != nil {
		return c, nil
	}
	launcher := filepath.Join(s.workDir, s.rt.launcherName)
	if err := os.WriteFile(launcher, s.rt.launcher, 0o644); err != nil {
		return nil, fmt.Errorf("write launcher: %w", err)
	}
	cmd, err := s.rt.command(launcher, req.main, actionDir, req.binary)
	if err != nil {
		return nil, err
	}
	cmd.Dir = actionDir
	cmd.Env = os.Environ()
	for k, v := range req.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return startChild(cmd, s.cfg.Stdout, s.cfg.Stderr)
}

// launcherReply is the framing the launchers use on fd 3.
type launcherReply struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
	Status int             `json:"status"`
	Fatal  bool            `json:"fatal"`
}

// awaitInit waits for the launcher's verdict on loading the user code.
func (s *Server) awaitInit(ctx context.Context, c *child) error {
	stop := context.AfterFunc(ctx, c.kill)
	defer stop()
	line, err := c.receive()
	if ctx.Err() != nil {
		return fmt.Errorf("the request was cancelled: %w", ctx.Err())
	}
	if err != nil {
		return err
	}
	var rep launcherReply
	if err := json.Unmarshal(line, &rep); err != nil {
		return fmt.Errorf("the launcher sent an invalid reply: %w", err)
	}
	if rep.OK {
		return nil
	}
	return errors.New(errorText(rep.Error))
}

// errorText renders a launcher's error field as a message.
func errorText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if len(raw) == 0 {
		return "unknown error"
	}
	return string(raw)
}

// runLine is what a launcher receives for one activation.
type runLine struct {
	Value json.RawMessage   `json:"value"`
	Env   map[string]string `json:"env"`
}

// runAction handles /run.
func (s *Server) runAction(ctx context.Context, body []byte) (int, any) {
	s.runMu.Lock()
	defer s.runMu.Unlock()

	s.mu.Lock()
	st, reason, c := s.state, s.stopReason, s.child
	s.mu.Unlock()
	switch st {
	case stateReady:
	case stateStopped:
		return http.StatusBadGateway, errorBody("Internal system error: the action can no longer run: " + reason)
	case stateClosed:
		return http.StatusServiceUnavailable, errorBody(msgShuttingDown)
	default:
		return http.StatusForbidden, errorBody(msgNotInitialized)
	}

	var msg map[string]json.RawMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return http.StatusBadRequest, errorBody("Internal system error: the request body is not a JSON object.")
	}
	line := runLine{Value: msg["value"], Env: make(map[string]string, len(msg))}
	switch t := jsonType(line.Value); t {
	case "null":
		line.Value = json.RawMessage("{}")
	case "object", "array":
	default:
		return http.StatusForbidden, errorBody(fmt.Sprintf(
			"Internal system error: the argument must be a dictionary but has type '%s'.", t))
	}
	for k, raw := range msg {
		if k != "value" {
			line.Env["__OW_"+strings.ToUpper(k)] = envString(raw)
		}
	}
	data, err := json.Marshal(line)
	if err != nil {
		return http.StatusBadRequest, errorBody("Internal system error: cannot encode the arguments.")
	}

	if s.family == FamilyBlackbox {
		return s.runBlackbox(ctx, line)
	}
	stop := context.AfterFunc(ctx, c.kill)
	defer stop()
	err = c.send(data)
	var out []byte
	if err == nil {
		out, err = c.receive()
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("the request was cancelled: %w", ctx.Err())
		}
		s.stop(c, err.Error())
		return http.StatusBadGateway, errorBody(fmt.Sprintf("An error has occurred: %v.", err))
	}
	var rep launcherReply
	if err := json.Unmarshal(out, &rep); err != nil {
		s.stop(c, "invalid reply from the launcher")
		return http.StatusBadGateway, errorBody("Internal system error: the launcher sent an invalid reply.")
	}
	if rep.Error != nil && rep.Result == nil {
		if rep.Fatal {
			s.stop(c, "a previous activation failed with an uncaught exception")
		}
		status := rep.Status
		if status < 400 {
			status = http.StatusBadGateway
		}
		return status, errorBody(errorText(rep.Error))
	}
	if t := jsonType(rep.Result); t != "object" && t != "array" {
		return http.StatusBadGateway, errorBody(msgNotDictionary)
	}
	return http.StatusOK, rep.Result
}

// stop marks the container as unable to run again and ends the launcher.
func (s *Server) stop(c *child, reason string) {
	s.mu.Lock()
	if s.state == stateReady {
		s.state = stateStopped
		s.stopReason = reason
	}
	s.mu.Unlock()
	go c.kill()
}

func (s *Server) setState(st state, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateClosed {
		s.state = st
		s.stopReason = reason
	}
}

// writeSentinels ends the activation's logs on both streams. The launcher
// has flushed its output before replying, so everything the user code
// printed for this activation precedes the sentinel.
func (s *Server) writeSentinels() {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	line := []byte(Sentinel + "\n")
	if _, err := s.cfg.Stdout.Write(line); err != nil {
		s.log.Debug("write stdout sentinel", "err", err)
	}
	if _, err := s.cfg.Stderr.Write(line); err != nil {
		s.log.Debug("write stderr sentinel", "err", err)
	}
}

// jsonType names the type of a JSON value the way JavaScript's typeof would
// (arrays are "array"; a missing value is "null").
func jsonType(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "null"
	}
	switch t[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

func errorBody(msg string) map[string]string { return map[string]string{"error": msg} }

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody(msg))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var data []byte
	switch b := v.(type) {
	case json.RawMessage:
		data = b
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			status = http.StatusInternalServerError
			data = []byte(`{"error":"Internal system error: cannot encode the response."}`)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
