package invoker

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestProxyClientInitRetriesUntilDeadline: a container's proxy may not be
// listening yet, so /init retries connection-refused until its context ends.
func TestProxyClientInitRetriesUntilDeadline(t *testing.T) {
	p := newProxyClient(1 << 20)
	addr := closedAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.init(ctx, addr, []byte(`{}`))
	took := time.Since(start)
	if err == nil {
		t.Fatal("init to a closed port succeeded")
	}
	if took < 250*time.Millisecond || took > 2*time.Second {
		t.Errorf("init gave up after %v; want it to retry until the 300 ms deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("init error %v does not report the deadline", err)
	}
}

// TestProxyClientRunDoesNotRetry: /run is sent once.
func TestProxyClientRunDoesNotRetry(t *testing.T) {
	p := newProxyClient(1 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := p.run(ctx, closedAddr(t), []byte(`{}`))
	if !errors.Is(err, errConnection) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("run to a closed port: %v, want errConnection wrapping ECONNREFUSED", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("run took %v; it must not retry", took)
	}
}
