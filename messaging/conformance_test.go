package messaging_test

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/messaging/messagingtest"
)

// TestConformanceEmbedded holds the embedded kfake broker that standalone
// runs to the conformance suite.
func TestConformanceEmbedded(t *testing.T) {
	b, err := messaging.StartEmbedded(messaging.EmbeddedConfig{Logger: messagingtest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	messagingtest.Run(t, b.Addrs())
}

// TestConformanceKafka holds a real Apache Kafka 4.x, started through
// scripts/kafka.sh, to the same suite. It skips when the broker's jars are
// not installed (`bash scripts/kafka.sh install`).
func TestConformanceKafka(t *testing.T) {
	messagingtest.Run(t, messagingtest.StartKafka(t))
}

// BenchmarkKafkaRoundTrip is BenchmarkRoundTrip's produce → consume round
// trip against a real Apache Kafka, for the settings the controller and
// invoker choose between:
//
//	go test -run '^$' -bench BenchmarkKafkaRoundTrip -benchtime 2000x ./messaging/
//
// The broker's JIT is warmed up first with 3000 untimed round trips.
func BenchmarkKafkaRoundTrip(b *testing.B) {
	addrs := messagingtest.StartKafka(b)
	warm := newRoundTripper(b, addrs, "bench-warmup", messaging.ProducerOptions{}, messaging.ConsumerOptions{})
	for range 3000 {
		warm.roundTrip(b)
	}
	warm.close()
	cases := []struct {
		name string
		prod messaging.ProducerOptions
		cons messaging.ConsumerOptions
	}{
		{name: "default(sync-commit)"},
		{name: "commit=pipelined", cons: messaging.ConsumerOptions{PipelineCommits: true}},
		{name: "commit=async100ms", cons: messaging.ConsumerOptions{CommitInterval: 100 * time.Millisecond}},
		{name: "acks=all", prod: messaging.ProducerOptions{Acks: messaging.AcksAll}},
		{name: "batch=100,1ms", prod: messaging.ProducerOptions{BatchSize: 100, BatchTimeout: time.Millisecond}},
	}
	for i, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rt := newRoundTripper(b, addrs, "bench-"+strconv.Itoa(i), c.prod, c.cons)
			defer rt.close()
			for range 50 { // join the group, open connections
				rt.roundTrip(b)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				lat = append(lat, rt.roundTrip(b))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-µs")
		})
	}
}

// roundTripper sends 500 B messages to a fresh topic and waits for its
// consumer's handler to get each.
type roundTripper struct {
	p     *messaging.Producer
	topic string
	got   chan struct{}
	value []byte
	close func()
}

func newRoundTripper(b *testing.B, addrs []string, prefix string, popts messaging.ProducerOptions, copts messaging.ConsumerOptions) *roundTripper {
	topic := prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, addrs, []messaging.TopicSpec{{Name: topic, RetentionMs: time.Hour.Milliseconds()}}); err != nil {
		b.Fatal(err)
	}
	popts.Logger, copts.Logger = messagingtest.Logger(), messagingtest.Logger()
	rt := &roundTripper{p: messaging.NewProducer(addrs, popts), topic: topic, got: make(chan struct{}, 1),
		value: bytes.Repeat([]byte("a"), 500)}
	cons := messaging.NewConsumer(addrs, topic, topic, copts)
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cons.Run(rctx, func(context.Context, []byte) error { rt.got <- struct{}{}; return nil })
	}()
	rt.close = func() { stop(); <-done; _ = cons.Close(); _ = rt.p.Close() }
	return rt
}

func (rt *roundTripper) roundTrip(b *testing.B) time.Duration {
	start := time.Now()
	if err := rt.p.Send(context.Background(), rt.topic, rt.value); err != nil {
		b.Fatal(err)
	}
	select {
	case <-rt.got:
	case <-time.After(30 * time.Second):
		b.Fatal("message not received in 30 s")
	}
	return time.Since(start)
}

func TestRecent(t *testing.T) {
	r := messaging.NewRecent(3)
	for _, k := range []string{"a", "b", "c"} {
		if !r.Add(k) {
			t.Fatalf("%s reported as seen", k)
		}
	}
	if r.Add("a") || r.Add("c") {
		t.Fatal("a redelivered key was reported as new")
	}
	if !r.Add("d") { // evicts a, the oldest
		t.Fatal("d reported as seen")
	}
	if r.Len() != 3 {
		t.Fatalf("Len = %d, want 3", r.Len())
	}
	if !r.Add("a") {
		t.Fatal("a was not evicted after 3 newer keys")
	}
	if r.Add("d") {
		t.Fatal("d forgotten too early")
	}
}
