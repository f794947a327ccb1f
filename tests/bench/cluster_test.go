package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/messaging/messagingtest"
	"github.com/brisk-serverless/brisk/store/storetest"
	"github.com/brisk-serverless/brisk/wsk-compat/harness"
)

// BenchmarkCluster measures, in one run, warm blocking invokes of a noop
// action through 1 controller + 2 invokers (processes, on Apache Kafka and
// pouchdb-server), through 3 controllers forming one Raft group + 2
// invokers (the clients spread over the controllers), through
// `brisk standalone`, and a bare produce → consume round trip of an
// activation-sized message on the same Kafka (the invoker's consumer
// settings), so that they can be compared:
//
//	go test -run '^$' -bench BenchmarkCluster -benchtime 2000x ./tests/bench/
//
// Each reports p50-ms, p99-ms and req/s. It fails when Apache Kafka is not
// installed (`bash scripts/kafka.sh install`; make test runs it).
func BenchmarkCluster(b *testing.B) {
	brokers := messagingtest.StartKafka(b)
	b.Run("kafka-roundtrip", func(b *testing.B) { kafkaRoundTrip(b, brokers) })

	for _, controllers := range []int{1, 3} {
		name := "cluster"
		if controllers > 1 {
			name = fmt.Sprintf("cluster-%dctl", controllers)
		}
		apiHosts, stop := startBenchCluster(b, strings.Join(brokers, ","), controllers)
		const actions = 4 // spread over both invokers by their home invoker
		var urls []string // action i through controller i % controllers
		for i := range actions {
			u := createNoopAt(b, apiHosts[0], harness.GuestAuth, fmt.Sprintf("noop%d", i))
			urls = append(urls, strings.Replace(u, apiHosts[0], apiHosts[i%controllers], 1))
		}
		var seq []string // noop0 through each controller in turn
		for _, h := range apiHosts {
			seq = append(seq, strings.Replace(urls[0], apiHosts[0], h, 1))
		}
		b.Run(name+"/sequential", func(b *testing.B) {
			i := 0
			sequential(b, func() {
				post(b, seq[i%len(seq)], harness.GuestAuth, []byte(`{}`))
				i++
			})
		})
		b.Run(name+"/parallel-8", func(b *testing.B) {
			var n sync.Mutex
			i := 0
			parallel(b, 8, func() {
				n.Lock()
				u := urls[i%actions]
				i++
				n.Unlock()
				post(b, u, harness.GuestAuth, []byte(`{}`))
			})
		})
		stop() // the next cluster uses the same topics
	}

	b.Setenv("BRISK_INVOCATIONS_PER_MINUTE", "100000000")
	b.Setenv("BRISK_CONCURRENT_INVOCATIONS", "1000")
	srv := harness.Start(b)
	url := createNoop(b, srv)
	b.Run("standalone/sequential", func(b *testing.B) {
		sequential(b, func() { post(b, url, srv.Auth, []byte(`{}`)) })
	})
	b.Run("standalone/parallel-8", func(b *testing.B) {
		parallel(b, 8, func() { post(b, url, srv.Auth, []byte(`{}`)) })
	})
}

// kafkaRoundTrip sends a 1 KB message and waits until a consumer in a group
// (pipelined commits, as the invoker consumes) has it, one at a time.
func kafkaRoundTrip(b *testing.B, brokers []string) {
	topic := fmt.Sprintf("benchRoundTrip%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := messaging.InvokerTopicSpec(0) // an invoker topic's settings, under a name of its own
	spec.Name = topic
	if err := messaging.EnsureTopics(ctx, brokers, []messaging.TopicSpec{spec}); err != nil {
		b.Fatal(err)
	}
	p := messaging.NewProducer(brokers, messaging.ProducerOptions{})
	defer p.Close()
	got := make(chan struct{}, 1)
	c := messaging.NewConsumer(brokers, topic, topic, messaging.ConsumerOptions{PipelineCommits: true})
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- c.Run(runCtx, func(context.Context, []byte) error { got <- struct{}{}; return nil }) }()
	defer func() { stop(); <-ran; _ = c.Close() }()
	value := bytes.Repeat([]byte("a"), 1024)
	call := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Send(sctx, topic, value); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			b.Fatal("message not consumed in 10 s")
		}
	}
	for range 200 { // join the group, warm the broker's JIT
		call()
	}
	sequential(b, call)
}

