package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/brisk-serverless/brisk/controller/alarms"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// tickPeriod is the test alarm's period (cron */2 seconds).
const tickPeriod = 2 * time.Second

// doJSON sends a request as auth with a JSON body and returns the status and body.
func doJSON(method, u, auth string, body any) (int, string, error) {
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return 0, "", err
	}
	user, pass, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String(), err
}

// createAlarm creates trigger name with the built-in alarm feed (cron
// every two seconds), as `wsk trigger create --feed` does, and a rule to
// action.
func createAlarm(t *testing.T, apiHost, name, action string) {
	t.Helper()
	ns := apiHost + "/api/v1/namespaces/_/"
	steps := []struct {
		method, url string
		body        any
	}{
		{http.MethodPut, ns + "triggers/" + name, map[string]any{"annotations": []any{map[string]any{"key": "feed", "value": "/whisk.system/alarms/alarm"}}}},
		{http.MethodPost, apiHost + "/api/v1/namespaces/whisk.system/actions/alarms/alarm?blocking=true&result=true",
			map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/_/" + name, "authKey": harness.GuestAuth, "cron": "*/2 * * * * *"}},
		{http.MethodPut, ns + "rules/" + name + "-rule", map[string]any{"trigger": "/_/" + name, "action": "/_/" + action}},
	}
	for _, s := range steps {
		st, body, err := doJSON(s.method, s.url, harness.GuestAuth, s.body)
		if err != nil || st != http.StatusOK || strings.Contains(body, `"error"`) {
			t.Fatalf("%s %s: %d %s %v", s.method, s.url, st, body, err)
		}
	}
}

// listActivations lists every record named name: activation id → count,
// and the start times.
func listActivations(client *whisk.Client, name string) (map[string]int, []time.Time, error) {
	ids := map[string]int{}
	var starts []time.Time
	for skip := 0; ; skip += 200 {
		acts, _, err := client.Activations.List(&whisk.ActivationListOptions{Name: name, Limit: 200, Skip: skip})
		if err != nil {
			return nil, nil, err
		}
		for _, a := range acts {
			ids[a.ActivationID]++
			starts = append(starts, time.UnixMilli(a.Start))
		}
		if len(acts) < 200 {
			return ids, starts, nil
		}
	}
}

// alarmTicks lists the ticks the alarm trigger name fired for, from its
// records' alarmTick annotation.
func alarmTicks(client *whisk.Client, name string) ([]time.Time, error) {
	var ticks []time.Time
	for skip := 0; ; skip += 200 {
		acts, _, err := client.Activations.List(&whisk.ActivationListOptions{Name: name, Limit: 200, Skip: skip, Docs: true})
		if err != nil {
			return nil, err
		}
		for _, a := range acts {
			v := a.Annotations.GetValue(alarms.TickAnnotation)
			ms, err := strconv.ParseFloat(fmt.Sprint(v), 64) // the client decodes numbers as it likes
			if v == nil || err != nil {
				return nil, fmt.Errorf("trigger activation %s has no %s annotation: %v", a.ActivationID, alarms.TickAnnotation, a.Annotations)
			}
			ticks = append(ticks, time.UnixMilli(int64(ms)))
		}
		if len(acts) < 200 {
			return ticks, nil
		}
	}
}

// load invokes action blocking through the given controllers, two clients
// each, until stop is closed; it returns the ids of the accepted
// activations and the failures.
func load(apiHosts []string, action string, stop <-chan struct{}, progress *atomic.Int64) (accepted []string, failures []string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, host := range apiHosts {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					st, body, err := invokeRaw(host, action, true, map[string]any{"name": action})
					mu.Lock()
					id, _ := body["activationId"].(string)
					if err == nil && st == http.StatusOK && id != "" {
						accepted = append(accepted, id)
						progress.Add(1)
					} else {
						failures = append(failures, fmt.Sprintf("%s: %d %v %v", host, st, body, err))
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	return accepted, failures
}

// TestRaftFaults runs three controllers as one Raft group and two invokers
// on real Kafka, with a two-second cron alarm ticking throughout, through
// three faults in turn:
//
//  1. the leader is killed (SIGKILL) under steady invokes through the other
//     two: a new leader within 5 s, no failed invoke, every accepted
//     activation with exactly one record; the killed one restarts and
//     follows;
//  2. the leader is frozen (SIGSTOP) for 20 s: the others elect a leader;
//     thawed, it steps down and follows;
//  3. two of three controllers stop: the survivor still invokes, shows no
//     leader, and the alarm pauses; both restart and the alarm resumes.
//
// Over the whole run no alarm tick fires twice, and ticks are missed only
// inside the failure windows.
func TestRaftFaults(t *testing.T) {
	c := startClusterOf(t, startKafka(t), nil, 3)
	client := newClient(t, c.apiHost)
	createSleeper(t, client, "noop")
	createAlarm(t, c.apiHost, "tick", "noop")
	alarmFrom := time.Now()
	var windows []window

	// 1. The leader dies under load.
	leader := c.leader(nil)
	var others []string
	for i, h := range c.apiHosts {
		if i != leader {
			others = append(others, h)
		}
	}
	stop := make(chan struct{})
	type result struct{ accepted, failures []string }
	done := make(chan result, 1)
	var progress atomic.Int64
	go func() { a, f := load(others, "noop", stop, &progress); done <- result{a, f} }()
	// Steady load before the fault: wait until it has run a while.
	eventually(t, time.Minute, func() error {
		if n := progress.Load(); n < 30 {
			return fmt.Errorf("%d invokes accepted before the fault", n)
		}
		return nil
	})
	killed := time.Now()
	c.ctls[leader].stop(syscall.SIGKILL)
	second := c.leader(map[int]bool{leader: true})
	failover := time.Since(killed)
	windows = append(windows, window{"leader killed", killed.Add(-tickPeriod), time.Now().Add(2 * tickPeriod)})
	t.Logf("controller%d killed; controller%d leads after %s", leader, second, failover.Round(time.Millisecond))
	if failover > 5*time.Second {
		t.Errorf("a new leader took %s, want within 5 s", failover)
	}
	// The load goes on under the new leader.
	before := progress.Load()
	eventually(t, time.Minute, func() error {
		if n := progress.Load() - before; n < 30 {
			return fmt.Errorf("%d invokes accepted under the new leader", n)
		}
		return nil
	})
	close(stop)
	res := <-done
	if len(res.failures) > 0 {
		t.Errorf("%d of %d invokes failed on the surviving controllers: %s", len(res.failures),
			len(res.failures)+len(res.accepted), strings.Join(first(res.failures, 3), "; "))
	}
	if len(res.accepted) < 10 {
		t.Fatalf("only %d invokes accepted under load", len(res.accepted))
	}
	client = newClient(t, c.apiHosts[second]) // a controller that stays up
	eventually(t, time.Minute, func() error {
		recs, _, err := listActivations(client, "noop")
		if err != nil {
			return err
		}
		return checkOneRecordEach(res.accepted, recs)
	})
	c.startController(leader)
	c.waitPing(leader)
	if got := c.leader(nil); got != second {
		t.Errorf("after the restart controller%d leads, want controller%d still", got, second)
	}

	// 2. The leader freezes for 20 s.
	frozen := second
	frozeAt := time.Now()
	if err := syscall.Kill(-c.ctls[frozen].cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	third := c.leader(map[int]bool{frozen: true})
	windows = append(windows, window{"leader frozen", frozeAt.Add(-tickPeriod), time.Now().Add(2 * tickPeriod)})
	t.Logf("controller%d frozen; controller%d leads after %s", frozen, third, time.Since(frozeAt).Round(time.Millisecond))
	time.Sleep(time.Until(frozeAt.Add(20 * time.Second))) // the fault lasts 20 s: the scenario's timing
	if err := syscall.Kill(-c.ctls[frozen].cmd.Process.Pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if got := c.leader(nil); got == frozen {
		t.Errorf("the thawed controller%d leads again at once", frozen)
	}
	eventually(t, 30*time.Second, func() error {
		list, err := c.controllers(frozen)
		if err != nil {
			return err
		}
		for _, s := range list {
			if s.ID == strconv.Itoa(frozen) && s.State != "follower" {
				return fmt.Errorf("the thawed controller%d is %s", frozen, s.State)
			}
		}
		return nil
	})

	// 3. A majority stops: two of three controllers.
	survivor := 3 - third - frozen // the leader stops too; the thawed one may still be marking invokers up
	var down []int
	for i := range c.ctls {
		if i != survivor {
			down = append(down, i)
		}
	}
	lostAt := time.Now()
	for _, i := range down {
		c.ctls[i].stop(syscall.SIGKILL)
	}
	eventually(t, 30*time.Second, func() error {
		l, err := c.leaderSeenBy(survivor)
		if err == nil && l != "" {
			err = fmt.Errorf("controller%d still sees leader %s", survivor, l)
		}
		return err
	})
	paused := time.Now().Add(tickPeriod) // a tick committed just before may still fire
	if st, body, err := invokeRaw(c.apiHosts[survivor], "noop", true, map[string]any{"name": "noop"}); err != nil || st != http.StatusOK {
		t.Errorf("invoke through controller%d without quorum: %d %v %v", survivor, st, body, err)
	}
	time.Sleep(3 * tickPeriod) // a negative observation: no tick fires without a leader for 3 periods
	resumeFrom := time.Now()
	client = newClient(t, c.apiHosts[survivor]) // its controller stays up
	_, starts, err := listActivations(client, "tick")
	if err != nil {
		t.Fatal(err)
	}
	if n := slices.IndexFunc(starts, func(s time.Time) bool { return s.After(paused) }); n >= 0 {
		t.Errorf("the alarm fired at %s without a leader", starts[n].Format("15:04:05.000"))
	}
	for _, i := range down {
		c.startController(i)
	}
	for _, i := range down {
		c.waitPing(i)
	}
	c.leader(nil)
	windows = append(windows, window{"quorum lost", lostAt.Add(-tickPeriod), time.Now().Add(2 * tickPeriod)})
	eventually(t, 30*time.Second, func() error {
		_, starts, err := listActivations(client, "tick")
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(starts, func(s time.Time) bool { return s.After(resumeFrom) }) {
			return fmt.Errorf("no tick since quorum returned")
		}
		return nil
	})

	// Every tick at most once; missed ticks only inside the windows. Each
	// fire's record names its tick (the alarmTick annotation): a fire may
	// come a little after its tick.
	alarmTo := time.Now().Add(-tickPeriod) // fires of the last tick may be on their way
	eventually(t, 30*time.Second, func() error {
		ticks, err := alarmTicks(client, "tick")
		if err != nil {
			return err
		}
		var inRun []time.Time
		for _, s := range ticks {
			if !s.After(alarmTo) {
				inRun = append(inRun, s)
			}
		}
		return checkTicks(inRun, tickPeriod, alarmFrom.Add(2*tickPeriod), alarmTo, windows)
	})
}
