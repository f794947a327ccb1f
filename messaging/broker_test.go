package messaging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// testLogger keeps test output quiet unless something is wrong.
func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

func startBroker(t testing.TB, cfg EmbeddedConfig) *EmbeddedBroker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	b, err := StartEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func ensure(t testing.TB, b *EmbeddedBroker, specs ...TopicSpec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, b.Addrs(), specs); err != nil {
		t.Fatal(err)
	}
}

func newTestProducer(t testing.TB, addrs []string, opts ProducerOptions) *Producer {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	p := NewProducer(addrs, opts)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func send(t testing.TB, p *Producer, topic string, value []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Send(ctx, topic, value); err != nil {
		t.Fatal(err)
	}
}

// running is a consumer whose Run goroutine delivers values to got.
type running struct {
	c    *Consumer
	got  chan []byte
	stop func() error
}

// consume starts a consumer; handle, if not nil, decides the handler's error.
func consume(t testing.TB, addrs []string, group, topic string, opts ConsumerOptions, handle func([]byte) error) *running {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	c := NewConsumer(addrs, group, topic, opts)
	got := make(chan []byte, 10000)
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() {
		runErr <- c.Run(ctx, func(_ context.Context, v []byte) error {
			got <- bytes.Clone(v)
			if handle != nil {
				return handle(v)
			}
			return nil
		})
	}()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			stopErr = <-runErr
			if err := c.Close(); err != nil && stopErr == nil {
				stopErr = err
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return &running{c: c, got: got, stop: stop}
}

// receive waits for n values.
func (r *running) receive(t testing.TB, n int, timeout time.Duration) [][]byte {
	t.Helper()
	var out [][]byte
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case v := <-r.got:
			out = append(out, v)
		case <-deadline:
			t.Fatalf("received %d of %d messages in %v", len(out), n, timeout)
		}
	}
	return out
}

// quiet checks nothing more arrives for d.
func (r *running) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case v := <-r.got:
		t.Fatalf("unexpected redelivery: %q", v)
	case <-time.After(d):
	}
}

func TestRoundTripEachMessageType(t *testing.T) {
	b := startBroker(t, EmbeddedConfig{})
	specs := append(ControllerTopicSpecs("0"), InvokerTopicSpec(0))
	ensure(t, b, specs...)
	ensure(t, b, specs...) // idempotent

	p := newTestProducer(t, b.Addrs(), ProducerOptions{})
	tid := TransactionID{ID: "tid", Start: time.Now().UnixMilli()}
	inv := NewInvokerInstanceID(0, 2048)
	act := ActivationMessage{
		TransID: tid, Action: FullyQualifiedEntityName{Path: "guest", Name: "hello", Version: "0.0.1"},
		Revision: "1-a", ActivationID: "a1", RootControllerIndex: NewControllerInstanceID("0"), Blocking: true,
		User:    Identity{Subject: "guest", Namespace: Namespace{Name: "guest", UUID: "u"}, AuthKey: AuthKey{APIKey: "u:k"}},
		Content: json.RawMessage(`{"payload":"hi"}`),
	}
	comb, err := NewCombinedAck(tid, json.RawMessage(`{"activationId":"a1","response":{"statusCode":0}}`), false, inv)
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[string][][]byte{}
	add := func(topic string, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		msgs[topic] = append(msgs[topic], data)
	}
	add(InvokerTopic(0), act)
	add(CompletedTopic("0"), comb)
	add(CompletedTopic("0"), comb.Shrink())
	add(CompletedTopic("0"), NewCompletionAck(tid, "a1", true, inv))
	add(HealthTopic, NewPingMessage(inv, true))
	add(CacheInvalidationTopic, CacheInvalidationMessage{Key: CacheKey{MainID: "guest/hello"}, InstanceID: "controller0"})

	consumers := map[string]*running{}
	for topic := range msgs {
		consumers[topic] = consume(t, b.Addrs(), "g-"+topic, topic, ConsumerOptions{}, nil)
	}
	for topic, vs := range msgs {
		for _, v := range vs {
			send(t, p, topic, v)
		}
	}
	for topic, vs := range msgs {
		got := consumers[topic].receive(t, len(vs), 10*time.Second)
		for i := range vs {
			if !bytes.Equal(got[i], vs[i]) {
				t.Errorf("%s #%d: got %s want %s", topic, i, got[i], vs[i])
			}
		}
	}
	// And they parse back to the same values.
	a, err := ParseActivationMessage(msgs[InvokerTopic(0)][0])
	if err != nil || a.ActivationID != "a1" || string(a.Content) != `{"payload":"hi"}` {
		t.Errorf("activation: %+v %v", a, err)
	}
	kinds := []AckKind{AckCombined, AckCombined, AckCompletion}
	for i, raw := range msgs[CompletedTopic("0")] {
		ack, err := ParseAcknowledgement(raw)
		if err != nil || ack.Kind != kinds[i] || ack.ActivationID != "a1" {
			t.Errorf("ack %d: %+v %v", i, ack, err)
		}
	}
}

