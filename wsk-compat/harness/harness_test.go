package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeEnv makes the test binary act as a tiny stand-in for
// `brisk standalone`, so the harness can be tested without the server.
const fakeEnv = "BRISK_HARNESS_FAKE_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		if err := fakeStandalone(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "fake standalone:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeStandalone serves /ping and /starts (how often it was started on this
// data dir) until SIGTERM.
func fakeStandalone(args []string) error {
	var listen, dataDir string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--listen":
			listen = args[i+1]
		case "--data-dir":
			dataDir = args[i+1]
		}
	}
	if len(args) == 0 || args[0] != "standalone" || listen == "" || dataDir == "" {
		return fmt.Errorf("unexpected arguments %q", args)
	}
	counter := filepath.Join(dataDir, "starts")
	b, _ := os.ReadFile(counter)
	n, _ := strconv.Atoi(string(b))
	n++
	if err := os.WriteFile(counter, []byte(strconv.Itoa(n)), 0o600); err != nil {
		return err
	}
	fmt.Println("fake standalone: start", n)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "pong") })
	mux.HandleFunc("/starts", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, n) })
	srv := &http.Server{Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		fmt.Println("fake standalone: SIGTERM")
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestStartRestart(t *testing.T) {
	t.Setenv("BRISK_BIN", os.Args[0])
	t.Setenv(EnvExternalAPIHost, "")
	t.Setenv(fakeEnv, "1")
	s := Start(t)

	if !strings.HasPrefix(s.APIHost, "http://127.0.0.1:") || s.Auth != GuestAuth || s.Namespace != "guest" {
		t.Errorf("server = %+v", s)
	}
	if s.Client == nil || s.Client.Config.BaseURL.String() != s.APIHost+"/api" || s.Client.Config.Namespace != "_" || !s.Client.Config.Insecure {
		t.Errorf("client config = %+v", s.Client.Config)
	}
	if got := get(t, s.APIHost+"/starts"); got != "1" {
		t.Errorf("starts = %q, want 1", got)
	}
	s.Restart()
	if got := get(t, s.APIHost+"/starts"); got != "2" {
		t.Errorf("after restart, starts = %q, want 2 (same data dir)", got)
	}
	out := s.Output()
	if strings.Count(out, "fake standalone: SIGTERM") != 1 || !strings.Contains(out, "exited after SIGTERM: status 0") {
		t.Errorf("output does not show one clean SIGTERM stop:\n%s", out)
	}
}

// fatalRecorder is a testing.TB whose Fatalf and Skipf end the calling
// goroutine and record what they were told.
type fatalRecorder struct {
	testing.TB
	fatal, skip string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *fatalRecorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestBinaryFailsWhenMissing(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	returned := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		binaryIn(rec, t.TempDir())
		returned = true
	}()
	<-done
	if returned || rec.skip != "" {
		t.Fatalf("binaryIn without bin/brisk: returned %v, skipped %q; want a failure", returned, rec.skip)
	}
	if !strings.Contains(rec.fatal, "make build") {
		t.Errorf("failure %q does not say how to build bin/brisk", rec.fatal)
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	if err := WaitFor(context.Background(), time.Millisecond, func() bool { n++; return n == 3 }); err != nil || n != 3 {
		t.Errorf("WaitFor = %v after %d calls", err, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := WaitFor(ctx, time.Millisecond, func() bool { return false }); err == nil {
		t.Error("WaitFor returned nil for a condition that never holds")
	}
}
