package alarms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// The three feeds of /whisk.system/alarms.
const (
	FeedAlarm    = "alarm"    // cron
	FeedInterval = "interval" // every N minutes
	FeedOnce     = "once"     // one date
)

// entityType marks schedule documents in the entities database.
const entityType = "alarm"

// docPrefix starts every schedule's document id: "alarms:<ns>/<trigger>".
// No entity id can start so (":" is not allowed in a namespace).
const docPrefix = "alarms:"

// docID is the schedule document id of trigger name in namespace ns.
func docID(ns, name string) string { return docPrefix + ns + "/" + name }

// Schedule is one trigger's alarm as stored, in the shape of upstream's
// alarm provider documents. Dates are kept as the client gave them (an
// ISO 8601 string or epoch milliseconds), as upstream reports them back.
// It has no "parameters", "trigger", "exec" or "binding" field, so that no
// entity view lists it.
type Schedule struct {
	ID              string          `json:"_id,omitempty"`
	Rev             string          `json:"_rev,omitempty"`
	EntityType      string          `json:"entityType"`
	Feed            string          `json:"feed"`
	APIKey          string          `json:"apikey"`
	Name            string          `json:"name"`
	Namespace       string          `json:"namespace"`
	Payload         json.RawMessage `json:"payload"`
	Cron            string          `json:"cron,omitempty"`
	Timezone        string          `json:"timezone,omitempty"`
	Strict          json.RawMessage `json:"strict,omitempty"`
	Minutes         int             `json:"minutes,omitempty"`
	Date            json.RawMessage `json:"date,omitempty"`
	DeleteAfterFire string          `json:"deleteAfterFire,omitempty"`
	StartDate       json.RawMessage `json:"startDate,omitempty"`
	StopDate        json.RawMessage `json:"stopDate,omitempty"`
	MaxTriggers     int             `json:"maxTriggers"`
	Status          Status          `json:"status"`
}

// Status says whether a schedule fires, and why not.
type Status struct {
	Active      bool    `json:"active"`
	DateChanged int64   `json:"dateChanged"`
	Reason      *Reason `json:"reason,omitempty"`
}

// Reason explains a disabled schedule. Kind is AUTO (the service disabled
// it) or USER (paused through the PAUSE lifecycle event).
type Reason struct {
	Kind       string `json:"kind"`
	StatusCode int    `json:"statusCode,omitempty"`
	Message    string `json:"message"`
}

// feedError is a lifecycle failure the feed reports in its result, with
// upstream's message.
type feedError struct{ msg string }

func (e *feedError) Error() string { return e.msg }

func failf(format string, args ...any) error { return &feedError{msg: fmt.Sprintf(format, args...)} }

// params are a lifecycle invocation's arguments.
type params map[string]json.RawMessage

// str is a parameter as a string ("" when absent or not a string).
func (p params) str(key string) string {
	var s string
	_ = json.Unmarshal(p[key], &s)
	return s
}

// truthy is JavaScript's truthiness of a parameter.
func (p params) truthy(key string) bool {
	raw := bytes.TrimSpace(p[key])
	if len(raw) == 0 {
		return false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case float64:
		return t != 0 && !math.IsNaN(t)
	case string:
		return t != ""
	}
	return true
}

// has reports whether a parameter is present (even null or false).
func (p params) has(key string) bool { _, ok := p[key]; return ok }

