// Package bench measures warm blocking invoke latency and throughput of a
// noop nodejs action through `brisk standalone`, beside the same action proxy
// called directly over HTTP in the same run (the baseline). Run with
// `make bench`; it reports p50/p99 in ms and requests per second.
package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

const noop = `function main(params) { return {}; }`

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 70 * time.Second}

func post(b testing.TB, url, auth string, body []byte) []byte {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.SetBasicAuth(auth[:36], auth[37:])
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("POST %s: %d %s", url, resp.StatusCode, out)
	}
	return out
}

// report records per-call latencies as p50/p99 metrics.
func report(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
}

// sequential runs call b.N times one after another.
func sequential(b *testing.B, call func()) {
	for range 20 { // warm up
		call()
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		t := time.Now()
		call()
		lat = append(lat, time.Since(t))
	}
	report(b, lat, time.Since(start))
}

// parallel runs call b.N times from n goroutines.
func parallel(b *testing.B, n int, call func()) {
	for range 20 {
		call()
	}
	var (
		mu  sync.Mutex
		lat = make([]time.Duration, 0, b.N)
		wg  sync.WaitGroup
	)
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	b.ResetTimer()
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				t := time.Now()
				call()
				d := time.Since(t)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	report(b, lat, time.Since(start))
}

// BenchmarkDirectProxy calls a `brisk proxy` for nodejs:20 directly: the
// baseline the platform's overhead is measured against.
func BenchmarkDirectProxy(b *testing.B) {
	bin := harness.Binary(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "proxy", "--listen", addr, "--kind", "nodejs:20")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("proxy did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	post(b, "http://"+addr+"/init", "", []byte(fmt.Sprintf(`{"value":{"name":"noop","main":"main","code":%q,"binary":false,"env":{}}}`, noop)))
	run := []byte(`{"value":{},"namespace":"guest","action_name":"/guest/noop","action_version":"0.0.1","activation_id":"0123456789abcdef0123456789abcdef","transaction_id":"t","deadline":"0"}`)
	sequential(b, func() { post(b, "http://"+addr+"/run", "", run) })
}

// BenchmarkStandaloneInvoke is a warm blocking invoke (result=true) of the
// same noop action through the whole platform: REST API, Kafka, invoker,
// proxy and back.
func BenchmarkStandaloneInvoke(b *testing.B) {
	// The benchmark measures the path, not upstream's default throttles (60/min).
	b.Setenv("BRISK_INVOCATIONS_PER_MINUTE", "100000000")
	b.Setenv("BRISK_CONCURRENT_INVOCATIONS", "1000")
	srv := harness.Start(b)
	url := createNoop(b, srv)
	b.Run("sequential", func(b *testing.B) {
		sequential(b, func() { post(b, url, srv.Auth, []byte(`{}`)) })
	})
	b.Run("parallel-8", func(b *testing.B) {
		parallel(b, 8, func() { post(b, url, srv.Auth, []byte(`{}`)) })
	})
}

func createNoop(b *testing.B, srv *harness.Server) string {
	return createNoopAt(b, srv.APIHost, srv.Auth, "noop")
}

// ioAction waits 50 ms (an I/O-bound action) and names its container.
const ioAction = `
const token = Math.random().toString(36).slice(2);
function main() { return new Promise((r) => setTimeout(() => r({token}), 50)); }`

// BenchmarkConcurrency compares an I/O-bound nodejs action with
// limits.concurrency 1 (upstream's default: one activation per container)
// and 16 (activations share containers), under 16 parallel blocking
// clients, in the same run: throughput, latency and the containers used
// (the warm-up included; a client's next request can arrive while its
// previous activation still holds its place, collecting logs, so 16 clients
// may use a second container).
func BenchmarkConcurrency(b *testing.B) {
	b.Setenv("BRISK_INVOCATIONS_PER_MINUTE", "100000000")
	b.Setenv("BRISK_CONCURRENT_INVOCATIONS", "1000")
	srv := harness.Start(b)
	for _, n := range []int{1, 16} {
		name := fmt.Sprintf("io%d", n)
		body := fmt.Sprintf(`{"exec":{"kind":"nodejs:20","code":%q},"limits":{"concurrency":%d}}`, ioAction, n)
		url := putAction(b, srv.APIHost, srv.Auth, name, body)
		b.Run(fmt.Sprintf("concurrency-%d", n), func(b *testing.B) {
			var (
				mu     sync.Mutex
				tokens = map[string]bool{}
			)
			parallel(b, 16, func() {
				var res struct{ Token string }
				_ = json.Unmarshal(post(b, url, srv.Auth, []byte(`{}`)), &res)
				mu.Lock()
				tokens[res.Token] = true
				mu.Unlock()
			})
			b.ReportMetric(float64(len(tokens)), "containers")
		})
	}
}