// startBenchCluster runs n controllers (one Raft group) and two invokers
// and returns the controllers' API hosts once both invokers are up, and a
// function that stops them all.
func startBenchCluster(b *testing.B, brokers string, n int) ([]string, func()) {
	bin := harness.Binary(b)
	couch := storetest.CouchURL(b)
	prefix := storetest.UniquePrefix()
	b.Cleanup(func() { storetest.DestroyDBs(b, couch, prefix) })
	common := []string{"--kafka", brokers, "--couchdb", couch, "--db-prefix", prefix}
	if out, err := exec.Command(bin, "admin", "--couchdb", couch, "--db-prefix", prefix, "user", "create", "guest",
		"-u", harness.GuestAuth).CombinedOutput(); err != nil {
		b.Fatalf("brisk admin user create guest: %v\n%s", err, out)
	}
	dir := b.TempDir()
	var apiHosts, raftAddrs, voters []string
	for i := range n {
		apiHosts = append(apiHosts, "http://"+freeAddr(b))
		raftAddrs = append(raftAddrs, freeAddr(b))
		voters = append(voters, fmt.Sprintf("%d=%s", i, raftAddrs[i]))
	}
	var stops []func()
	for i := range n {
		stops = append(stops, startProc(b, bin, append([]string{"controller", "--id", strconv.Itoa(i),
			"--listen", strings.TrimPrefix(apiHosts[i], "http://"), "--raft-bind", raftAddrs[i],
			"--raft-data-dir", filepath.Join(dir, "raft"+strconv.Itoa(i)), "--raft-voters", strings.Join(voters, ","),
			"--invocations-per-minute", "100000000", "--concurrent-invocations", "1000"}, common...)...))
	}
	for i := range 2 {
		stops = append(stops, startProc(b, bin, append([]string{"invoker", "--id", strconv.Itoa(i), "--data-dir", filepath.Join(dir, "inv"+strconv.Itoa(i)),
			"--api-host", apiHosts[0], "--prewarm=false", "--user-memory", "2048"}, common...)...))
	}
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, h := range apiHosts {
		for {
			resp, err := client.Get(h + "/invokers/ready")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("the invokers are not up at %s after 2 minutes: %v", h, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return apiHosts, stop
}

// freeAddr is a free loopback host:port.
func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProc starts bin in a process group of its own, stopped with SIGTERM
// by the returned function or at the end; its output goes to the log when
// the benchmark fails.
func startProc(b *testing.B, bin string, args ...string) (stop func()) {
	var out bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command(bin, args...)
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if out.Len() < 1<<20 {
			out.Write(p)
		}
		return len(p), nil
	})
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BRISK_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", args[0], err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
			if b.Failed() {
				mu.Lock()
				b.Logf("output of brisk %s:\n%s", strings.Join(args, " "), out.String())
				mu.Unlock()
			}
		})
	}
	b.Cleanup(stop)
	return stop
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// createNoopAt creates the noop action name and returns its blocking,
// result-only invoke URL.
func createNoopAt(b *testing.B, apiHost, auth, name string) string {
	return putAction(b, apiHost, auth, name, fmt.Sprintf(`{"exec":{"kind":"nodejs:20","code":%q}}`, noop))
}

// putAction creates or replaces action name from its JSON body and returns
// its blocking, result-only invoke URL.
func putAction(b *testing.B, apiHost, auth, name, body string) string {
	req, _ := http.NewRequest(http.MethodPut, apiHost+"/api/v1/namespaces/_/actions/"+name+"?overwrite=true", bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(auth[:36], auth[37:])
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("create %s: %d", name, resp.StatusCode)
	}
	return apiHost + "/api/v1/namespaces/_/actions/" + name + "?blocking=true&result=true"
}
