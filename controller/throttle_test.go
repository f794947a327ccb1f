package controller

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
)

func throttleLimits(perMinute, concurrent, fires int) api.Limits {
	l := api.DefaultLimits()
	l.InvocationsPerMinute, l.ConcurrentInvocations, l.FiresPerMinute = perMinute, concurrent, fires
	return l
}

func wantTooMany(t *testing.T, err error, msg string) {
	t.Helper()
	e, ok := api.AsError(err)
	if !ok || e.Status != http.StatusTooManyRequests || e.Message != msg {
		t.Fatalf("err = %v, want 429 %q", err, msg)
	}
}

// freshMinute waits out the end of a wall-clock minute so that a test's
// counts fall into one minute bucket.
func freshMinute(t *testing.T) {
	if s := time.Now().Second(); s >= 55 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
}

func TestThrottleRate(t *testing.T) {
	freshMinute(t)
	th := newThrottles(throttleLimits(3, 100, 60), nil)
	ctx := context.Background()
	for i := range 3 {
		if err := th.admit(ctx, "guest", api.NewActivationID(), time.Second); err != nil {
			t.Fatalf("invoke %d: %v", i+1, err)
		}
	}
	wantTooMany(t, th.admit(ctx, "guest", api.NewActivationID(), time.Second),
		"Too many requests in the last minute (count: 4, allowed: 3).")
	// Other namespaces have their own counts.
	if err := th.admit(ctx, "other", api.NewActivationID(), time.Second); err != nil {
		t.Fatalf("other namespace throttled: %v", err)
	}
}

func TestThrottleConcurrency(t *testing.T) {
	freshMinute(t)
	th := newThrottles(throttleLimits(100, 2, 60), nil)
	ctx := context.Background()
	a, b := api.NewActivationID(), api.NewActivationID()
	for _, id := range []string{a, b} {
		if err := th.admit(ctx, "guest", id, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	wantTooMany(t, th.admit(ctx, "guest", api.NewActivationID(), time.Second),
		"Too many concurrent requests in flight (count: 2, allowed: 2).")
	th.release(a)
	th.release(a) // a duplicate completion frees nothing more
	if err := th.admit(ctx, "guest", api.NewActivationID(), time.Second); err != nil {
		t.Fatalf("after a completion: %v", err)
	}
	wantTooMany(t, th.admit(ctx, "guest", api.NewActivationID(), time.Second),
		"Too many concurrent requests in flight (count: 2, allowed: 2).")
}

func TestThrottleReleaseOnce(t *testing.T) {
	freshMinute(t)
	th := newThrottles(throttleLimits(100, 2, 60), nil)
	ctx := context.Background()
	release, err := th.admitInvoke(ctx, "guest", api.NewActivationID(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := th.admit(ctx, "guest", api.NewActivationID(), time.Second); err != nil {
		t.Fatal(err)
	}
	release()
	release() // the second call frees nothing
	if err := th.admit(ctx, "guest", api.NewActivationID(), time.Second); err != nil {
		t.Fatalf("after the release: %v", err)
	}
	_, err = th.admitInvoke(ctx, "guest", api.NewActivationID(), time.Second)
	wantTooMany(t, err, "Too many concurrent requests in flight (count: 2, allowed: 2).")
}

func TestThrottleFiresAndOverrides(t *testing.T) {
	freshMinute(t)
	zero, two := 0, 2
	src := func(_ context.Context, ns string) (*NamespaceLimits, error) {
		switch ns {
		case "blocked":
			return &NamespaceLimits{InvocationsPerMinute: &zero}, nil
		case "small":
			return &NamespaceLimits{FiresPerMinute: &two}, nil
		case "broken":
			return nil, errors.New("store down")
		}
		return nil, nil
	}
	th := newThrottles(throttleLimits(60, 30, 60), src)
	ctx := context.Background()
	wantTooMany(t, th.admit(ctx, "blocked", api.NewActivationID(), time.Second),
		"Too many requests in the last minute (count: 1, allowed: 0).")
	for range 2 {
		if err := th.admitFire(ctx, "small"); err != nil {
			t.Fatal(err)
		}
	}
	wantTooMany(t, th.admitFire(ctx, "small"), "Too many requests in the last minute (count: 3, allowed: 2).")
	if err := th.admit(ctx, "broken", api.NewActivationID(), time.Second); err == nil {
		t.Fatal("a failing limits lookup admitted the invocation")
	}
}

func TestThrottleShares(t *testing.T) {
	// Upstream's individual limits: with several controllers each admits
	// ceil(limit * 1.2) / n, at least 1; 0 blocks everywhere.
	for _, c := range []struct{ limit, n, want int }{
		{60, 1, 60}, {60, 3, 24}, {30, 2, 18}, {1, 3, 1}, {0, 3, 0}, {5, 5, 1},
	} {
		if got := share(c.limit, c.n); got != c.want {
			t.Errorf("share(%d, %d) = %d, want %d", c.limit, c.n, got, c.want)
		}
	}
	freshMinute(t)
	th := newThrottles(throttleLimits(100, 2, 60), nil)
	th.setControllers(3)
	ctx := context.Background()
	if err := th.admit(ctx, "guest", api.NewActivationID(), time.Second); err != nil {
		t.Fatal(err)
	}
	wantTooMany(t, th.admit(ctx, "guest", api.NewActivationID(), time.Second),
		"Too many concurrent requests in flight (count: 1, allowed: 1).")
}
