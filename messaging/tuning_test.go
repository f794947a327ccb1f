package messaging

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestProducerTuning pins the kafka-go Writer settings (docs/kafka.md),
// since a regression in them shows only as latency (kafka-go's 1 s
// batch timer), silent loss (its zero RequiredAcks is acks=0) or unbounded
// retrying: BenchmarkRoundTrip and BenchmarkKafkaRoundTrip measure the
// effect.
func TestProducerTuning(t *testing.T) {
	p := NewProducer([]string{"127.0.0.1:1"}, ProducerOptions{})
	defer p.Close()
	w := p.w
	if w.BatchSize != 1 || w.BatchTimeout > time.Millisecond || w.Async {
		t.Errorf("a Send waits for a batch: BatchSize %d, BatchTimeout %v, Async %v", w.BatchSize, w.BatchTimeout, w.Async)
	}
	if w.RequiredAcks != kafka.RequireOne {
		t.Errorf("RequiredAcks = %v, want RequireOne (upstream's acks=1)", w.RequiredAcks)
	}
	if w.MaxAttempts != 3 || w.WriteBackoffMax > time.Second || w.WriteTimeout <= 0 || w.ReadTimeout <= 0 {
		t.Errorf("retries not bounded: MaxAttempts %d, backoff max %v, timeouts %v/%v",
			w.MaxAttempts, w.WriteBackoffMax, w.WriteTimeout, w.ReadTimeout)
	}
	if p.sendTimeout <= 0 {
		t.Errorf("SendTimeout %v", p.sendTimeout)
	}
	for acks, want := range map[Acks]kafka.RequiredAcks{AcksAll: kafka.RequireAll, AcksNone: kafka.RequireNone} {
		q := NewProducer([]string{"127.0.0.1:1"}, ProducerOptions{Acks: acks})
		if q.w.RequiredAcks != want {
			t.Errorf("Acks %d: RequiredAcks = %v, want %v", acks, q.w.RequiredAcks, want)
		}
		_ = q.Close()
	}
	// Batching stays an explicit choice, with a short timer.
	b := NewProducer([]string{"127.0.0.1:1"}, ProducerOptions{BatchSize: 100})
	defer b.Close()
	if b.w.BatchTimeout != time.Millisecond {
		t.Errorf("BatchSize 100: BatchTimeout = %v, want 1ms", b.w.BatchTimeout)
	}
}

// TestConsumerCommitsSynchronouslyByDefault: the zero ConsumerOptions commit
// each message before the next is handled, so a crash re-delivers at most the
// messages whose handlers were running.
func TestConsumerCommitsSynchronouslyByDefault(t *testing.T) {
	c := NewConsumer([]string{"127.0.0.1:1"}, "g", "t", ConsumerOptions{Logger: testLogger()})
	defer c.Close()
	if c.opts.CommitInterval != 0 || c.r.Config().CommitInterval != 0 {
		t.Errorf("CommitInterval = %v, want 0 (synchronous)", c.r.Config().CommitInterval)
	}
	if c.r.Config().MaxBytes < DefaultMaxMessageBytes {
		t.Errorf("MaxBytes %d cannot hold the largest message", c.r.Config().MaxBytes)
	}
}
