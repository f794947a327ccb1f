package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// FamilyBlackbox runs a native executable, upstream's dockerskeleton
// convention: the action is a zip with an executable named `exec` at its
// root (or a script, written to `exec`), started once per activation with
// the arguments as a JSON text in argv[1]. Everything it prints on stdout
// before its last line is log output; the last line is the result.
const FamilyBlackbox Family = "blackbox"

const (
	msgBlackboxNoExec = "The action failed to generate or locate a binary. See logs for details."
	msgBlackboxResult = "The action did not return a dictionary or array."
)

// blackbox is the state of an initialized blackbox action.
type blackbox struct {
	exec string
	dir  string
	env  []string
}

// initBlackbox lays out the executable; nothing runs until /run.
func (s *Server) initBlackbox(req initRequest) error {
	dir := filepath.Join(s.workDir, "action")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create action directory: %w", err)
	}
	execPath := filepath.Join(dir, "exec")
	if req.binary {
		data, err := decodeBase64(req.code)
		if err != nil {
			return err
		}
		if err := extractZip(data, dir, s.cfg.MaxArchiveBytes); err != nil {
			fmt.Fprintf(s.cfg.Stderr, "The action archive could not be extracted: %v\n", err)
			return userFacing(msgBlackboxNoExec)
		}
		if st, err := os.Stat(execPath); err != nil || !st.Mode().IsRegular() {
			fmt.Fprintln(s.cfg.Stderr, "The action archive has no file named exec at its root.")
			return userFacing(msgBlackboxNoExec)
		}
		if err := os.Chmod(execPath, 0o755); err != nil {
			return fmt.Errorf("make exec executable: %w", err)
		}
	} else if err := os.WriteFile(execPath, []byte(req.code), 0o755); err != nil {
		return fmt.Errorf("write action exec: %w", err)
	}
	env := os.Environ()
	for k, v := range req.env {
		env = append(env, k+"="+v)
	}
	s.mu.Lock()
	s.bb = &blackbox{exec: execPath, dir: dir, env: env}
	s.mu.Unlock()
	return nil
}

// maxLogLine is the longest stderr line a blackbox run's output is split
// into; longer lines become several.
const maxLogLine = 64 << 10

// runBlackbox runs exec once for an activation. Runs may overlap: each has
// its own process and pipes, and every line it prints is written tagged
// with tag (when not empty), one whole line per write, before the run
// returns, hence before its sentinels.
func (s *Server) runBlackbox(ctx context.Context, line runLine, tag string) (int, any) {
	s.mu.Lock()
	bb := s.bb
	s.mu.Unlock()
	if bb == nil {
		return http.StatusForbidden, errorBody(msgNotInitialized)
	}
	args := string(bytes.ReplaceAll(line.Value, []byte("\n"), nil))
	cmd := exec.CommandContext(ctx, bb.exec, args)
	cmd.Dir = bb.dir
	cmd.Env = append([]string(nil), bb.env...)
	for k, v := range line.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(args)
	setChildAttrs(cmd)
	outR, outW, err := os.Pipe()
	if err != nil {
		return http.StatusBadGateway, errorBody(fmt.Sprintf("An error has occurred: create stdout pipe: %v.", err))
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return http.StatusBadGateway, errorBody(fmt.Sprintf("An error has occurred: create stderr pipe: %v.", err))
	}
	defer outR.Close()
	defer errR.Close()
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return http.StatusBadGateway, errorBody(fmt.Sprintf("An error has occurred: %v.", err))
	}

	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		s.copyLines(errR, s.cfg.Stderr, tag)
	}()
	// Every stdout line but the last is a log line: hold one line back.
	var last []byte
	var readErr error
	go func() {
		defer readers.Done()
		br := bufio.NewReaderSize(outR, 64<<10)
		for {
			l, err := readLine(br, maxReplyBytes)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, os.ErrClosed) {
					readErr = err
					_ = cmd.Process.Kill()
				}
				return
			}
			if last != nil {
				s.writeLog(s.cfg.Stdout, tag, last)
			}
			last = l
		}
	}()
	waitErr := cmd.Wait()
	readersDone := make(chan struct{})
	go func() {
		readers.Wait()
		close(readersDone)
	}()
	select {
	case <-readersDone:
	case <-time.After(pipeGrace):
		// A process the action started holds the pipes open: stop reading.
		outR.Close()
		errR.Close()
		<-readersDone
	}

	if ctx.Err() != nil {
		return http.StatusBadGateway, errorBody(fmt.Sprintf("An error has occurred: the request was cancelled: %v.", ctx.Err()))
	}
	if readErr != nil {
		return http.StatusBadGateway, errorBody(fmt.Sprintf("An error has occurred: %v.", readErr))
	}
	if waitErr != nil {
		s.writeLog(s.cfg.Stderr, tag, fmt.Appendf(nil, "The action exec ended with %v.", waitErr))
	}
	last = bytes.TrimSpace(last)
	if t := jsonType(last); (t != "object" && t != "array") || !json.Valid(last) {
		if len(last) > 0 {
			s.writeLog(s.cfg.Stdout, tag, last)
		}
		return http.StatusBadGateway, errorBody(msgBlackboxResult)
	}
	return http.StatusOK, json.RawMessage(last)
}

// copyLines writes every line read from r to w as a log line tagged with
// tag; a last line without newline is completed, an overlong one split.
func (s *Server) copyLines(r io.Reader, w *os.File, tag string) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		chunk, err := br.ReadSlice('\n')
		text := bytes.TrimSuffix(chunk, []byte("\n"))
		if len(chunk) > 0 {
			s.writeLog(w, tag, text)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
