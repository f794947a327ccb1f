// Package messagingtest is the conformance suite of Brisk's messaging: the
// behaviour that the controller and invoker rely on from package messaging,
// checked against any Kafka-protocol broker. messaging's own tests run it
// against the embedded kfake broker and against a real Apache Kafka 4.x
// (started with scripts/kafka.sh, see [StartKafka]), so both brokers are held
// to the same contract:
//
//   - every message type goes through its topic and parses back;
//   - every acks setting delivers;
//   - a consumer restarted in the same group resumes after the last message
//     whose handler returned: nothing lost, nothing handled is delivered again;
//   - a handler interrupted by shutdown, or a crash before the commit, leaves
//     its message to the next consumer (at least once);
//   - a poison message is committed and does not block the topic;
//   - the 1 MiB payload limit and topics' max.message.bytes hold, and an
//     oversized message fails the Send without wedging the producer;
//   - EnsureTopics is idempotent (also concurrently) and leaves an existing
//     topic's configuration and records alone;
//   - a Send to a topic that does not exist fails (no auto-creation);
//   - members of one group share a topic's partitions without losing messages.
//
// Every subtest uses its own topics and groups, so the suite can run against
// a broker that other tests use too.
package messagingtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brisk-serverless/brisk/messaging"
)

// waitTimeout bounds each wait for messages. A real broker's first group
// join, or a rejoin after another member left, takes a few seconds.
const waitTimeout = 45 * time.Second

// Run runs the conformance suite against the brokers at addrs.
func Run(t *testing.T, addrs []string) {
	s := &suite{addrs: addrs, id: strconv.FormatUint(rand.Uint64()%1e9, 36)}
	t.Run("EachMessageType", s.eachMessageType)
	t.Run("ProducerAcks", s.producerAcks)
	t.Run("RestartResumesFromCommit", s.restartResumesFromCommit)
	t.Run("InterruptedHandlerRedelivered", s.interruptedHandlerRedelivered)
	t.Run("CrashBeforeCommitRedelivers", s.crashBeforeCommitRedelivers)
	t.Run("AckedAfterTheHandler", s.ackedAfterTheHandler)
	t.Run("PoisonMessageSkipped", s.poisonMessageSkipped)
	t.Run("MessageSizeLimits", s.messageSizeLimits)
	t.Run("EnsureTopicsIdempotent", s.ensureTopicsIdempotent)
	t.Run("UnknownTopicRejected", s.unknownTopicRejected)
	t.Run("GroupSharesPartitions", s.groupSharesPartitions)
}

type suite struct {
	addrs []string
	id    string // makes this run's topic and group names unique
	seq   atomic.Int64
}

// name returns a topic or group name unique to this run.
func (s *suite) name(kind string) string {
	return fmt.Sprintf("brisk-%s-%s-%d", kind, s.id, s.seq.Add(1))
}

// Logger returns the logger the suite gives its clients: silent unless
// BRISK_TEST_KAFKA_LOG is debug, info, warn or error (then on stderr).
// Goroutines of the Kafka clients may log after a test ends, so it must not
// be t.Log.
func Logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(os.Getenv("BRISK_TEST_KAFKA_LOG"))); err != nil || os.Getenv("BRISK_TEST_KAFKA_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func (s *suite) ensure(t *testing.T, specs ...messaging.TopicSpec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, s.addrs, specs); err != nil {
		t.Fatal(err)
	}
}

// topic creates a one-hour topic with one partition and returns its name.
func (s *suite) topic(t *testing.T) string {
	t.Helper()
	name := s.name("t")
	s.ensure(t, messaging.TopicSpec{Name: name, RetentionMs: time.Hour.Milliseconds()})
	return name
}

func (s *suite) producer(t *testing.T, opts messaging.ProducerOptions) *messaging.Producer {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = Logger()
	}
	p := messaging.NewProducer(s.addrs, opts)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func send(t *testing.T, p *messaging.Producer, topic string, values ...string) {
	t.Helper()
	for _, v := range values {
		sendBytes(t, p, topic, []byte(v))
	}
}

