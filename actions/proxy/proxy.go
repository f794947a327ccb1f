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
	"sync/atomic"

	"github.com/brisk-serverless/brisk/actions/proxy/logproto"
)

// Limits applied when the Config leaves them zero.
const (
	DefaultMaxBodyBytes      = 48 << 20
	DefaultMaxArchiveBytes   = 256 << 20
	DefaultMaxConcurrentRuns = 1000
)

// Messages of the runtime protocol, as upstream's runtimes word them.
const (
	msgMissingCode    = "Missing main/no code to execute."
	msgInitTwice      = "Cannot initialize the action more than once."
	msgNotInitialized = "System not initialized."
	msgInitFailed     = "Initialization has failed due to: "
	msgInitExited     = "The action did not initialize and exited unexpectedly."
	msgRunExited      = "The action did not produce a valid response and exited unexpectedly."
	msgNotDictionary  = "The action did not return a dictionary."
	msgShuttingDown   = "The action proxy is shutting down."
	msgTooManyRuns    = "Too many concurrent activations in this container (limit %d)."
	msgCannotRun      = "Internal system error: the action can no longer run: "
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
	// MaxConcurrentRuns caps the /run requests in progress at once (default
	// DefaultMaxConcurrentRuns); beyond it /run answers 429.
	MaxConcurrentRuns int
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
// POST /run any number of times: python one run at a time, nodejs and
// blackbox runs concurrently.
type Server struct {
	cfg     Config
	family  Family
	rt      runtimeSpec
	workDir string
	log     *slog.Logger

	outMu    sync.Mutex   // serializes the proxy's own writes to stdout and stderr
	runMu    sync.Mutex   // python: one activation at a time
	inflight atomic.Int64 // /run requests in progress

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
	if cfg.MaxConcurrentRuns <= 0 {
		cfg.MaxConcurrentRuns = DefaultMaxConcurrentRuns
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
			s.writeSentinels("")
		}
		writeJSON(w, status, payload)
		return
	}
	out := s.runAction(r.Context(), body)
	// Reply first, then end the logs (unless the launcher has): the invoker
	// waits for the sentinels before it reuses the container, so the order
	// of the two does not matter to it, and the reply does not wait behind
	// two pipe writes.
	writeJSON(w, out.status, out.payload)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if !out.logsEnded {
		s.writeSentinels(out.tag)
	}
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
	if c != nil {
		c.startMux()
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

// runLine is what a launcher receives for one activation.
type runLine struct {
	ID    uint64            `json:"id"`
	Value json.RawMessage   `json:"value"`
	Env   map[string]string `json:"env"`
}

// runOutcome is the reply to one /run and how its logs end.
type runOutcome struct {
	status  int
	payload any
	// tag is the activation id the run's log lines and sentinels are tagged
	// with; empty for none.
	tag string
	// logsEnded means the sentinels are written already (the launcher
	// writes them for the activations it answers).
	logsEnded bool
}

// runTag returns the log tag of a /run body: its activation_id, as the
// action sees it in __OW_ACTIVATION_ID, when that is a usable tag.
func runTag(msg map[string]json.RawMessage) string {
	raw, ok := msg["activation_id"]
	if !ok {
		return ""
	}
	if id := envString(raw); logproto.ValidTag(id) {
		return id
	}
	return ""
}

// runAction handles /run.
func (s *Server) runAction(ctx context.Context, body []byte) runOutcome {
	var msg map[string]json.RawMessage
	parseErr := json.Unmarshal(body, &msg)
	out := runOutcome{tag: runTag(msg)}
	fail := func(status int, text string) runOutcome {
		out.status, out.payload = status, errorBody(text)
		return out
	}

	if n := s.inflight.Add(1); n > int64(s.cfg.MaxConcurrentRuns) {
		s.inflight.Add(-1)
		return fail(http.StatusTooManyRequests, fmt.Sprintf(msgTooManyRuns, s.cfg.MaxConcurrentRuns))
	}
	defer s.inflight.Add(-1)

	c, status, text := s.runnable()
	if c == nil && status != 0 {
		return fail(status, text)
	}

	if parseErr != nil {
		return fail(http.StatusBadRequest, "Internal system error: the request body is not a JSON object.")
	}
	line := runLine{Value: msg["value"], Env: make(map[string]string, len(msg))}
	switch t := jsonType(line.Value); t {
	case "null":
		line.Value = json.RawMessage("{}")
	case "object", "array":
	default:
		return fail(http.StatusForbidden, fmt.Sprintf(
			"Internal system error: the argument must be a dictionary but has type '%s'.", t))
	}
	for k, raw := range msg {
		if k != "value" {
			line.Env["__OW_"+strings.ToUpper(k)] = envString(raw)
		}
	}

	if s.family == FamilyBlackbox {
		out.status, out.payload = s.runBlackbox(ctx, line, out.tag)
		return out
	}
	if s.family == FamilyPython {
		// One at a time; the one before may have stopped the container.
		s.runMu.Lock()
		defer s.runMu.Unlock()
		if c, status, text = s.runnable(); c == nil {
			return fail(status, text)
		}
	}
	if err := ctx.Err(); err != nil {
		// Given up on before it started (waiting for its turn): nothing to stop.
		return fail(http.StatusBadGateway, fmt.Sprintf("An error has occurred: the request was cancelled: %v.", err))
	}
	rep, answered, err := c.do(ctx, line)
	out.logsEnded = answered
	var tooLong *lineTooLongError
	switch {
	case err == nil:
	case errors.Is(err, errRetired):
		reason := s.reason()
		if reason == "" {
			reason = "the action process is being stopped"
		}
		return fail(http.StatusBadGateway, msgCannotRun+reason)
	case errors.Is(err, errBadReply):
		s.stop(c, "invalid reply from the launcher")
		return fail(http.StatusBadGateway, "Internal system error: the launcher sent an invalid reply.")
	case errors.As(err, &tooLong):
		return fail(http.StatusBadGateway, fmt.Sprintf("An error has occurred: %v.", err))
	case errors.Is(err, errChildExited):
		// Upstream's runtime dies with the action here and its invoker reports
		// this text; the exit status goes to the activation's log.
		s.stop(c, err.Error())
		s.writeLog(s.cfg.Stderr, out.tag, []byte("The action process exited during the run: "+err.Error()))
		return fail(http.StatusBadGateway, msgRunExited)
	default:
		s.stop(c, err.Error())
		return fail(http.StatusBadGateway, fmt.Sprintf("An error has occurred: %v.", err))
	}
	if rep.Error != nil && rep.Result == nil {
		if rep.Fatal {
			s.stop(c, "a previous activation failed with an uncaught exception")
		}
		status := rep.Status
		if status < 400 {
			status = http.StatusBadGateway
		}
		return fail(status, errorText(rep.Error))
	}
	if t := jsonType(rep.Result); t != "object" && t != "array" {
		return fail(http.StatusBadGateway, msgNotDictionary)
	}
	out.status, out.payload = http.StatusOK, rep.Result
	return out
}

// runnable returns the launcher to run on, or the refusal when the server
// cannot run (status 0 with a nil launcher: a blackbox action).
func (s *Server) runnable() (*child, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateReady:
		if s.child == nil && s.family != FamilyBlackbox {
			return nil, http.StatusForbidden, msgNotInitialized
		}
		return s.child, 0, ""
	case stateStopped:
		return nil, http.StatusBadGateway, msgCannotRun + s.stopReason
	case stateClosed:
		return nil, http.StatusServiceUnavailable, msgShuttingDown
	default:
		return nil, http.StatusForbidden, msgNotInitialized
	}
}

// stop marks the container as unable to run again and retires the
// launcher: it is killed now, or when the activations in flight on it end.
func (s *Server) stop(c *child, reason string) {
	s.mu.Lock()
	if s.state == stateReady {
		s.state = stateStopped
		s.stopReason = reason
	}
	s.mu.Unlock()
	go c.retire()
}

// reason returns why the server stopped running activations.
func (s *Server) reason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopReason
}

func (s *Server) setState(st state, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateClosed {
		s.state = st
		s.stopReason = reason
	}
}

// writeSentinels ends an activation's logs on both streams, tagged with tag
// unless it is empty. The proxy writes them when the launcher did not (a
// run refused before reaching it, a launcher that died or was killed,
// blackbox runs, failed inits): then nothing the activation printed can
// still be on its way.
func (s *Server) writeSentinels(tag string) {
	line := logproto.SentinelLine(tag)
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if _, err := s.cfg.Stdout.Write(line); err != nil {
		s.log.Debug("write stdout sentinel", "err", err)
	}
	if _, err := s.cfg.Stderr.Write(line); err != nil {
		s.log.Debug("write stderr sentinel", "err", err)
	}
}

// writeLog writes one log line to f, tagged with tag unless it is empty, in
// a single write so lines never interleave.
func (s *Server) writeLog(f *os.File, tag string, text []byte) {
	line := logproto.AppendLine(make([]byte, 0, len(tag)+len(text)+3), tag, text)
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if _, err := f.Write(line); err != nil {
		s.log.Debug("write log line", "err", err)
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
