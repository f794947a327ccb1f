package proxy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Prestart (Config.Prestart, `brisk proxy --prestart`, or BRISK_PRESTART=1
// in the environment) starts the nodejs or python launcher as soon as the
// proxy starts, before any /init: the interpreter's own start-up (tens of
// milliseconds for node, more for python) is then paid while the container
// waits as a prewarmed stem cell, not by the activation that takes it. The
// prestarted launcher gets no arguments; the first line on its stdin says
// what to load:
//
//	{"entry": "main", "dir": "<action dir>", "mode": "text|archive", "env": {...}}
//
// after which it behaves exactly like a launcher started at /init.

// initLine is the first stdin line of a prestarted launcher.
type initLine struct {
	Entry string            `json:"entry"`
	Dir   string            `json:"dir"`
	Mode  string            `json:"mode"`
	Env   map[string]string `json:"env"`
}

func (s *Server) actionDir() string { return filepath.Join(s.workDir, "action") }

// prestart starts the launcher without an action.
func (s *Server) prestart() error {
	if err := os.MkdirAll(s.actionDir(), 0o755); err != nil {
		return fmt.Errorf("create action directory: %w", err)
	}
	launcher := filepath.Join(s.workDir, s.rt.launcherName)
	if err := os.WriteFile(launcher, s.rt.launcher, 0o644); err != nil {
		return fmt.Errorf("write launcher: %w", err)
	}
	cmd, err := s.rt.command(launcher, "", "", false)
	if err != nil {
		return err
	}
	cmd.Args = cmd.Args[:2] // interpreter and launcher only
	cmd.Dir = s.actionDir()
	cmd.Env = os.Environ()
	c, err := startChild(cmd, s.cfg.Stdout, s.cfg.Stderr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.pre = c
	s.mu.Unlock()
	return nil
}

// takePrestarted hands the prestarted launcher the action laid out in the
// action directory; nil when there is none (or it has died), and the caller
// then starts a launcher as usual.
func (s *Server) takePrestarted(req initRequest) *child {
	s.mu.Lock()
	c := s.pre
	s.pre = nil
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	select {
	case <-c.exited:
		return nil
	default:
	}
	mode := "text"
	if req.binary {
		mode = "archive"
	}
	line, _ := json.Marshal(initLine{Entry: req.main, Dir: s.actionDir(), Mode: mode, Env: req.env})
	if err := c.send(line); err != nil {
		go c.kill()
		return nil
	}
	return c
}