func TestConsumerRestartResumesFromCommit(t *testing.T) {
	b := startBroker(t, EmbeddedConfig{})
	ensure(t, b, TopicSpec{Name: "restart", RetentionMs: time.Hour.Milliseconds()})
	p := newTestProducer(t, b.Addrs(), ProducerOptions{})
	for i := range 10 {
		send(t, p, "restart", []byte("old-"+strconv.Itoa(i)))
	}
	// The handler fails on old-3: it is logged and committed all the same.
	r1 := consume(t, b.Addrs(), "grp", "restart", ConsumerOptions{}, func(v []byte) error {
		if string(v) == "old-3" {
			return errors.New("poison")
		}
		return nil
	})
	got := r1.receive(t, 10, 10*time.Second)
	for i, v := range got {
		if string(v) != "old-"+strconv.Itoa(i) {
			t.Fatalf("#%d = %q (out of order or duplicated)", i, v)
		}
	}
	if err := r1.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	for i := range 5 {
		send(t, p, "restart", []byte("new-"+strconv.Itoa(i)))
	}
	r2 := consume(t, b.Addrs(), "grp", "restart", ConsumerOptions{}, nil)
	got = r2.receive(t, 5, 10*time.Second)
	for i, v := range got {
		if string(v) != "new-"+strconv.Itoa(i) {
			t.Fatalf("after restart #%d = %q", i, v)
		}
	}
	r2.quiet(t, 500*time.Millisecond)

	// A new group starts from the beginning (FirstOffset).
	r3 := consume(t, b.Addrs(), "other", "restart", ConsumerOptions{}, nil)
	if v := r3.receive(t, 15, 10*time.Second); string(v[0]) != "old-0" {
		t.Fatalf("new group starts at %q", v[0])
	}
}

func TestConcurrentConsumerCommitsInOrder(t *testing.T) {
	b := startBroker(t, EmbeddedConfig{})
	ensure(t, b, TopicSpec{Name: "conc", Partitions: 2, RetentionMs: time.Hour.Milliseconds()})
	p := newTestProducer(t, b.Addrs(), ProducerOptions{})
	const n = 200
	for i := range n {
		send(t, p, "conc", []byte(strconv.Itoa(i)))
	}
	var inFlight, maxInFlight int
	var mu sync.Mutex
	r1 := consume(t, b.Addrs(), "cg", "conc", ConsumerOptions{Concurrency: 8}, func([]byte) error {
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return nil
	})
	seen := map[string]bool{}
	for _, v := range r1.receive(t, n, 20*time.Second) {
		if seen[string(v)] {
			t.Fatalf("duplicate %s", v)
		}
		seen[string(v)] = true
	}
	if err := r1.stop(); err != nil {
		t.Fatal(err)
	}
	if maxInFlight < 2 || maxInFlight > 8 {
		t.Errorf("max in flight = %d, want 2..8", maxInFlight)
	}
	send(t, p, "conc", []byte("after"))
	r2 := consume(t, b.Addrs(), "cg", "conc", ConsumerOptions{Concurrency: 8}, nil)
	if v := r2.receive(t, 1, 10*time.Second); string(v[0]) != "after" {
		t.Fatalf("after restart got %q", v[0])
	}
	r2.quiet(t, 500*time.Millisecond)
}

