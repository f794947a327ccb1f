package alarms_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/controller/alarms"
	"github.com/brisk-serverless/brisk/loadbalancer"
)

// ticks is a shared record of fired ticks, as the Raft group keeps it: a
// tick is accepted once.
type ticks struct {
	mu     sync.Mutex
	last   map[string]int64
	offers int
	fail   error
}

func (r *ticks) record(_ context.Context, schedule string, tick time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offers++
	if r.fail != nil {
		return false, r.fail
	}
	if tick.UnixMilli() <= r.last[schedule] {
		return false, nil
	}
	r.last[schedule] = tick.UnixMilli()
	return true, nil
}

func TestSchedulerOnTheLeaderOnly(t *testing.T) {
	// Two controllers on one store: the follower's feed action writes the
	// schedule, the leader's scheduler (two of them here, as in a split
	// brain) arms it on its next reload and fires each tick once.
	w := start(t, t.TempDir()) // the "follower", its scheduler running too
	rec := &ticks{last: map[string]int64{}}
	srv := controller.New(controller.Config{Manifest: api.DefaultManifest(), Limits: api.DefaultLimits()},
		w.store, loadbalancer.New(loadbalancer.Config{Log: quiet()}), quiet())
	leader, err := alarms.Start(t.Context(), alarms.Config{Store: w.store, Controller: srv, Log: quiet(), Standby: true, Record: rec.record})
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	w.svc.Close() // the follower's own scheduler stops: it stands by
	w.svc, err = alarms.Start(t.Context(), alarms.Config{Store: w.store, Controller: w.ctl, Log: quiet(), Standby: true, Record: rec.record})
	if err != nil {
		t.Fatal(err)
	}

	w.triggerWithRule("led")
	since := time.Now()
	if _, res := w.lifecycle("alarm", "CREATE", "led", map[string]any{"cron": "* * * * * *"}); res["status"] != "success" {
		t.Fatalf("CREATE = %v", res)
	}
	time.Sleep(1500 * time.Millisecond) // a negative observation: no fire within 1.5 s (the cron fires every second)
	if n := len(w.fires("led", since)); n != 0 {
		t.Fatalf("%d fires with no scheduler running", n)
	}

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, s := range []*alarms.Service{leader, w.svc} {
		wg.Add(1)
		go func() { defer wg.Done(); s.RunScheduler(ctx) }()
	}
	acts := w.waitFires("led", since, 3)
	stop()
	wg.Wait()
	seen := map[int64]bool{}
	for _, a := range acts {
		sec := a.Start / 1000
		if seen[sec] {
			t.Errorf("two fires in second %d: a tick fired twice", sec)
		}
		seen[sec] = true
	}
	rec.mu.Lock()
	offers := rec.offers
	rec.mu.Unlock()
	if offers < 2*len(acts)-1 {
		t.Errorf("%d ticks offered by two schedulers for %d fires: one of them did not run", offers, len(acts))
	}

	// A scheduler whose ticks cannot be recorded (a deposed leader) fires nothing.
	rec.mu.Lock()
	rec.fail = errors.New("not the leader")
	rec.mu.Unlock()
	ctx, stop = context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); leader.RunScheduler(ctx) }()
	deposed := time.Now()
	time.Sleep(2500 * time.Millisecond) // a negative observation: no fire within 2.5 s of being deposed
	stop()
	<-done
	if n := len(w.fires("led", deposed)); n != 0 {
		t.Errorf("%d fires from a scheduler that could not record its ticks", n)
	}
}