func sendBytes(t *testing.T, p *messaging.Producer, topic string, v []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Send(ctx, topic, v); err != nil {
		t.Fatal(err)
	}
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

// member is a running Consumer.Run. Every value it is handed goes to got
// before fn (if any) decides the handler's result; handled collects the
// values whose handler returned nil.
type member struct {
	c       *messaging.Consumer
	got     chan []byte
	cancel  context.CancelFunc
	runErr  chan error
	mu      sync.Mutex
	handled []string
	stopped sync.Once
	stopErr error
}

type memberOpts struct {
	consumer messaging.ConsumerOptions
	// fn decides the handler's result; nil means success.
	fn func(ctx context.Context, v []byte) error
	// stopAfter > 0 cancels Run's context inside the handler of the
	// stopAfter-th message, so that no later message is started.
	stopAfter int
}

func (s *suite) member(t *testing.T, group, topic string, mo memberOpts) *member {
	t.Helper()
	opts := mo.consumer
	if opts.Logger == nil {
		opts.Logger = Logger()
	}
	m := &member{
		c:      messaging.NewConsumer(s.addrs, group, topic, opts),
		got:    make(chan []byte, 10000),
		runErr: make(chan error, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	var n atomic.Int64
	go func() {
		m.runErr <- m.c.Run(ctx, func(hctx context.Context, v []byte) error {
			m.got <- bytes.Clone(v)
			if mo.stopAfter > 0 && n.Add(1) == int64(mo.stopAfter) {
				cancel()
			}
			var err error
			if mo.fn != nil {
				err = mo.fn(hctx, v)
			}
			if err == nil {
				m.mu.Lock()
				m.handled = append(m.handled, string(v))
				m.mu.Unlock()
			}
			return err
		})
	}()
	t.Cleanup(func() { _ = m.stop() })
	return m
}

// stop ends Run, waits for it and leaves the group.
func (m *member) stop() error {
	m.stopped.Do(func() {
		m.cancel()
		select {
		case m.stopErr = <-m.runErr:
		case <-time.After(waitTimeout):
			m.stopErr = errors.New("Run did not return after its context ended")
		}
		if err := m.c.Close(); err != nil && m.stopErr == nil {
			m.stopErr = err
		}
	})
	return m.stopErr
}

// waitStopped waits for Run to return by itself (stopAfter).
func (m *member) waitStopped(t *testing.T) {
	t.Helper()
	if err := m.stop(); err != nil {
		t.Fatalf("consumer: %v", err)
	}
}

func (m *member) handledValues() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.handled)
}

// receive waits for n values.
func (m *member) receive(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	deadline := time.After(waitTimeout)
	for len(out) < n {
		select {
		case v := <-m.got:
			out = append(out, string(v))
		case <-deadline:
			t.Fatalf("received %d of %d messages in %v: %q", len(out), n, waitTimeout, out)
		}
	}
	return out
}

// expect waits for exactly the values want, in order.
func (m *member) expect(t *testing.T, want ...string) {
	t.Helper()
	if got := m.receive(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
}

func (s *suite) eachMessageType(t *testing.T) {
	ctrl := s.name("c")
	invoker := int(rand.Uint32() % 1e6)
	s.ensure(t, append(messaging.ControllerTopicSpecs(ctrl), messaging.InvokerTopicSpec(invoker))...)
	p := s.producer(t, messaging.ProducerOptions{})

	tid := messaging.TransactionID{ID: "tid-" + s.id, Start: time.Now().UnixMilli()}
	inv := messaging.NewInvokerInstanceID(invoker, 2048)
	inv.UniqueName = "invoker-" + s.id // so that this run's ping can be told apart
	act := messaging.ActivationMessage{
		TransID: tid, Action: messaging.FullyQualifiedEntityName{Path: "guest", Name: "hello", Version: "0.0.1"},
		Revision: "1-a", ActivationID: "act-" + s.id, RootControllerIndex: messaging.NewControllerInstanceID(ctrl), Blocking: true,
		User: messaging.Identity{Subject: "guest", Namespace: messaging.Namespace{Name: "guest", UUID: "u"},
			AuthKey: messaging.AuthKey{APIKey: "u:k"}, Rights: []string{"READ", "ACTIVATE"}},
		Content:  json.RawMessage(`{"payload":"hi","n":[1,2.5,null]}`),
		InitArgs: []string{"secret"},
	}
	record := json.RawMessage(`{"activationId":"act-` + s.id + `","response":{"statusCode":0,"result":{"ok":true}}}`)
	combined, err := messaging.NewCombinedAck(tid, record, false, inv)
	if err != nil {
		t.Fatal(err)
	}
	result, err := messaging.NewResultAck(tid, record)
	if err != nil {
		t.Fatal(err)
	}
	cacheMsg := messaging.CacheInvalidationMessage{Key: messaging.CacheKey{MainID: "guest/hello", SecondaryID: s.id}, InstanceID: "controller" + ctrl}

	type msg struct {
		topic string
		value []byte
	}
	var msgs []msg
	add := func(topic string, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, msg{topic, data})
	}
	add(messaging.InvokerTopic(invoker), act)
	add(messaging.CompletedTopic(ctrl), result)
	add(messaging.CompletedTopic(ctrl), combined)
	add(messaging.CompletedTopic(ctrl), combined.Shrink())
	add(messaging.CompletedTopic(ctrl), messaging.NewCompletionAck(tid, act.ActivationID, true, inv))
	add(messaging.HealthTopic, messaging.NewPingMessage(inv, false))
	add(messaging.CacheInvalidationTopic, cacheMsg)

	// health and cacheInvalidation have fixed names and may hold other
	// runs' messages: each topic's member keeps only this run's.
	byTopic := map[string][]string{}
	for _, m := range msgs {
		byTopic[m.topic] = append(byTopic[m.topic], string(m.value))
	}
	members := map[string]*member{}
	for topic := range byTopic {
		members[topic] = s.member(t, s.name("g"), topic, memberOpts{})
	}
	for _, m := range msgs {
		sendBytes(t, p, m.topic, m.value)
	}
	for topic, want := range byTopic {
		var got []string
		deadline := time.After(waitTimeout)
		for len(got) < len(want) {
			select {
			case v := <-members[topic].got:
				if bytes.Contains(v, []byte(s.id)) {
					got = append(got, string(v))
				}
			case <-deadline:
				t.Fatalf("%s: received %d of %d", topic, len(got), len(want))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: received %q, want %q", topic, got, want)
		}
	}

	a, err := messaging.ParseActivationMessage(msgs[0].value)
	if err != nil || a.ActivationID != act.ActivationID || string(a.Content) != string(act.Content) ||
		a.RootControllerIndex.AsString != ctrl || !slices.Equal(a.InitArgs, act.InitArgs) {
		t.Errorf("activation message parsed back as %+v, %v", a, err)
	}
	for i, want := range []messaging.AckKind{messaging.AckResult, messaging.AckCombined, messaging.AckCombined, messaging.AckCompletion} {
		ack, err := messaging.ParseAcknowledgement(msgs[1+i].value)
		if err != nil || ack.Kind != want || ack.ActivationID != act.ActivationID {
			t.Errorf("ack %d parsed back as %+v, %v; want kind %s", i, ack, err, want)
		}
		if i == 2 && !ack.Shrunk() {
			t.Errorf("shrunk combined ack carries the record: %+v", ack)
		}
	}
	var ping messaging.PingMessage
	if err := json.Unmarshal(msgs[5].value, &ping); err != nil || ping.Enabled() || ping.Name.Instance != invoker {
		t.Errorf("ping parsed back as %+v, %v", ping, err)
	}
	var ci messaging.CacheInvalidationMessage
	if err := json.Unmarshal(msgs[6].value, &ci); err != nil || ci != cacheMsg {
		t.Errorf("cache invalidation parsed back as %+v, %v", ci, err)
	}
}

func (s *suite) producerAcks(t *testing.T) {
	for _, c := range []struct {
		name string
		acks messaging.Acks
	}{{"leader", messaging.AcksLeader}, {"all", messaging.AcksAll}, {"none", messaging.AcksNone}} {
		t.Run(c.name, func(t *testing.T) {
			topic := s.topic(t)
			p := s.producer(t, messaging.ProducerOptions{Acks: c.acks})
			want := seq(c.name+"-", 0, 5)
			send(t, p, topic, want...)
			got := s.member(t, s.name("g"), topic, memberOpts{}).receive(t, len(want))
			if c.acks == messaging.AcksNone {
				// Without acknowledgements, Sends that follow each other
				// are not ordered (seen on Apache Kafka 4.1).
				slices.Sort(got)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("received %q, want %q", got, want)
			}
		})
	}
}

// consumerModes are the ways Brisk's consumers commit: in order, one
// synchronous commit after each handler; pipelined commits; concurrent
// handlers; kafka-go's periodic background commits (flushed by Close).
var consumerModes = []struct {
	name    string
	opts    messaging.ConsumerOptions
	ordered bool // handlers run one at a time, in offset order
}{
	{"sequential", messaging.ConsumerOptions{}, true},
	{"pipelined", messaging.ConsumerOptions{PipelineCommits: true}, true},
	{"concurrency=4", messaging.ConsumerOptions{Concurrency: 4}, false},
	{"commit-interval=100ms", messaging.ConsumerOptions{CommitInterval: 100 * time.Millisecond}, true},
}

// restartResumesFromCommit: the first member handles five messages and
// stops; the next member of the group starts exactly after them.
func (s *suite) restartResumesFromCommit(t *testing.T) {
	for _, mode := range consumerModes {
		t.Run(mode.name, func(t *testing.T) {
			topic, group := s.topic(t), s.name("g")
			p := s.producer(t, messaging.ProducerOptions{})
			all := seq("m", 0, 20)
			send(t, p, topic, all...)

			first := s.member(t, group, topic, memberOpts{consumer: mode.opts, stopAfter: 5})
			first.receive(t, 5)
			first.waitStopped(t)
			handled := first.handledValues()
			if mode.ordered && !slices.Equal(handled, all[:5]) {
				t.Fatalf("first member handled %q, want %q", handled, all[:5])
			}

			second := s.member(t, group, topic, memberOpts{consumer: mode.opts})
			rest := second.receive(t, len(all)-len(handled))
			// Nothing lost, nothing handled delivered again.
			union := append(slices.Clone(handled), rest...)
			slices.SortFunc(union, cmpNum)
			if !slices.Equal(union, all) {
				t.Fatalf("first handled %q, second received %q: want each of %q exactly once", handled, rest, all)
			}
			if mode.ordered && rest[0] != all[5] {
				t.Fatalf("second member started at %q, want %q", rest[0], all[5])
			}
			// And it carries on with new messages.
			send(t, p, topic, "after")
			second.expect(t, "after")
		})
	}
}

// ackedAfterTheHandler: with RunAcked a message is committed only once its
// handler acked it, which may be after the handler returned; messages not
// acked when the consumer stops (work that died with it) come again to the
// next member, and the acked ones do not.
func (s *suite) ackedAfterTheHandler(t *testing.T) {
	topic, group := s.topic(t), s.name("g")
	p := s.producer(t, messaging.ProducerOptions{})
	all := seq("m", 0, 10)
	send(t, p, topic, all...)

	c := messaging.NewConsumer(s.addrs, group, topic, messaging.ConsumerOptions{Logger: Logger(), PipelineCommits: true})
	acks := make(chan func(), len(all))
	got := make(chan string, len(all))
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- c.RunAcked(ctx, func(_ context.Context, v []byte, ack func()) error {
			got <- string(v)
			acks <- ack
			return nil // returns at once; the work goes on
		})
	}()
	var pending []func()
	for range all {
		select {
		case <-got:
			pending = append(pending, <-acks)
		case <-time.After(waitTimeout):
			t.Fatalf("fetched %d of %d messages before any ack", len(pending), len(all))
		}
	}
	// The work of m0..m5 finishes (out of order); m6..m9 is still running
	// when the consumer dies.
	for _, i := range []int{3, 0, 5, 1, 2, 4} {
		pending[i]()
	}
	// RunAcked commits every ack it got before it returns.
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	pending[6]() // an ack after Run returned is not committed
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	second := s.member(t, group, topic, memberOpts{})
	second.expect(t, all[6:]...)
}

// cmpNum orders "m<N>" values by N.
func cmpNum(a, b string) int {
	na, _ := strconv.Atoi(a[1:])
	nb, _ := strconv.Atoi(b[1:])
	return na - nb
}

// interruptedHandlerRedelivered: a handler that gives up because Run is
// shutting down (as the invoker does while it waits for a free slot) does
// not commit its message; the next member receives it.
func (s *suite) interruptedHandlerRedelivered(t *testing.T) {
	for _, mode := range consumerModes {
		t.Run(mode.name, func(t *testing.T) {
			topic, group := s.topic(t), s.name("g")
			p := s.producer(t, messaging.ProducerOptions{})
			all := seq("m", 0, 8)
			send(t, p, topic, all...)

			blocked := make(chan struct{})
			first := s.member(t, group, topic, memberOpts{
				consumer: mode.opts,
				fn: func(ctx context.Context, v []byte) error {
					if string(v) != "m3" {
						return nil
					}
					close(blocked)
					<-ctx.Done()
					return fmt.Errorf("waiting for capacity: %w", ctx.Err())
				},
			})
			select {
			case <-blocked:
			case <-time.After(waitTimeout):
				t.Fatal("m3 was not delivered")
			}
			if err := first.stop(); err != nil {
				t.Fatal(err)
			}

			// With concurrent handlers, m4.. may have been handled by the
			// first member, but nothing past the interrupted m3 is
			// committed, so the group gets them again (in any order).
			second := s.member(t, group, topic, memberOpts{consumer: mode.opts})
			got := second.receive(t, len(all)-3)
			if !mode.ordered {
				slices.SortFunc(got, cmpNum)
			}
			if !slices.Equal(got, all[3:]) {
				t.Fatalf("after the interrupted m3 the group received %q, want %q", got, all[3:])
			}
			send(t, p, topic, "after")
			second.expect(t, "after")
		})
	}
}

// crashBeforeCommitRedelivers: a member that handled a message but could not
// commit it (closed under it, as a crash would) leaves the message to the
// next member: delivery is at least once.
func (s *suite) crashBeforeCommitRedelivers(t *testing.T) {
	topic, group := s.topic(t), s.name("g")
	p := s.producer(t, messaging.ProducerOptions{})
	all := seq("m", 0, 6)
	send(t, p, topic, all...)

	reached, release := make(chan struct{}), make(chan struct{})
	first := s.member(t, group, topic, memberOpts{
		consumer: messaging.ConsumerOptions{CommitTimeout: 2 * time.Second},
		fn: func(_ context.Context, v []byte) error {
			if string(v) == "m2" {
				close(reached)
				<-release
			}
			return nil
		},
	})
	select {
	case <-reached:
	case <-time.After(waitTimeout):
		t.Fatal("m2 was not delivered")
	}
	if err := first.c.Close(); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case err := <-first.runErr:
		if !errors.Is(err, messaging.ErrConsumerClosed) {
			t.Errorf("Run after Close: %v, want ErrConsumerClosed", err)
		}
		first.runErr <- err
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after Close")
	}

	second := s.member(t, group, topic, memberOpts{})
	second.expect(t, all[2:]...)
}

