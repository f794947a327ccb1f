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

// runBlackbox runs exec once for an activation.
func (s *Server) runBlackbox(ctx context.Context, line runLine) (int, any) {
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
	cmd.Stderr = s.cfg.Stderr
	setChildAttrs(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return http.StatusBadGateway, errorBody(fmt.Sprintf("An error has occurred: %v.", err))
	}
	if err := cmd.Start(); err != nil {
		return http.StatusBadGateway, errorBody(fmt.Sprintf("An error has occurred: %v.", err))
	}
	// Every line but the last is a log line: hold one line back.
	var last []byte
	br := bufio.NewReaderSize(stdout, 64<<10)
	var readErr error
	for {
		l, err := readLine(br, maxReplyBytes)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		if last != nil {
			s.outMu.Lock()
			_, _ = s.cfg.Stdout.Write(append(last, '\n'))
			s.outMu.Unlock()
		}
		last = l
	}
	if readErr != nil {
		_ = cmd.Process.Kill()
	}
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		return http.StatusBadGateway, errorBody(fmt.Sprintf("An error has occurred: the request was cancelled: %v.", ctx.Err()))
	}
	if readErr != nil {
		return http.StatusBadGateway, errorBody(fmt.Sprintf("An error has occurred: %v.", readErr))
	}
	if waitErr != nil {
		fmt.Fprintf(s.cfg.Stderr, "The action exec ended with %v.\n", waitErr)
	}
	last = bytes.TrimSpace(last)
	if t := jsonType(last); (t != "object" && t != "array") || !json.Valid(last) {
		if len(last) > 0 {
			s.outMu.Lock()
			_, _ = s.cfg.Stdout.Write(append(last, '\n'))
			s.outMu.Unlock()
		}
		return http.StatusBadGateway, errorBody(msgBlackboxResult)
	}
	return http.StatusOK, json.RawMessage(last)
}
