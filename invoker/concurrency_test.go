package invoker_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/messaging"
)

// barrierAction runs until `want` activations run in its container at the
// same time (or 10 s passed), logging on both streams, including a line
// written in two parts around an await. Its result names its container
// (a token drawn when the code was loaded) and the most activations it saw
// running together.
const barrierAction = `
const token = Math.random().toString(36).slice(2);
let inflight = 0, most = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function main(p) {
  inflight++;
  most = Math.max(most, inflight);
  console.log('start ' + p.i);
  process.stdout.write('partial ' + p.i);
  await sleep(5);
  process.stdout.write(' finished ' + p.i + '\n');
  console.error('err ' + p.i);
  const until = Date.now() + 10000;
  while (most < p.want && Date.now() < until) await sleep(10);
  if (p.hang) await new Promise(() => {});
  if (p.sleep) await sleep(p.sleep);
  console.log('end ' + p.i);
  inflight--;
  return {token, most, i: p.i};
}`

type barrierResult struct {
	Token string `json:"token"`
	Most  int    `json:"most"`
	I     int    `json:"i"`
}

// startAll hands every message to the invoker at once and waits for all
// their completions.
func (r *rig) startAll(t *testing.T, msgs []messaging.ActivationMessage) {
	t.Helper()
	var wg sync.WaitGroup
	for _, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.invoke(t, m)
		}()
	}
	wg.Wait()
}

func barrierResultOf(t *testing.T, act *api.Activation) barrierResult {
	t.Helper()
	var res barrierResult
	if act.Response.StatusCode != api.StatusSuccess || json.Unmarshal(act.Response.Result, &res) != nil {
		t.Fatalf("activation %s: status %d result %s", act.ActivationID, act.Response.StatusCode, act.Response.Result)
	}
	return res
}

// streamLines splits stored log lines by stream, without timestamps.
func streamLines(t *testing.T, logs []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, l := range logTexts(t, logs) {
		stream, text, _ := cutStream(l)
		out[stream] = append(out[stream], text)
	}
	return out
}

func cutStream(l string) (string, string, bool) {
	for _, s := range []string{"stdout", "stderr"} {
		if len(l) > len(s)+2 && l[:len(s)+2] == s+": " {
			return s, l[len(s)+2:], true
		}
	}
	return "", l, false
}

// TestConcurrentActivationsShareAContainer: a nodejs action with
// limits.concurrency 5 runs five activations in one container at the same
// time, and each record has exactly its own log lines.
func TestConcurrentActivationsShareAContainer(t *testing.T) {
	requireBin(t, "node")
	r := newRig(t)
	const n = 5
	rev := r.putAction(t, "together", barrierAction, actionOpts{concurrency: n})
	var msgs []messaging.ActivationMessage
	for i := range n {
		msgs = append(msgs, message("together", rev, false, fmt.Sprintf(`{"i":%d,"want":%d}`, i, n)))
	}
	r.startAll(t, msgs)
	var tokens []string
	for i, m := range msgs {
		act := r.record(t, m.ActivationID)
		res := barrierResultOf(t, act)
		tokens = append(tokens, res.Token)
		if res.Most != n {
			t.Errorf("activation %d saw at most %d activations running together, want %d", i, res.Most, n)
		}
		got := streamLines(t, act.Logs)
		wantOut := []string{fmt.Sprintf("start %d", i), fmt.Sprintf("partial %d finished %d", i, i), fmt.Sprintf("end %d", i)}
		wantErr := []string{fmt.Sprintf("err %d", i)}
		if !slices.Equal(got["stdout"], wantOut) || !slices.Equal(got["stderr"], wantErr) || len(got) != 2 {
			t.Errorf("activation %d logs %q, want stdout %q and stderr %q", i, act.Logs, wantOut, wantErr)
		}
	}
	if len(slices.Compact(slices.Clone(tokens))) != 1 {
		t.Errorf("the activations ran in containers %v, want one", tokens)
	}
}

// TestConcurrencyNeedsARuntimeThatAllowsIt: python runs one activation at a
// time per container whatever limits.concurrency says, so two overlapping
// activations use two containers.
func TestConcurrencyNeedsARuntimeThatAllowsIt(t *testing.T) {
	requireBin(t, "python3")
	r := newRig(t)
	rev := r.putAction(t, "py", `
import time, uuid
token = uuid.uuid4().hex
def main(args):
    time.sleep(0.5)
    return {"token": token}
`, actionOpts{kind: "python:3.11", concurrency: 5})
	msgs := []messaging.ActivationMessage{message("py", rev, false, `{}`), message("py", rev, false, `{}`)}
	r.startAll(t, msgs)
	var tokens []string
	for _, m := range msgs {
		act := r.record(t, m.ActivationID)
		var res struct{ Token string }
		if act.Response.StatusCode != api.StatusSuccess || json.Unmarshal(act.Response.Result, &res) != nil {
			t.Fatalf("status %d result %s", act.Response.StatusCode, act.Response.Result)
		}
		tokens = append(tokens, res.Token)
	}
	if tokens[0] == tokens[1] {
		t.Errorf("two overlapping python activations ran in the same container %s", tokens[0])
	}
}

// TestTimedOutActivationSparesItsSiblings: when one of the activations
// sharing a container runs out of time, one still running in it finishes
// with its own result; the container then goes, and the next activation
// gets a new one.
func TestTimedOutActivationSparesItsSiblings(t *testing.T) {
	requireBin(t, "node")
	r := newRig(t)
	rev := r.putAction(t, "sometimes", barrierAction, actionOpts{concurrency: 3, timeoutMs: 5000})
	// The sibling starts about 2 s after the hanging one and runs 4 s: it is
	// running when the hanging one times out (5 s), and ends within its own
	// time limit.
	hang := message("sometimes", rev, false, `{"i":0,"want":1,"hang":true}`)
	sibling := message("sometimes", rev, false, `{"i":1,"want":1,"sleep":4000}`)
	var wg sync.WaitGroup
	wg.Add(1)
	handed := time.Now()
	go func() { defer wg.Done(); r.invoke(t, hang) }()
	// The sibling joins the hanging one's container once that exists...
	eventually(t, 10*time.Second, "the hanging activation holds a container", func() bool { return r.inv.Pool().UsedMB() > 0 })
	// ...and 2 s after it started: the offset is the scenario's timing.
	time.Sleep(time.Until(handed.Add(2 * time.Second)))
	r.invoke(t, sibling)
	wg.Wait()

	wantResult(t, r.record(t, hang.ActivationID), api.StatusDeveloperError,
		`{"error":"The action exceeded its time limits of 5000 milliseconds."}`)
	res := barrierResultOf(t, r.record(t, sibling.ActivationID))
	if res.Most != 2 {
		t.Errorf("the sibling saw %d activations running together, want 2 (it shared the container)", res.Most)
	}
	next := message("sometimes", rev, true, `{"i":2,"want":1}`)
	if got := barrierResultOf(t, r.blocking(t, next)); got.Token == res.Token {
		t.Error("an activation ran in the container of an activation that timed out")
	}
}
