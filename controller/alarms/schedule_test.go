package alarms

import (
	"encoding/json"
	"testing"
	"time"
)

func mustParams(t *testing.T, s string) params {
	t.Helper()
	p := params{}
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewScheduleValidation(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		feed, params, want string
	}{
		{FeedAlarm, `{}`, "alarms trigger feed is missing the cron parameter"},
		{FeedAlarm, `{"cron":"bad"}`, "cron pattern 'bad' is not valid"},
		{FeedAlarm, `{"cron":"* * * *"}`, "cron pattern '* * * *' is not valid"},
		{FeedAlarm, `{"cron":"* * * * *","timezone":"Mars/Olympus"}`, "Invalid timezone."},
		{FeedAlarm, `{"cron":"* * * * *","startDate":"nope"}`, "startDate parameter 'nope' is not a valid Date"},
		{FeedAlarm, `{"cron":"* * * * *","startDate":"2029-01-01T00:00:00Z"}`, "startDate parameter '2029-01-01T00:00:00Z' must be in the future"},
		{FeedAlarm, `{"cron":"* * * * *","startDate":"2030-02-01T00:00:00Z","stopDate":"2030-01-15T00:00:00Z"}`,
			"stopDate parameter '2030-01-15T00:00:00Z' must be greater than the startDate parameter '2030-02-01T00:00:00Z'"},
		{FeedAlarm, `{"cron":"0 0 1 6 *","stopDate":"2030-02-01T00:00:00Z"}`, "the first scheduled trigger fire is not until after the stop date"},
		{FeedAlarm, `{"cron":"* * * * *","maxTriggers":3,"stopDate":"2030-02-01T00:00:00Z"}`, "maxTriggers is not allowed when the stopDate parameter is specified"},
		{FeedInterval, `{}`, "interval trigger feed is missing the minutes parameter"},
		{FeedInterval, `{"minutes":2.5}`, "the minutes parameter must be an integer"},
		{FeedInterval, `{"minutes":"x"}`, "the minutes parameter must be an integer"},
		{FeedInterval, `{"minutes":-1}`, "the minutes parameter must be an integer greater than zero"},
		{FeedInterval, `{"minutes":1,"stopDate":1893456010000}`,
			"stopDate parameter '1893456010000' must be greater than the startDate parameter '1893456030000'"},
		{FeedOnce, `{}`, "alarms once trigger feed is missing the date parameter"},
		{FeedOnce, `{"date":1}`, "date parameter '1' must be in the future"},
		{FeedOnce, `{"date":"2031-01-01","deleteAfterFire":"maybe"}`, "deleteAfterFire parameter must be one of [false, true, rules]."},
	} {
		_, err := newSchedule(tc.feed, mustParams(t, tc.params), now)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s %s: err = %v, want %q", tc.feed, tc.params, err, tc.want)
		}
	}
}

func TestNewScheduleDefaults(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := newSchedule(FeedInterval, mustParams(t, `{"minutes":"2","trigger_payload":"hi"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Minutes != 2 || string(s.Payload) != `{"payload":"hi"}` || s.MaxTriggers != -1 || !s.Status.Active {
		t.Errorf("interval = %+v", s)
	}
	// No startDate: the first fire is 30 s from now, then every 2 minutes.
	tm, err := s.arm(now)
	if err != nil {
		t.Fatal(err)
	}
	first := tm.next(now)
	if want := now.Add(30 * time.Second); !first.Equal(want) {
		t.Errorf("first interval fire = %v, want %v", first, want)
	}
	if second := tm.next(first); !second.Equal(first.Add(2 * time.Minute)) {
		t.Errorf("second interval fire = %v", second)
	}
	// After a restart in the middle of an interval, the next fire is on the grid.
	if got := tm.next(first.Add(3 * time.Minute)); !got.Equal(first.Add(4 * time.Minute)) {
		t.Errorf("resumed fire = %v, want %v", got, first.Add(4*time.Minute))
	}

	s, err = newSchedule(FeedAlarm, mustParams(t, `{"cron":"*/10 * * * * *","trigger_payload":{"a":1},"timezone":"Europe/Berlin"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	tm, err = s.arm(now)
	if err != nil {
		t.Fatal(err)
	}
	if got := tm.next(now.Add(time.Second)); !got.Equal(now.Add(10 * time.Second)) {
		t.Errorf("six-field cron next = %v", got)
	}
	s, _ = newSchedule(FeedAlarm, mustParams(t, `{"cron":"0 9 * * *","timezone":"Europe/Berlin"}`), now)
	tm, _ = s.arm(now)
	if got, want := tm.next(now), time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("09:00 Berlin = %v, want %v", got, want)
	}

	s, err = newSchedule(FeedOnce, mustParams(t, `{"date":"2030-01-01T00:01:00.000Z","deleteAfterFire":"Rules"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	tm, _ = s.arm(now)
	at := tm.next(now)
	if !at.Equal(now.Add(time.Minute)) || !tm.next(at).IsZero() || s.DeleteAfterFire != "rules" {
		t.Errorf("once: first %v, then %v, deleteAfterFire %q", at, tm.next(at), s.DeleteAfterFire)
	}
	if _, err := s.arm(now.Add(2 * time.Minute)); err == nil || err.Error() != "the fire once date has expired" {
		t.Errorf("arm after the date: %v", err)
	}
}

func TestScheduleUpdate(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _ := newSchedule(FeedAlarm, mustParams(t, `{"cron":"* * * * *"}`), now)
	s.Status = Status{Active: false, Reason: &Reason{Kind: "AUTO", Message: "x"}}
	if _, err := s.update(mustParams(t, `{"minutes":3}`), now); err == nil || err.Error() != "no updatable parameters were specified" {
		t.Errorf("update without cron parameters: %v", err)
	}
	u, err := s.update(mustParams(t, `{"cron":"0 * * * *","trigger_payload":{"b":2}}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if u.Cron != "0 * * * *" || string(u.Payload) != `{"b":2}` || !u.Status.Active || s.Cron != "* * * * *" {
		t.Errorf("updated = %+v (original %+v)", u, s)
	}
}
