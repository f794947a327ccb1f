package cluster

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The checker of the Raft fault tests: over the records those tests read
// back, each accepted activation has exactly one record, and each alarm
// tick fired at most once, with the ticks missed only inside the failure
// windows.

// checkOneRecordEach checks that every accepted activation id has exactly
// one record (recs: id → number of records).
func checkOneRecordEach(accepted []string, recs map[string]int) error {
	var missing, doubled []string
	for _, id := range accepted {
		switch n := recs[id]; {
		case n == 0:
			missing = append(missing, id)
		case n > 1:
			doubled = append(doubled, fmt.Sprintf("%s×%d", id, n))
		}
	}
	if len(missing)+len(doubled) > 0 {
		return fmt.Errorf("%d of %d accepted activations without a record (%s), %d with more than one (%s)",
			len(missing), len(accepted), strings.Join(first(missing, 5), " "), len(doubled), strings.Join(first(doubled, 5), " "))
	}
	return nil
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// window is a span of time in which alarm ticks may be missed.
type window struct {
	name     string
	from, to time.Time
}

// checkTicks checks the fires (trigger activation start times) of an alarm
// ticking every period: no tick fires twice, and every tick in (from, to]
// that did not fire lies inside one of the windows. A fire belongs to the
// tick it follows (fires come within a period of their tick).
func checkTicks(fires []time.Time, period time.Duration, from, to time.Time, windows []window) error {
	fired := map[time.Time]int{}
	var problems []string
	for _, f := range fires {
		tick := f.Truncate(period)
		fired[tick]++
		if fired[tick] == 2 {
			problems = append(problems, fmt.Sprintf("tick %s fired twice", tick.Format("15:04:05")))
		}
	}
	for tick := from.Truncate(period).Add(period); !tick.After(to); tick = tick.Add(period) {
		if fired[tick] > 0 {
			continue
		}
		if !slices.ContainsFunc(windows, func(w window) bool { return !tick.Before(w.from) && !tick.After(w.to) }) {
			problems = append(problems, fmt.Sprintf("tick %s missed outside the failure windows", tick.Format("15:04:05")))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d fires from %s to %s: %s", len(fires), from.Format("15:04:05"), to.Format("15:04:05"),
			strings.Join(problems, "; "))
	}
	return nil
}

func TestCheckers(t *testing.T) {
	if err := checkOneRecordEach([]string{"a", "b"}, map[string]int{"a": 1, "b": 1, "x": 3}); err != nil {
		t.Errorf("one record each: %v", err)
	}
	if err := checkOneRecordEach([]string{"a", "b", "c"}, map[string]int{"a": 1, "b": 2}); err == nil ||
		!strings.Contains(err.Error(), "1 of 3 accepted activations without a record (c), 1 with more than one (b×2)") {
		t.Errorf("a missing and a doubled record: %v", err)
	}

	base := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	at := func(s, ms int) time.Time {
		return base.Add(time.Duration(s)*time.Second + time.Duration(ms)*time.Millisecond)
	}
	every2s := []time.Time{at(2, 30), at(4, 20), at(6, 50), at(8, 10)}
	if err := checkTicks(every2s, 2*time.Second, at(0, 0), at(8, 500), nil); err != nil {
		t.Errorf("every tick once: %v", err)
	}
	twice := append(slices.Clone(every2s), at(4, 900))
	if err := checkTicks(twice, 2*time.Second, at(0, 0), at(8, 500), nil); err == nil || !strings.Contains(err.Error(), "tick 10:00:04 fired twice") {
		t.Errorf("a tick fired twice: %v", err)
	}
	gap := []time.Time{at(2, 30), at(8, 10)}
	if err := checkTicks(gap, 2*time.Second, at(0, 0), at(8, 500), nil); err == nil || !strings.Contains(err.Error(), "tick 10:00:04 missed") {
		t.Errorf("missed ticks: %v", err)
	}
	if err := checkTicks(gap, 2*time.Second, at(0, 0), at(8, 500), []window{{"failover", at(3, 0), at(7, 0)}}); err != nil {
		t.Errorf("ticks missed inside a window: %v", err)
	}
}