// display is a parameter as JavaScript would print it in a message.
func display(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// payloadOf is upstream's trigger payload from trigger_payload: a string
// becomes {"payload": s}, an object stays, nothing (or a falsy value) is
// {}. Another value is wrapped like a string, so that every fire carries an
// object.
func payloadOf(p params) json.RawMessage {
	if !p.truthy("trigger_payload") {
		return json.RawMessage(`{}`)
	}
	raw := bytes.TrimSpace(p["trigger_payload"])
	if raw[0] == '{' {
		return raw
	}
	b, _ := json.Marshal(map[string]json.RawMessage{"payload": raw})
	return b
}

// dateLayouts are the ISO 8601 forms JavaScript's Date accepts; those
// without a zone are UTC for a date alone and local time otherwise, as in
// JavaScript.
var dateLayouts = []struct {
	layout string
	local  bool
}{
	{time.RFC3339Nano, false},
	{"2006-01-02T15:04Z07:00", false},
	{"2006-01-02T15:04:05.999999999", true},
	{"2006-01-02T15:04", true},
	{"2006-01-02", false},
	{"2006-01", false},
	{"2006", false},
}

// parseDate reads a date parameter: epoch milliseconds or an ISO 8601 string.
func parseDate(raw json.RawMessage) (time.Time, bool) {
	var ms float64
	if json.Unmarshal(raw, &ms) == nil {
		if math.Abs(ms) > 8.64e15 {
			return time.Time{}, false
		}
		return time.UnixMilli(int64(ms)), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}, false
	}
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		loc := time.UTC
		if l.local {
			loc = time.Local
		}
		if t, err := time.ParseInLocation(l.layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// validateDate is upstream's check of a date parameter: valid, in the
// future and, when start is given, after it.
func validateDate(raw json.RawMessage, name string, now time.Time, start json.RawMessage) (time.Time, error) {
	t, ok := parseDate(raw)
	switch {
	case !ok:
		return t, failf("%s parameter '%s' is not a valid Date", name, display(raw))
	case !t.After(now):
		return t, failf("%s parameter '%s' must be in the future", name, display(raw))
	}
	if start != nil {
		if st, ok := parseDate(start); ok && !t.After(st) {
			return t, failf("%s parameter '%s' must be greater than the startDate parameter '%s'", name, display(raw), display(start))
		}
	}
	return t, nil
}

// cronParser reads upstream's cron patterns: five fields, or six with
// seconds first.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// parseCron parses a pattern and a time zone (default UTC).
func parseCron(pattern, timezone string) (cron.Schedule, *time.Location, error) {
	loc := time.UTC
	if timezone != "" {
		l, err := time.LoadLocation(timezone)
		if err != nil {
			return nil, nil, failf("Invalid timezone.")
		}
		loc = l
	}
	sched, err := cronParser.Parse(strings.TrimSpace(pattern))
	if err != nil || strings.HasPrefix(strings.TrimSpace(pattern), "@") {
		return nil, nil, failf("cron pattern '%s' is not valid", pattern)
	}
	return sched, loc, nil
}

// newSchedule builds and validates a schedule from a CREATE invocation's
// parameters, with upstream's messages, in upstream's order.
func newSchedule(feed string, p params, now time.Time) (*Schedule, error) {
	s := &Schedule{EntityType: entityType, Feed: feed, Payload: payloadOf(p), MaxTriggers: -1,
		Status: Status{Active: true, DateChanged: now.UnixMilli()}}
	if p.truthy("maxTriggers") {
		n, err := intParam(p["maxTriggers"])
		if err != nil || n == 0 {
			return nil, failf("the maxTriggers parameter must be an integer")
		}
		s.MaxTriggers = n
	}
	if feed == FeedOnce {
		if !p.truthy("date") {
			return nil, failf("alarms once trigger feed is missing the date parameter")
		}
		if _, err := validateDate(p["date"], "date", now, nil); err != nil {
			return nil, err
		}
		s.Date = p["date"]
		if p.truthy("deleteAfterFire") {
			d, err := deleteAfterFire(p["deleteAfterFire"])
			if err != nil {
				return nil, err
			}
			s.DeleteAfterFire = d
		}
		return s, nil
	}
	var cronSched cron.Schedule
	var loc *time.Location
	if feed == FeedInterval {
		if !p.truthy("minutes") {
			return nil, failf("interval trigger feed is missing the minutes parameter")
		}
		m, err := minutes(p["minutes"])
		if err != nil {
			return nil, err
		}
		s.Minutes = m
	} else {
		if !p.truthy("cron") {
			return nil, failf("alarms trigger feed is missing the cron parameter")
		}
		s.Cron, s.Timezone = p.str("cron"), p.str("timezone")
		var err error
		if cronSched, loc, err = parseCron(s.Cron, s.Timezone); err != nil {
			return nil, err
		}
		if p.has("strict") {
			s.Strict = p["strict"]
		}
	}
	if p.truthy("startDate") {
		if _, err := validateDate(p["startDate"], "startDate", now, nil); err != nil {
			return nil, err
		}
		s.StartDate = p["startDate"]
	} else if feed == FeedInterval {
		// Upstream starts an interval 30 s from now when no start is given.
		s.StartDate = json.RawMessage(strconv.FormatInt(now.Add(30*time.Second).UnixMilli(), 10))
	}
	switch {
	case p.truthy("maxTriggers") && p.truthy("stopDate"):
		if feed == FeedInterval {
			return nil, failf("maxTriggers is not supported for the interval trigger feed")
		}
		return nil, failf("maxTriggers is not allowed when the stopDate parameter is specified")
	case p.truthy("stopDate"):
		stop, err := validateDate(p["stopDate"], "stopDate", now, s.StartDate)
		if err != nil {
			return nil, err
		}
		s.StopDate = p["stopDate"]
		if cronSched != nil && cronSched.Next(now.In(loc)).After(stop) {
			return nil, failf("the first scheduled trigger fire is not until after the stop date")
		}
	}
	return s, nil
}

// update applies an UPDATE invocation's parameters to a copy of s, with
// upstream's rules and messages; the result is active again.
func (s *Schedule) update(p params, now time.Time) (*Schedule, error) {
	u := *s
	changed := false
	if p.truthy("trigger_payload") {
		u.Payload, changed = payloadOf(p), true
	}
	if s.Feed == FeedOnce {
		if p.truthy("date") {
			if _, err := validateDate(p["date"], "date", now, nil); err != nil {
				return nil, err
			}
			u.Date, changed = p["date"], true
		}
		if p.truthy("deleteAfterFire") {
			d, err := deleteAfterFire(p["deleteAfterFire"])
			if err != nil {
				return nil, err
			}
			u.DeleteAfterFire, changed = d, true
		}
	} else {
		if s.Feed == FeedInterval {
			if p.truthy("minutes") {
				m, err := minutes(p["minutes"])
				if err != nil {
					return nil, err
				}
				u.Minutes, changed = m, true
			}
		} else {
			if p.truthy("cron") || p.truthy("timezone") {
				pattern, tz := s.Cron, s.Timezone
				if p.truthy("cron") {
					pattern = p.str("cron")
				}
				if p.truthy("timezone") {
					tz = p.str("timezone")
				}
				if _, _, err := parseCron(pattern, tz); err != nil {
					return nil, err
				}
				u.Cron, u.Timezone, changed = pattern, tz, true
			}
			if p.has("strict") {
				u.Strict, changed = p["strict"], true
			}
		}
		if p.truthy("startDate") {
			if _, err := validateDate(p["startDate"], "startDate", now, nil); err != nil {
				return nil, err
			}
			u.StartDate, changed = p["startDate"], true
		}
		if p.truthy("stopDate") {
			start := s.StartDate
			if p.truthy("startDate") {
				start = p["startDate"]
			}
			if _, err := validateDate(p["stopDate"], "stopDate", now, start); err != nil {
				return nil, err
			}
			u.StopDate, changed = p["stopDate"], true
		} else if p.truthy("startDate") && s.StopDate != nil {
			st, _ := parseDate(p["startDate"])
			if stop, ok := parseDate(s.StopDate); ok && !st.Before(stop) {
				return nil, failf("startDate parameter '%s' must be less than the stopDate parameter '%s'", display(p["startDate"]), display(s.StopDate))
			}
		}
	}
	if !changed {
		return nil, failf("no updatable parameters were specified")
	}
	u.Status = Status{Active: true, DateChanged: now.UnixMilli()}
	return &u, nil
}

func deleteAfterFire(raw json.RawMessage) (string, error) {
	d := strings.ToLower(strings.TrimSpace(display(raw)))
	switch d {
	case "false", "true", "rules":
		return d, nil
	}
	return "", failf("deleteAfterFire parameter must be one of [false, true, rules].")
}

// intParam reads an integer given as a number or a numeric string.
func intParam(raw json.RawMessage) (int, error) {
	var f float64
	if json.Unmarshal(raw, &f) != nil {
		s := display(raw)
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			return 0, err
		}
	}
	if f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return 0, fmt.Errorf("%v is not an integer", f)
	}
	return int(f), nil
}