// poisonMessageSkipped: a message the handler cannot handle is logged and
// committed; the topic goes on, and a restarted member does not get it again.
func (s *suite) poisonMessageSkipped(t *testing.T) {
	topic, group := s.topic(t), s.name("g")
	p := s.producer(t, messaging.ProducerOptions{})
	good, err := json.Marshal(messaging.ActivationMessage{ActivationID: "a1",
		Action: messaging.FullyQualifiedEntityName{Path: "guest", Name: "x"}, RootControllerIndex: messaging.NewControllerInstanceID("0")})
	if err != nil {
		t.Fatal(err)
	}
	values := []string{string(good), "{not json", `{"activationId":""}`, string(good)}
	send(t, p, topic, values...)
	var failures atomic.Int64
	parse := func(_ context.Context, v []byte) error {
		if _, err := messaging.ParseActivationMessage(v); err != nil {
			failures.Add(1)
			return err
		}
		return nil
	}
	first := s.member(t, group, topic, memberOpts{fn: parse})
	first.expect(t, values...)
	if n := failures.Load(); n != 2 {
		t.Fatalf("%d messages failed to parse, want 2", n)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	send(t, p, topic, "next")
	s.member(t, group, topic, memberOpts{fn: parse}).expect(t, "next")
}

func (s *suite) messageSizeLimits(t *testing.T) {
	topic := s.topic(t)
	p := s.producer(t, messaging.ProducerOptions{})
	m := s.member(t, s.name("g"), topic, memberOpts{})

	// The largest activation: a 1 MiB payload and its envelope.
	big := bytes.Repeat([]byte("x"), messaging.MaxPayloadBytes+4096)
	sendBytes(t, p, topic, big)
	if got := m.receive(t, 1); got[0] != string(big) {
		t.Fatalf("%d-byte message came back as %d bytes", len(big), len(got[0]))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Over the limit: the producer refuses it without a round trip.
	tooBig := bytes.Repeat([]byte("y"), messaging.DefaultMaxMessageBytes+1)
	var mtl kafka.MessageTooLargeError
	if err := p.Send(ctx, topic, tooBig); !errors.As(err, &mtl) || !errors.Is(err, messaging.ErrMessageTooLarge) {
		t.Fatalf("%d bytes: err = %v, want MessageTooLargeError and ErrMessageTooLarge", len(tooBig), err)
	}
	// With the client's limit raised, the broker refuses it (max.message.bytes).
	lax := s.producer(t, messaging.ProducerOptions{BatchBytes: 8 << 20})
	huge := bytes.Repeat([]byte("z"), 2<<20)
	if err := lax.Send(ctx, topic, huge); !errors.Is(err, kafka.MessageSizeTooLarge) || !errors.Is(err, messaging.ErrMessageTooLarge) {
		t.Fatalf("2 MiB past the topic's max.message.bytes: err = %v, want MessageSizeTooLarge and ErrMessageTooLarge", err)
	}
	// Neither was delivered, and both producers still work.
	send(t, p, topic, "small")
	send(t, lax, topic, "small-lax")
	m.expect(t, "small", "small-lax")

	// A topic created with a larger max.message.bytes takes larger messages.
	large := s.name("large")
	s.ensure(t, messaging.TopicSpec{Name: large, RetentionMs: time.Hour.Milliseconds(), MaxMessageBytes: 3 << 20})
	sendBytes(t, lax, large, huge)
	if got := s.member(t, s.name("g"), large, memberOpts{}).receive(t, 1); got[0] != string(huge) {
		t.Fatalf("2 MiB message came back as %d bytes", len(got[0]))
	}
}

func (s *suite) ensureTopicsIdempotent(t *testing.T) {
	name := s.name("t")
	spec := messaging.TopicSpec{Name: name, RetentionMs: (90 * time.Minute).Milliseconds()}
	// Concurrent creators (several controllers starting at once) all succeed.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			errs[i] = messaging.EnsureTopics(ctx, s.addrs, []messaging.TopicSpec{spec})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent EnsureTopics #%d: %v", i, err)
		}
	}
	p := s.producer(t, messaging.ProducerOptions{})
	send(t, p, name, "kept")

	// Again, with other settings and together with a new topic: the existing
	// topic keeps its records and its configuration, the new one is created.
	other := s.name("t")
	changed := spec
	changed.RetentionMs, changed.Partitions = time.Minute.Milliseconds(), 3
	s.ensure(t, changed, messaging.TopicSpec{Name: other, RetentionMs: time.Hour.Milliseconds()})
	s.ensure(t, changed)

	send(t, p, other, "new")
	s.member(t, s.name("g"), other, memberOpts{}).expect(t, "new")
	s.member(t, s.name("g"), name, memberOpts{}).expect(t, "kept")

	client := &kafka.Client{Addr: kafka.TCP(s.addrs...), Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: name,
		ConfigNames: []string{"retention.ms", "max.message.bytes"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		for _, e := range r.ConfigEntries {
			got[e.ConfigName] = e.ConfigValue
		}
	}
	if got["retention.ms"] != strconv.FormatInt(spec.RetentionMs, 10) ||
		got["max.message.bytes"] != strconv.Itoa(messaging.DefaultMaxMessageBytes) {
		t.Errorf("topic configuration after EnsureTopics again: %v, want retention.ms %d, max.message.bytes %d",
			got, spec.RetentionMs, messaging.DefaultMaxMessageBytes)
	}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Topics) != 1 || len(meta.Topics[0].Partitions) != 1 {
		t.Errorf("topic metadata after EnsureTopics again: %+v, want 1 partition", meta.Topics)
	}
}

