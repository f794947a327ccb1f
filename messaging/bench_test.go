package messaging

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkRoundTrip measures produce → consume of a 500 B message through
// the embedded broker, one message at a time: Send, then wait until the
// consumer's handler has it. The handler's commit runs as in production.
//
//	go test -run '^$' -bench BenchmarkRoundTrip -benchtime 5000x ./messaging/
//
// "default" is the zero-value options; the others vary one setting each.
func BenchmarkRoundTrip(b *testing.B) {
	cases := []struct {
		name string
		emb  EmbeddedConfig
		prod ProducerOptions
		cons ConsumerOptions
	}{
		{name: "default"},
		{name: "maxwait=10ms", cons: ConsumerOptions{MaxWait: 10 * time.Millisecond}},
		{name: "maxwait=500ms", cons: ConsumerOptions{MaxWait: 500 * time.Millisecond}},
		{name: "commit=async1s", cons: ConsumerOptions{CommitInterval: time.Second}},
		{name: "acks=all", prod: ProducerOptions{Acks: AcksAll}},
		{name: "batch=100,1ms", prod: ProducerOptions{BatchSize: 100, BatchTimeout: time.Millisecond}},
		{name: "concurrency=4", cons: ConsumerOptions{Concurrency: 4}},
		{name: "datadir", emb: EmbeddedConfig{DataDir: "tmp"}},
		{name: "datadir+fsync", emb: EmbeddedConfig{DataDir: "tmp", SyncWrites: true}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.emb.DataDir != "" {
				c.emb.DataDir = b.TempDir()
			}
			benchRoundTrip(b, c.emb, c.prod, c.cons)
		})
	}
}

func benchRoundTrip(b *testing.B, emb EmbeddedConfig, popts ProducerOptions, copts ConsumerOptions) {
	broker := startBroker(b, emb)
	ensure(b, broker, InvokerTopicSpec(0))
	p := newTestProducer(b, broker.Addrs(), popts)
	r := consume(b, broker.Addrs(), "bench", InvokerTopic(0), copts, nil)

	value := bytes.Repeat([]byte("a"), 500)
	ctx := context.Background()
	roundTrip := func() (send, total time.Duration) {
		start := time.Now()
		if err := p.Send(ctx, InvokerTopic(0), value); err != nil {
			b.Fatal(err)
		}
		sent := time.Since(start)
		select {
		case <-r.got:
		case <-time.After(10 * time.Second):
			b.Fatal("message not received in 10 s")
		}
		return sent, time.Since(start)
	}
	for range 50 { // join the group, open connections
		roundTrip()
	}

	sends := make([]time.Duration, 0, b.N)
	totals := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		s, t := roundTrip()
		sends = append(sends, s)
		totals = append(totals, t)
	}
	b.StopTimer()
	slices.Sort(sends)
	slices.Sort(totals)
	b.ReportMetric(us(pct(totals, 50)), "p50-µs")
	b.ReportMetric(us(pct(totals, 99)), "p99-µs")
	b.ReportMetric(us(pct(sends, 50)), "send-p50-µs")
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// BenchmarkSendParallel measures Send throughput with many concurrent
// senders on one partition, as a controller fanning out activations does.
//
//	go test -run '^$' -bench BenchmarkSendParallel -cpu 64 ./messaging/
func BenchmarkSendParallel(b *testing.B) {
	for _, c := range []struct {
		name string
		opts ProducerOptions
	}{
		{"batch=1", ProducerOptions{}},
		{"batch=100,1ms", ProducerOptions{BatchSize: 100, BatchTimeout: time.Millisecond}},
	} {
		b.Run(c.name, func(b *testing.B) {
			broker := startBroker(b, EmbeddedConfig{})
			ensure(b, broker, InvokerTopicSpec(0))
			p := newTestProducer(b, broker.Addrs(), c.opts)
			value := bytes.Repeat([]byte("a"), 500)
			send(b, p, InvokerTopic(0), value)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := p.Send(context.Background(), InvokerTopic(0), value); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkSend measures one sequential Send (no consumer running).
//
//	go test -run '^$' -bench 'BenchmarkSend$' ./messaging/
func BenchmarkSend(b *testing.B) {
	broker := startBroker(b, EmbeddedConfig{})
	ensure(b, broker, InvokerTopicSpec(0))
	p := newTestProducer(b, broker.Addrs(), ProducerOptions{})
	value := bytes.Repeat([]byte("a"), 500)
	send(b, p, InvokerTopic(0), value)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := p.Send(context.Background(), InvokerTopic(0), value); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(us(pct(lat, 50)), "p50-µs")
	b.ReportMetric(us(pct(lat, 99)), "p99-µs")
}
