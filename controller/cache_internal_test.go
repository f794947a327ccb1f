package controller

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestTTLCacheLoadRacingEviction(t *testing.T) {
	c := newTTLCache[int](time.Minute, 100)
	ctx := context.Background()
	reads := 0
	fetch := func(v int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { reads++; return v, nil }
	}
	// An eviction while the read is in flight: the value read is returned
	// but not kept, so the next load reads again.
	got, _ := c.load(ctx, "k", func(context.Context) (int, error) {
		reads++
		c.evict("k")
		return 1, nil
	})
	if got != 1 {
		t.Fatalf("load = %d, want 1", got)
	}
	if got, _ := c.load(ctx, "k", fetch(2)); got != 2 || reads != 2 {
		t.Fatalf("after a racing eviction: load = %d with %d reads, want 2 with 2 (read again)", got, reads)
	}
	if got, _ := c.load(ctx, "k", fetch(3)); got != 2 || reads != 2 {
		t.Fatalf("cached: load = %d with %d reads, want 2 with 2", got, reads)
	}
	// An eviction of another key does not stop caching this one.
	c.load(ctx, "x", func(context.Context) (int, error) { c.evict("other"); return 4, nil })
	if got, _ := c.load(ctx, "x", fetch(5)); got != 4 {
		t.Errorf("load x = %d, want the cached 4", got)
	}
	// Errors are not cached.
	if _, err := c.load(ctx, "e", func(context.Context) (int, error) { return 0, errors.New("boom") }); err == nil {
		t.Fatal("want the error")
	}
	if got, err := c.load(ctx, "e", fetch(6)); err != nil || got != 6 {
		t.Errorf("after an error: load = %d, %v; want 6", got, err)
	}
}

func TestTTLCacheBoundAndExpiry(t *testing.T) {
	c := newTTLCache[int](time.Minute, 50)
	ctx := context.Background()
	for i := range 1000 {
		c.load(ctx, strconv.Itoa(i), func(context.Context) (int, error) { return i, nil })
		if n := len(c.m); n > 50 {
			t.Fatalf("cache holds %d entries, bound 50", n)
		}
	}
	short := newTTLCache[int](time.Millisecond, 10)
	short.load(ctx, "k", func(context.Context) (int, error) { return 1, nil })
	time.Sleep(5 * time.Millisecond) // the entry's 1 ms time to live runs out: its age is the condition
	if got, _ := short.load(ctx, "k", func(context.Context) (int, error) { return 2, nil }); got != 2 {
		t.Errorf("expired entry served: %d", got)
	}
}
