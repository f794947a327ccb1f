package wskcompat

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// concurrentBlackbox is the same for a blackbox action: every run is its own
// process, so they meet through files in the container's action directory.
// It uses shell builtins only (the blackbox image has /bin/sh and nothing
// else).
const concurrentBlackbox = `#!/bin/sh
i=${1#*\"i\":}
i=${i# }
i=${i%%[!0-9]*}
echo "start $i"
: > "running.$i"
n=0
set -- running.*
while [ $# -lt 3 ] && [ $n -lt 300000 ]; do n=$((n+1)); set -- running.*; done
echo "middle $i" >&2
echo "end $i"
set -- running.*
echo "{\"token\": \"$PWD\", \"most\": $#, \"i\": $i}"
`

// TestConcurrency: actions with limits.concurrency > 1 run that many
// activations in one container at the same time (nodejs and blackbox), each
// record with exactly its own logs; the limit's range is upstream's shape.
func TestConcurrency(t *testing.T) {
	srv := harness.Start(t)
	c := srv.Client

	t.Run("Nodejs", func(t *testing.T) {
		testConcurrentActivations(t, c, newAction(uniqueName("conc"), kindNode, actionSource(t, "nodejs/barrier.js")), 5)
	})
	t.Run("Blackbox", func(t *testing.T) {
		a := &whisk.Action{Name: uniqueName("concbb"), Exec: &whisk.Exec{Kind: "blackbox", Image: "brisk/dockerskeleton", Code: strPtr(concurrentBlackbox)}}
		testConcurrentActivations(t, c, a, 3)
	})
	t.Run("OutOfRange", func(t *testing.T) {
		for _, n := range []int{0, 501} {
			a := newAction(uniqueName("concbad"), kindNode, actionSource(t, "nodejs/barrier.js"))
			a.Limits = &whisk.Limits{Concurrency: intPtr(n)}
			_, resp, err := c.Actions.Insert(a, false)
			if resp == nil || resp.StatusCode != http.StatusBadRequest || err == nil {
				t.Fatalf("concurrency %d: status %s, %v; want 400", n, status(resp), err)
			}
			want := fmt.Sprintf("concurrency %d exceeds allowed threshold of 500", n)
			if n < 1 {
				want = "concurrency 0 below allowed threshold of 1"
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("concurrency %d: error %q, want %q", n, err, want)
			}
		}
	})
}

func testConcurrentActivations(t *testing.T, c *whisk.Client, a *whisk.Action, n int) {
	a.Limits = &whisk.Limits{Concurrency: intPtr(n)}
	got := mustInsert(t, c, a, false)
	if got.Limits == nil || got.Limits.Concurrency == nil || *got.Limits.Concurrency != n {
		t.Fatalf("created action limits %+v, want concurrency %d", got.Limits, n)
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, resp, err := invokeBlocking(t, c, a.Name, map[string]any{"i": i, "want": n})
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("invoke %d: status %s: %v", i, status(resp), err)
				return
			}
			ids[i] = rec.ActivationID
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var tokens []string
	for i, id := range ids {
		act := waitActivation(t, c, id, true)
		res := resultOf(t, act)
		tokens = append(tokens, fmt.Sprint(res["token"]))
		if res["most"] != float64(n) {
			t.Errorf("activation %d saw %v activations running together, want %d", i, res["most"], n)
		}
		var stdout, stderr []string
		for _, l := range act.Logs {
			m := logLineRe.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("log line %q is not in the stored format", l)
				continue
			}
			if m[2] == "stdout" {
				stdout = append(stdout, m[3])
			} else {
				stderr = append(stderr, m[3])
			}
		}
		wantOut, wantErr := []string{fmt.Sprintf("start %d", i), fmt.Sprintf("end %d", i)}, []string{fmt.Sprintf("middle %d", i)}
		if !slices.Equal(stdout, wantOut) || !slices.Equal(stderr, wantErr) {
			t.Errorf("activation %d logs %q, want stdout %q and stderr %q", i, act.Logs, wantOut, wantErr)
		}
	}
	if len(slices.Compact(slices.Clone(tokens))) != 1 {
		t.Errorf("the activations ran in containers %v, want one", tokens)
	}
}
