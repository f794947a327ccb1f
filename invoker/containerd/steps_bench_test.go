package containerd_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/containerd"
	"github.com/brisk-serverless/brisk/invoker/containertest"
)

var stepsCode = map[string]string{
	"nodejs:20":   `function main(params) { return {ok: true}; }`,
	"python:3.11": "def main(args):\n    return {\"ok\": True}\n",
}

// BenchmarkColdStartSteps breaks a cold start down: the p50 of each step
// of Create (network namespace, root file system view, spec, container
// record, task (shim + runc create), start, the proxy listening), then
// /init and the first /run, and the total. b.N cold starts per kind (at
// least 5); `-benchtime 20x` gives 20.
func BenchmarkColdStartSteps(b *testing.B) {
	requireDaemon(b)
	f := newFactory(b)
	b.Cleanup(func() { f.Close() })
	var mu sync.Mutex
	var names []string
	var took []time.Duration
	containerd.OnCreateSteps(f, func(n []string, t []time.Duration) {
		mu.Lock()
		names, took = n, t
		mu.Unlock()
	})
	for _, kind := range []string{"nodejs:20", "python:3.11"} {
		b.Run(kind, func(b *testing.B) {
			samples := map[string][]time.Duration{}
			var order []string
			add := func(name string, d time.Duration) {
				if !slices.Contains(order, name) {
					order = append(order, name)
				}
				samples[name] = append(samples[name], d)
			}
			for range max(b.N, 5) {
				start := time.Now()
				c, err := f.Create(context.Background(), invoker.ContainerSpec{Name: "steps", Kind: kind, MemoryMB: 256})
				if err != nil {
					b.Fatal(err)
				}
				created := time.Now()
				mu.Lock()
				for i, name := range names {
					add(name, took[i])
				}
				mu.Unlock()
				containertest.Init(b, c, containertest.Code{Kind: kind, Code: stepsCode[kind]}, nil)
				inited := time.Now()
				if st, res := containertest.RunAction(b, c, map[string]any{}); st != 200 || res["ok"] != true {
					b.Fatalf("run: %d %v", st, res)
				}
				done := time.Now()
				add("init", inited.Sub(created))
				add("run", done.Sub(inited))
				add("total", done.Sub(start))
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if err := c.Destroy(ctx); err != nil {
					b.Error(err)
				}
				cancel()
			}
			for _, name := range order {
				s := slices.Clone(samples[name])
				slices.Sort(s)
				b.ReportMetric(float64(s[len(s)/2].Microseconds())/1000, name+"-ms")
			}
		})
	}
}