func TestTracker(t *testing.T) {
	tr := newTracker()
	var ps []*pending
	for i := range 5 {
		ps = append(ps, tr.add(kafka.Message{Partition: i % 2, Offset: int64(i)}))
	}
	// partition 0: offsets 0,2,4; partition 1: offsets 1,3
	tr.complete(ps[2])
	tr.complete(ps[3])
	if got, n := tr.committable(); len(got) != 0 || n != 0 {
		t.Fatalf("committable before the first completes: %v", got)
	}
	tr.complete(ps[0])
	tr.complete(ps[1])
	got := map[int]int64{}
	msgs, popped := tr.committable()
	for _, m := range msgs {
		got[m.Partition] = m.Offset
	}
	if got[0] != 2 || got[1] != 3 || len(got) != 2 || popped != 4 {
		t.Fatalf("committable = %v", got)
	}
	tr.complete(ps[4])
	if c, n := tr.committable(); len(c) != 1 || c[0].Offset != 4 || n != 1 {
		t.Fatalf("committable = %v", c)
	}
	if len(tr.parts) != 0 {
		t.Fatalf("tracker not empty: %v", tr.parts)
	}
}

func TestBrokerRestartKeepsTopicsAndOffsets(t *testing.T) {
	dir := t.TempDir()
	b1, err := StartEmbedded(EmbeddedConfig{DataDir: dir, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	addrs := b1.Addrs()
	_, portStr, _ := net.SplitHostPort(addrs[0])
	port, _ := strconv.Atoi(portStr)

	ensure(t, b1, InvokerTopicSpec(0))
	p := NewProducer(addrs, ProducerOptions{Logger: testLogger()})
	for i := range 5 {
		send(t, p, InvokerTopic(0), []byte("a"+strconv.Itoa(i)))
	}
	r1 := consume(t, addrs, InvokerTopic(0), InvokerTopic(0), ConsumerOptions{}, nil)
	r1.receive(t, 5, 10*time.Second)
	if err := r1.stop(); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	if err := b1.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	b2 := startBroker(t, EmbeddedConfig{DataDir: dir, Port: port})
	if got := b2.Addrs(); got[0] != addrs[0] {
		t.Fatalf("restarted on %v, want %v", got, addrs)
	}
	if start, ok := b2.LogStartOffset(InvokerTopic(0), 0); !ok || start != 0 {
		t.Fatalf("topic after restart: start=%d exists=%v", start, ok)
	}
	ensure(t, b2, InvokerTopicSpec(0)) // exists: fine
	p2 := newTestProducer(t, b2.Addrs(), ProducerOptions{})
	send(t, p2, InvokerTopic(0), []byte("b0"))
	send(t, p2, InvokerTopic(0), []byte("b1"))

	r2 := consume(t, b2.Addrs(), InvokerTopic(0), InvokerTopic(0), ConsumerOptions{}, nil)
	got := r2.receive(t, 2, 10*time.Second)
	if string(got[0]) != "b0" || string(got[1]) != "b1" {
		t.Fatalf("after broker restart got %q, want b0 b1", got)
	}
	r2.quiet(t, 500*time.Millisecond)

	r3 := consume(t, b2.Addrs(), "fresh", InvokerTopic(0), ConsumerOptions{}, nil)
	if got := r3.receive(t, 7, 10*time.Second); string(got[0]) != "a0" {
		t.Fatalf("records not kept: first is %q", got[0])
	}
}

func TestRetentionTrimsTopic(t *testing.T) {
	// The broker's own ticker trims expired records.
	b := startBroker(t, EmbeddedConfig{RetentionCheckInterval: 100 * time.Millisecond})
	ensure(t, b, TopicSpec{Name: "short", RetentionMs: 200}, TopicSpec{Name: "long", RetentionMs: time.Hour.Milliseconds()})
	p := newTestProducer(t, b.Addrs(), ProducerOptions{})
	for i := range 10 {
		send(t, p, "short", []byte(strconv.Itoa(i)))
		send(t, p, "long", []byte(strconv.Itoa(i)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		start, _ := b.LogStartOffset("short", 0)
		if start == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("short: log start = %d after 5 s, want 10", start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if start, _ := b.LogStartOffset("long", 0); start != 0 {
		t.Errorf("long: log start = %d, want 0", start)
	}

	// ApplyRetention trims at once, without waiting for the (default 10 s) ticker.
	b2 := startBroker(t, EmbeddedConfig{})
	ensure(t, b2, TopicSpec{Name: "forced", RetentionMs: 200})
	p2 := newTestProducer(t, b2.Addrs(), ProducerOptions{})
	for i := range 10 {
		send(t, p2, "forced", []byte(strconv.Itoa(i)))
	}
	// The records age past the topic's 200 ms retention: their age is what
	// ApplyRetention trims on.
	time.Sleep(250 * time.Millisecond)
	if start, _ := b2.LogStartOffset("forced", 0); start != 0 {
		t.Fatalf("forced: trimmed to %d before ApplyRetention", start)
	}
	b2.ApplyRetention()
	if start, _ := b2.LogStartOffset("forced", 0); start != 10 {
		t.Errorf("forced: log start = %d, want 10", start)
	}
}

func TestMessageSizeLimits(t *testing.T) {
	b := startBroker(t, EmbeddedConfig{})
	ensure(t, b, InvokerTopicSpec(0))
	p := newTestProducer(t, b.Addrs(), ProducerOptions{})

	big := bytes.Repeat([]byte("x"), MaxPayloadBytes)
	send(t, p, InvokerTopic(0), big)
	r := consume(t, b.Addrs(), "size", InvokerTopic(0), ConsumerOptions{}, nil)
	if got := r.receive(t, 1, 10*time.Second); !bytes.Equal(got[0], big) {
		t.Fatalf("1 MiB message came back as %d bytes", len(got[0]))
	}

	tooBig := bytes.Repeat([]byte("y"), 2<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := p.Send(ctx, InvokerTopic(0), tooBig)
	var mtl kafka.MessageTooLargeError
	if !errors.As(err, &mtl) {
		t.Fatalf("2 MiB with default BatchBytes: err = %v, want MessageTooLargeError", err)
	}
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("2 MiB with default BatchBytes: err = %v, want ErrMessageTooLarge", err)
	}
	// With the client limit raised, the broker refuses it (not retried).
	lax := newTestProducer(t, b.Addrs(), ProducerOptions{BatchBytes: 8 << 20})
	err = lax.Send(ctx, InvokerTopic(0), tooBig)
	if !errors.Is(err, kafka.MessageSizeTooLarge) {
		t.Fatalf("2 MiB with BatchBytes 8 MiB: err = %v, want MessageSizeTooLarge", err)
	}
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("2 MiB with BatchBytes 8 MiB: err = %v, want ErrMessageTooLarge", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("oversized sends took %v", d)
	}
	// The topic still works.
	send(t, p, InvokerTopic(0), []byte("small"))
	if got := r.receive(t, 1, 10*time.Second); string(got[0]) != "small" {
		t.Fatalf("got %q", got[0])
	}
}

func TestSendCancelledAndUnreachable(t *testing.T) {
	b := startBroker(t, EmbeddedConfig{})
	ensure(t, b, TopicSpec{Name: "t", RetentionMs: 60000})
	p := newTestProducer(t, b.Addrs(), ProducerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := p.Send(ctx, "t", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("cancelled Send took %v", d)
	}

	// A topic that does not exist fails at once (topics are never auto-created).
	if err := p.Send(context.Background(), "missing", []byte("x")); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Fatalf("missing topic: err = %v", err)
	}

	// A broker that is not there: the Send fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	pd := newTestProducer(t, []string{dead}, ProducerOptions{})
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := pd.Send(ctx, "t", []byte("x")); err == nil {
		t.Fatal("Send to a dead broker succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send to a dead broker took %v", d)
	}

	// A broker that accepts connections and never answers: the deadline
	// ends the Send.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ph := newTestProducer(t, []string{hole.Addr().String()}, ProducerOptions{})
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := ph.Send(ctx, "t", []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send to a silent broker: err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send to a silent broker took %v", d)
	}

	// After Close, Send fails at once.
	_ = p.Close()
	if err := p.Send(context.Background(), "t", []byte("x")); !errors.Is(err, ErrProducerClosed) {
		t.Errorf("after Close: err = %v", err)
	}
}

// waitRunning waits (at most 5 s) until a Run of c is in progress.
func waitRunning(t *testing.T, c *Consumer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !c.running.Load() {
		if time.Now().After(deadline) {
			t.Fatal("Run did not start within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConsumerLifecycle(t *testing.T) {
	b := startBroker(t, EmbeddedConfig{})
	ensure(t, b, TopicSpec{Name: "life", RetentionMs: 60000})
	c := NewConsumer(b.Addrs(), "lg", "life", ConsumerOptions{Logger: testLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx, func(context.Context, []byte) error { return nil }) }()
	waitRunning(t, c)
	if err := c.Run(ctx, nil); !errors.Is(err, ErrConsumerRunning) {
		t.Errorf("second Run: %v", err)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// Close while running: Run reports ErrConsumerClosed.
	go func() { errc <- c.Run(context.Background(), func(context.Context, []byte) error { return nil }) }()
	waitRunning(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrConsumerClosed) {
			t.Errorf("Run after Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

func TestEnsureTopicsValidates(t *testing.T) {
	ctx := context.Background()
	if err := EnsureTopics(ctx, nil, []TopicSpec{HealthTopicSpec()}); err == nil {
		t.Error("no brokers: no error")
	}
	if err := EnsureTopics(ctx, []string{"127.0.0.1:1"}, []TopicSpec{{Name: "x"}}); err == nil {
		t.Error("no retention: no error")
	}
	b := startBroker(t, EmbeddedConfig{})
	ensure(t, b, TopicSpec{Name: "parts", Partitions: 3, RetentionMs: 1000})
	for i := range 3 {
		if _, ok := b.LogStartOffset("parts", i); !ok {
			t.Errorf("partition %d missing", i)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(cctx, "tcp", b.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions("parts")
	if err != nil || len(parts) != 3 {
		t.Fatalf("partitions = %d, %v", len(parts), err)
	}
}

func TestEmbeddedCapsTopicConfigs(t *testing.T) {
	cfgOf := func(b *EmbeddedBroker, topic string) map[string]string {
		t.Helper()
		info := b.cluster.TopicInfo(topic)
		if info == nil {
			t.Fatalf("topic %s missing", topic)
		}
		out := map[string]string{}
		for k, v := range info.Configs {
			if v != nil {
				out[k] = *v
			}
		}
		return out
	}
	b := startBroker(t, EmbeddedConfig{})
	ensure(t, b, InvokerTopicSpec(0), TopicSpec{Name: "small", RetentionMs: 1000, RetentionBytes: 1000, SegmentBytes: 4096})
	want := map[string]string{"retention.ms": "172800000", "retention.bytes": "67108864", "segment.bytes": "16777216",
		"max.message.bytes": "1054644"}
	if got := cfgOf(b, InvokerTopic(0)); !reflect.DeepEqual(got, want) {
		t.Errorf("invoker0 configs = %v, want %v", got, want)
	}
	if got := cfgOf(b, "small"); got["retention.bytes"] != "1000" || got["segment.bytes"] != "4096" {
		t.Errorf("values under the caps were changed: %v", got)
	}
	// A topic created by another client without configs still gets retention.
	client := &kafka.Client{Addr: kafka.TCP(b.Addrs()...), Timeout: 5 * time.Second}
	resp, err := client.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: "bare", NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil || resp.Errors["bare"] != nil {
		t.Fatal(err, resp.Errors)
	}
	if got := cfgOf(b, "bare"); got["retention.ms"] != "172800000" || got["retention.bytes"] != "67108864" {
		t.Errorf("bare configs = %v", got)
	}

	nocap := startBroker(t, EmbeddedConfig{MaxSegmentBytes: -1, MaxRetentionBytes: -1})
	ensure(t, nocap, InvokerTopicSpec(0))
	if got := cfgOf(nocap, InvokerTopic(0)); got["segment.bytes"] != "536870912" || got["retention.bytes"] != "1073741824" {
		t.Errorf("uncapped configs = %v", got)
	}
}

func TestConcurrentConsumerBoundsUncommitted(t *testing.T) {
	b := startBroker(t, EmbeddedConfig{})
	ensure(t, b, TopicSpec{Name: "hol", RetentionMs: time.Hour.Milliseconds()})
	p := newTestProducer(t, b.Addrs(), ProducerOptions{BatchSize: 100, BatchTimeout: time.Millisecond})
	const n = 600
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(t, p, "hol", []byte(strconv.Itoa(i)))
		}()
		if i%50 == 49 {
			wg.Wait()
		}
	}
	wg.Wait()
	var handled atomic.Int64
	handledAtRelease := make(chan int64, 1)
	first := true
	var mu sync.Mutex
	r := consume(t, b.Addrs(), "hg", "hol", ConsumerOptions{Concurrency: 2}, func([]byte) error {
		mu.Lock()
		isFirst := first
		first = false
		mu.Unlock()
		if isFirst { // holds back every later commit of the partition
			time.Sleep(500 * time.Millisecond)
			handledAtRelease <- handled.Load()
		}
		handled.Add(1)
		return nil
	})
	r.receive(t, n, 20*time.Second)
	if got, limit := <-handledAtRelease, int64(uncommittedWindow(2)); got > limit {
		t.Errorf("%d messages handled behind a stuck one; window is %d", got, limit)
	}
}
