package admin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/admin"
	"github.com/brisk-serverless/brisk/store"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve serves ops on a socket in a new directory and returns a client.
func serve(t *testing.T, ops admin.Operations) (*admin.Server, *admin.Client) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin.sock")
	srv, err := admin.Listen(path, ops, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	c, err := admin.Dial(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return srv, c
}

// sameError checks that the client's error is the service's as the
// callers see it: the same class and the same text.
func sameError(t *testing.T, what string, remote, local error) {
	t.Helper()
	for _, target := range []error{admin.ErrInvalid, admin.ErrNotFound, admin.ErrConflict, admin.ErrNamespaceExists,
		admin.ErrSubjectBlocked, admin.ErrNamespaceNotFound} {
		if errors.Is(remote, target) != errors.Is(local, target) {
			t.Errorf("%s: errors.Is(%v, %v) = %t through the socket, %t on the service", what, remote, target,
				errors.Is(remote, target), errors.Is(local, target))
		}
	}
	var rs, ls *admin.StoreError
	if errors.As(remote, &rs) != errors.As(local, &ls) || (rs != nil && (rs.Op != ls.Op || rs.Err.Error() != ls.Err.Error())) {
		t.Errorf("%s: store error %#v through the socket, %#v on the service", what, rs, ls)
	}
	var rn, ln *admin.NamespaceNotFoundError
	if errors.As(remote, &rn) != errors.As(local, &ln) || (rn != nil && *rn != *ln) {
		t.Errorf("%s: %v through the socket, %v on the service", what, remote, local)
	}
	if (remote == nil) != (local == nil) || (remote != nil && remote.Error() != local.Error()) {
		t.Errorf("%s: error %v through the socket, %v on the service", what, remote, local)
	}
}

func TestServerRoundTrip(t *testing.T) {
	svc, _, rec := newService(t)
	srv, c := serve(t, svc)
	ctx := t.Context()
	if fi, err := os.Stat(srv.Path()); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v %v, want a socket of mode 0600", srv.Path(), fi, err)
	}

	alice, err := c.CreateUser(ctx, admin.CreateUserRequest{Subject: "alice", Namespace: "space1", Auth: givenAuth})
	if err != nil || alice.String() != givenAuth {
		t.Fatalf("CreateUser = %v, %v", alice, err)
	}
	u, err := c.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := svc.GetUser(ctx, "alice"); !reflect.DeepEqual(u, want) {
		t.Errorf("GetUser = %+v through the socket, %+v on the service", u, want)
	}
	ids, err := c.ListUsers(ctx, admin.ListUsersRequest{Namespace: "space1"})
	want := []admin.Identity{{Subject: "alice", Namespace: "space1", UUID: alice.UUID, Key: alice.Key}}
	if err != nil || !reflect.DeepEqual(ids, want) {
		t.Errorf("ListUsers = %v, %v; want %v", ids, err, want)
	}
	if id, err := c.Whois(ctx, givenAuth); err != nil || id != want[0] {
		t.Errorf("Whois = %v, %v", id, err)
	}
	if err := c.Block(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if keys := rec.take(); len(keys) != 1 {
		t.Errorf("block through the socket invalidated %v, want alice's key", keys)
	}
	if err := c.Unblock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	limits := store.Limits{InvocationsPerMinute: ptr(7), AllowedKinds: []string{"nodejs:20", "python:3.11"}, StoreActivations: ptr(false)}
	if err := c.SetLimits(ctx, admin.SetLimitsRequest{Namespace: "space1", Limits: limits}); err != nil {
		t.Fatal(err)
	}
	l, err := c.GetLimits(ctx, "space1")
	if err != nil || l.Rev == "" {
		t.Fatalf("GetLimits = %+v, %v", l, err)
	}
	l.Rev = ""
	if !reflect.DeepEqual(l, limits) {
		t.Errorf("GetLimits = %+v, want %+v", l, limits)
	}
	if err := c.DeleteLimits(ctx, "space1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteNamespace(ctx, "alice", "space1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}

	// Failures arrive as the service returns them.
	if _, err := svc.CreateUser(ctx, admin.CreateUserRequest{Subject: "bobby"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Block(ctx, "bobby"); err != nil {
		t.Fatal(err)
	}
	for _, op := range []struct {
		name string
		call func(admin.Operations) error
	}{
		{"invalid subject", func(o admin.Operations) error {
			_, err := o.CreateUser(ctx, admin.CreateUserRequest{Subject: "abcd"})
			return err
		}},
		{"blocked", func(o admin.Operations) error {
			_, err := o.CreateUser(ctx, admin.CreateUserRequest{Subject: "bobby", Namespace: "space2"})
			return err
		}},
		{"get missing", func(o admin.Operations) error { _, err := o.GetUser(ctx, "nobody"); return err }},
		{"whois missing", func(o admin.Operations) error { _, err := o.Whois(ctx, givenAuth); return err }},
		{"whois invalid", func(o admin.Operations) error { _, err := o.Whois(ctx, "nocolon"); return err }},
		{"delete namespace missing", func(o admin.Operations) error { return o.DeleteNamespace(ctx, "bobby", "space9") }},
		{"delete missing", func(o admin.Operations) error { return o.DeleteUser(ctx, "nobody") }},
		{"block missing", func(o admin.Operations) error { return o.Block(ctx, "nobody") }},
		{"limits missing", func(o admin.Operations) error { _, err := o.GetLimits(ctx, "space1"); return err }},
		{"limits invalid", func(o admin.Operations) error {
			return o.SetLimits(ctx, admin.SetLimitsRequest{Namespace: "bad/ns"})
		}},
		{"limits delete missing", func(o admin.Operations) error { return o.DeleteLimits(ctx, "space1") }},
		{"list invalid", func(o admin.Operations) error {
			_, err := o.ListUsers(ctx, admin.ListUsersRequest{Namespace: "space1", Limit: -1})
			return err
		}},
	} {
		local := op.call(svc)
		if local == nil {
			t.Fatalf("%s: no error on the service", op.name)
		}
		sameError(t, op.name, op.call(c), local)
	}
	if _, err := c.CreateUser(ctx, admin.CreateUserRequest{Subject: "bobby"}); !errors.Is(err, admin.ErrSubjectBlocked) {
		t.Errorf("CreateUser on a blocked subject: %v", err)
	}
}

func TestDialNoServer(t *testing.T) {
	dir := t.TempDir()
	if _, err := admin.Dial(t.Context(), filepath.Join(dir, "admin.sock")); !errors.Is(err, admin.ErrNoServer) {
		t.Errorf("Dial without a socket: %v, want ErrNoServer", err)
	}
	// A socket left by a process that is gone.
	path := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	_ = ln.Close()
	if _, err := admin.Dial(t.Context(), path); !errors.Is(err, admin.ErrNoServer) {
		t.Errorf("Dial of a stale socket: %v, want ErrNoServer", err)
	}
	// Listen replaces it.
	srv, err := admin.Listen(path, &blockingOps{}, quietLog())
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// blockingOps answers GetUser once released, and checks that the other
// operations run with a deadline.
type blockingOps struct {
	admin.Operations
	started, release chan struct{}
	finished         atomic.Bool
}

func (b *blockingOps) GetUser(ctx context.Context, subject string) (admin.User, error) {
	close(b.started)
	<-b.release
	b.finished.Store(true)
	return admin.User{Subject: subject}, nil
}

func (b *blockingOps) DeleteUser(ctx context.Context, subject string) error {
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) > admin.RequestTimeout {
		return errors.New("no request deadline")
	}
	return nil
}

// TestCloseWaitsForRequests: Close lets a running operation finish, and
// returns only after it did; the client gets its answer.
func TestCloseWaitsForRequests(t *testing.T) {
	ops := &blockingOps{started: make(chan struct{}), release: make(chan struct{})}
	srv, c := serve(t, ops)
	if err := c.DeleteUser(t.Context(), "alice"); err != nil {
		t.Fatalf("operation without a deadline: %v", err)
	}

	type result struct {
		u   admin.User
		err error
	}
	answered := make(chan result, 1)
	go func() {
		u, err := c.GetUser(t.Context(), "alice")
		answered <- result{u, err}
	}()
	<-ops.started
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()

	// Close has stopped listening (the listener unlinks the socket) while
	// the operation runs.
	waitFor(t, "the listener to close", func() bool {
		_, err := os.Stat(srv.Path())
		return errors.Is(err, os.ErrNotExist)
	})
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while an operation ran", err)
	default:
	}
	close(ops.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if !ops.finished.Load() {
		t.Error("Close returned before the operation finished")
	}
	if r := <-answered; r.err != nil || r.u.Subject != "alice" {
		t.Errorf("GetUser during Close = %+v, %v", r.u, r.err)
	}
	if _, err := admin.Dial(t.Context(), srv.Path()); !errors.Is(err, admin.ErrNoServer) {
		t.Errorf("Dial after Close: %v, want ErrNoServer", err)
	}
}

// waitFor waits until cond holds, checking it every millisecond, for at
// most 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
