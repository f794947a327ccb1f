package process

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cleanup kills the proxies (and everything in their process groups) that an
// earlier factory on the same WorkDir recorded and did not destroy, then
// removes their directories. A recorded pid whose /proc/<pid>/cmdline no
// longer matches the recorded command belongs to someone else now and is
// left alone. Containers of this factory are not touched.
func (f *Factory) Cleanup(ctx context.Context) error {
	entries, err := os.ReadDir(f.pidsDir)
	if err != nil {
		return fmt.Errorf("cleanup: read %s: %w", f.pidsDir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(f.pidsDir, e.Name())
		rec, err := readRecord(path)
		if err != nil {
			f.log.Warn("cleanup: dropping unreadable pid record", "file", path, "err", err)
			os.Remove(path)
			continue
		}
		if f.owns(rec.Pid) {
			continue
		}
		if err := killLeftover(ctx, rec); err != nil {
			errs = append(errs, err)
			continue
		}
		f.log.Info("cleanup: killed leftover proxy", "pid", rec.Pid)
		os.Remove(path)
	}
	if err := f.removeStaleDirs(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	return nil
}

func (f *Factory) owns(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.live[pid]
	return ok
}

// removeStaleDirs deletes container directories no live container uses.
func (f *Factory) removeStaleDirs() error {
	f.mu.Lock()
	inUse := make(map[string]bool, len(f.live))
	for _, c := range f.live {
		inUse[c.dir] = true
	}
	f.mu.Unlock()
	entries, err := os.ReadDir(f.containersDir)
	if err != nil {
		return fmt.Errorf("read %s: %w", f.containersDir, err)
	}
	var errs []error
	for _, e := range entries {
		dir := filepath.Join(f.containersDir, e.Name())
		if inUse[dir] {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func readRecord(path string) (pidRecord, error) {
	var rec pidRecord
	data, err := os.ReadFile(path)
	if err != nil {
		return rec, fmt.Errorf("read pid record: %w", err)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("decode pid record %s: %w", path, err)
	}
	if rec.Pid <= 1 || len(rec.Args) == 0 {
		return rec, fmt.Errorf("pid record %s is incomplete", path)
	}
	return rec, nil
}

// killLeftover kills the process group of a recorded proxy if the pid still
// runs that proxy, and waits (bounded by ctx) until it is gone.
func killLeftover(ctx context.Context, rec pidRecord) error {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		return fmt.Errorf("cannot verify leftover proxy pid %d without /proc: %w", rec.Pid, err)
	}
	procDir := filepath.Join("/proc", strconv.Itoa(rec.Pid))
	cmdline, err := os.ReadFile(filepath.Join(procDir, "cmdline"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		// The proxy is gone. While any member of its group lives, the pid
		// cannot be reused, so a group by that id holds only its leftovers.
		_ = syscall.Kill(-rec.Pid, syscall.SIGKILL)
		return nil
	case err != nil:
		return fmt.Errorf("inspect leftover proxy pid %d: %w", rec.Pid, err)
	}
	if !sameArgs(cmdline, rec.Args) {
		return nil // the pid now belongs to an unrelated process
	}
	if err := syscall.Kill(-rec.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill leftover proxy group %d: %w", rec.Pid, err)
	}
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for alive(rec.Pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for leftover proxy %d to die: %w", rec.Pid, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("leftover proxy %d still alive after SIGKILL", rec.Pid)
		case <-tick.C:
		}
	}
	return nil
}

// sameArgs compares a NUL-separated /proc cmdline with an argument list.
func sameArgs(cmdline []byte, args []string) bool {
	got := strings.Split(string(bytes.TrimSuffix(cmdline, []byte{0})), "\x00")
	return slices.Equal(got, args)
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself
	// contain spaces or parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] != 'Z' && stat[i+2] != 'X'
}