func (s *suite) unknownTopicRejected(t *testing.T) {
	p := s.producer(t, messaging.ProducerOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	missing := s.name("missing")
	if err := p.Send(ctx, missing, []byte("x")); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Fatalf("Send to a topic never created: err = %v, want UnknownTopicOrPartition", err)
	}
	// It was not created by the attempt either.
	if err := p.Send(ctx, missing, []byte("x")); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Fatalf("second Send to a topic never created: err = %v, want UnknownTopicOrPartition", err)
	}
}

// groupSharesPartitions: two members of one group over a two-partition
// topic receive every message between them.
func (s *suite) groupSharesPartitions(t *testing.T) {
	topic, group := s.name("t"), s.name("g")
	s.ensure(t, messaging.TopicSpec{Name: topic, Partitions: 2, RetentionMs: time.Hour.Milliseconds()})
	p := s.producer(t, messaging.ProducerOptions{})
	a := s.member(t, group, topic, memberOpts{})
	b := s.member(t, group, topic, memberOpts{})
	all := seq("m", 0, 40)
	send(t, p, topic, all...)

	seen := map[string]int{}
	deadline := time.After(waitTimeout)
	for len(seen) < len(all) {
		select {
		case v := <-a.got:
			seen[string(v)]++
		case v := <-b.got:
			seen[string(v)]++
		case <-deadline:
			t.Fatalf("the group received %d of %d messages", len(seen), len(all))
		}
	}
	for _, v := range all {
		if seen[v] == 0 {
			t.Errorf("%s was lost", v)
		}
	}
}