// minutes is upstream's check of the interval length.
func minutes(raw json.RawMessage) (int, error) {
	m, err := intParam(raw)
	if err != nil {
		return 0, failf("the minutes parameter must be an integer")
	}
	if m <= 0 {
		return 0, failf("the minutes parameter must be an integer greater than zero")
	}
	return m, nil
}

// timer is an armed schedule: when it fires next.
type timer struct {
	cron cron.Schedule
	loc  *time.Location
	// start and stop bound the fires (zero: unbounded).
	start, stop time.Time
	once        time.Time
	every       time.Duration
}

// arm prepares s for firing at now, or says why it can never fire (with
// upstream's messages).
func (s *Schedule) arm(now time.Time) (*timer, error) {
	t := &timer{}
	if s.StartDate != nil {
		t.start, _ = parseDate(s.StartDate)
	}
	if s.StopDate != nil {
		stop, ok := parseDate(s.StopDate)
		if ok {
			if !stop.After(now) {
				return nil, fmt.Errorf("the stop date has expired")
			}
			t.stop = stop
		}
	}
	switch s.Feed {
	case FeedOnce:
		d, ok := parseDate(s.Date)
		if !ok || !d.After(now) {
			return nil, fmt.Errorf("the fire once date has expired")
		}
		t.once = d
	case FeedInterval:
		if s.Minutes <= 0 {
			return nil, fmt.Errorf("the minutes parameter must be an integer greater than zero")
		}
		t.every = time.Duration(s.Minutes) * time.Minute
		if t.start.IsZero() {
			t.start = now
		}
	default:
		c, loc, err := parseCron(s.Cron, s.Timezone)
		if err != nil {
			return nil, err
		}
		t.cron, t.loc = c, loc
	}
	if next := t.next(now); next.IsZero() {
		return nil, fmt.Errorf("the next scheduled trigger fire is after the stop date")
	}
	return t, nil
}

// next is the first fire strictly after after, or zero when there is none
// (past the stop date, or a once alarm that has fired).
func (t *timer) next(after time.Time) time.Time {
	var n time.Time
	switch {
	case !t.once.IsZero():
		if t.once.After(after) {
			n = t.once
		}
	case t.every > 0:
		// Fires at start, start+every, ... (upstream's interval).
		if after.Before(t.start) {
			n = t.start
		} else {
			k := after.Sub(t.start)/t.every + 1
			n = t.start.Add(k * t.every)
		}
	default:
		from := after
		if !t.start.IsZero() && from.Before(t.start) {
			from = t.start.Add(-time.Nanosecond)
		}
		n = t.cron.Next(from.In(t.loc))
	}
	if n.IsZero() || (!t.stop.IsZero() && n.After(t.stop)) {
		return time.Time{}
	}
	return n
}
