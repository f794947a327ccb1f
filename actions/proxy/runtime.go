package proxy

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Family is a runtime family: the part of a kind before the colon.
type Family string

// The runtime families the proxy can run.
const (
	FamilyNodejs Family = "nodejs"
	FamilyPython Family = "python"
)

// ErrUnknownKind is returned (wrapped) for a kind the proxy cannot run.
var ErrUnknownKind = errors.New("unsupported action kind")

var (
	//go:embed launcher/launcher.js
	nodeLauncher []byte
	//go:embed launcher/launcher.py
	pythonLauncher []byte
)

// ParseKind maps an action kind to its runtime family. It accepts the bare
// family ("nodejs"), "<family>:default" and "<family>:<version>" (for example
// "nodejs:20" or "python:3.11"); the version itself is not checked because
// the proxy uses whatever node or python3 is on PATH.
func ParseKind(kind string) (Family, error) {
	family, _, _ := strings.Cut(strings.TrimSpace(kind), ":")
	switch Family(family) {
	case FamilyNodejs:
		return FamilyNodejs, nil
	case FamilyPython:
		return FamilyPython, nil
	case FamilyBlackbox:
		return FamilyBlackbox, nil
	}
	if kind == "" {
		return "", fmt.Errorf("no kind given (use --kind or __OW_KIND): %w", ErrUnknownKind)
	}
	return "", fmt.Errorf("kind %q: %w", kind, ErrUnknownKind)
}

// runtimeSpec says how one family prepares and starts its launcher.
type runtimeSpec struct {
	interpreter  string // looked up on PATH
	launcherName string
	launcher     []byte
	sourceName   string // file the plain-text code is written to
	// zipEntry checks that an extracted archive has what the launcher needs;
	// it returns a user-facing message when it does not.
	zipEntry func(dir string) (string, bool)
}

func specFor(f Family) runtimeSpec {
	switch f {
	case FamilyPython:
		return runtimeSpec{
			interpreter:  "python3",
			launcherName: "launcher.py",
			launcher:     pythonLauncher,
			sourceName:   "__main__.py",
			zipEntry: func(dir string) (string, bool) {
				if isFile(filepath.Join(dir, "__main__.py")) {
					return "", true
				}
				return "Zipped actions must contain __main__.py at the root.", false
			},
		}
	default:
		return runtimeSpec{
			interpreter:  "node",
			launcherName: "launcher.js",
			launcher:     nodeLauncher,
			sourceName:   "index.js",
			zipEntry: func(dir string) (string, bool) {
				if isFile(filepath.Join(dir, "package.json")) || isFile(filepath.Join(dir, "index.js")) {
					return "", true
				}
				return "Zipped actions must contain either package.json or index.js at the root.", false
			},
		}
	}
}

// command builds the launcher command line for an action in actionDir.
// The launchers take: entry point name, action directory, and "text" when
// the code was plain source or "archive" when it came from a zip.
func (rs runtimeSpec) command(launcherPath, main, actionDir string, archive bool) (*exec.Cmd, error) {
	// BRISK_NODE / BRISK_PYTHON3 name the interpreter directly (the invoker
	// resolves version-manager shims, such as pyenv's, once for all containers).
	bin := os.Getenv("BRISK_" + strings.ToUpper(rs.interpreter))
	var err error
	if bin == "" {
		bin, err = exec.LookPath(rs.interpreter)
	}
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", rs.interpreter, err)
	}
	mode := "text"
	if archive {
		mode = "archive"
	}
	return exec.Command(bin, launcherPath, main, actionDir, mode), nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
