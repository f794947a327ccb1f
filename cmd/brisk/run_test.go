package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
)

func quietRoleLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRoleStopsInReverseAfterLoops(t *testing.T) {
	r := newRole(quietRoleLog())
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	r.onStop("store", func(context.Context) { note("store") })
	r.loop("consumer", func(ctx context.Context) error {
		<-ctx.Done()
		note("consumer returned")
		return ctx.Err()
	}, func() error { note("consumer closed"); return nil })
	r.onStop("server", func(context.Context) { note("server") })

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the signal
	if err := r.wait(ctx); err != nil {
		t.Fatalf("wait after a signal: %v", err)
	}
	r.stop()
	r.stop() // a second stop runs nothing again
	want := []string{"server", "consumer returned", "consumer closed", "store"}
	if !slices.Equal(order, want) {
		t.Fatalf("stop order %v, want %v", order, want)
	}
}

func TestRoleEndsWhenALoopFails(t *testing.T) {
	r := newRole(quietRoleLog())
	defer r.stop()
	boom := errors.New("broker gone")
	r.loop("consumer of invoker0", func(context.Context) error { return boom }, nil)
	err := r.wait(context.Background())
	if !errors.Is(err, boom) || err.Error() != "consumer of invoker0: broker gone" {
		t.Fatalf("wait = %v, want the loop's error", err)
	}
	// A loop that returns nil on its own has stopped too.
	r2 := newRole(quietRoleLog())
	defer r2.stop()
	r2.loop("pings", func(context.Context) error { return nil }, nil)
	if err := r2.wait(context.Background()); err == nil {
		t.Fatal("a loop that ended on its own did not end the role")
	}
}
