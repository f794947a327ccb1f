package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brisk-serverless/brisk/internal/metrics"
)

// ConsumerOptions tunes a Consumer. The zero value is tuned for latency.
type ConsumerOptions struct {
	// MaxWait is how long the broker holds a fetch that has no data. A new
	// message ends the wait at once (MinBytes 1), so MaxWait barely affects
	// latency; it only sets how often an idle consumer polls. Default 100 ms.
	MaxWait time.Duration
	// MinBytes is the least data a fetch waits for. Default 1: return as soon
	// as one message is there.
	MinBytes int
	// MaxBytes is the most data a fetch returns. The broker truncates a
	// message larger than this, so it must exceed the topics'
	// max.message.bytes. Default 4 MiB.
	MaxBytes int
	// QueueCapacity bounds the messages fetched ahead of the handler.
	// Default 100.
	QueueCapacity int
	// StartAtLatest makes a group with no committed offset start at the end
	// of the topic instead of the beginning. Beware segmentio/kafka-go#1319:
	// messages written before the first commit can be skipped.
	StartAtLatest bool
	// CommitInterval 0 (default) commits each offset synchronously after its
	// handler returns. A positive interval commits in the background at that
	// period: faster, but a crash re-delivers up to an interval of messages.
	CommitInterval time.Duration
	// PipelineCommits, with CommitInterval 0, commits in the background: the
	// next message is handled while earlier offsets are being committed, one
	// commit request at a time covering every message handled meanwhile
	// (Concurrency > 1 always works this way). A crash then delivers again
	// the messages handled during the last commit round trip instead of at
	// most one; Run still commits everything handled before it returns. On
	// Apache Kafka a commit takes a few milliseconds (the group coordinator
	// lingers before it appends), which sequential commits add to every
	// message: see docs/kafka.md.
	PipelineCommits bool
	// CommitTimeout bounds one synchronous commit. It is applied to a context
	// detached from Run's, so a message handled just before shutdown is still
	// committed. Default 5 s.
	CommitTimeout time.Duration
	// Concurrency is how many handlers Run calls at once. Default 1: messages
	// are handled one at a time in offset order. With more, messages of one
	// partition may complete out of order, but an offset is committed only
	// once every earlier message of its partition is handled.
	Concurrency int
	// SessionTimeout is how long the group waits for a consumer that stopped
	// heartbeating (e.g. crashed) before giving its partitions to another.
	// Default 10 s (the embedded broker's minimum is 6 s).
	SessionTimeout time.Duration
	// HeartbeatInterval defaults to 3 s.
	HeartbeatInterval time.Duration
	// DialTimeout bounds a connection attempt. Default 5 s.
	DialTimeout time.Duration
	// Logger receives handler errors and kafka-go's errors (warn) and
	// chatter (debug). Default slog.Default().
	Logger *slog.Logger
	// Metrics records each fetched message's age and the partition's lag
	// behind it (nil: none).
	Metrics *metrics.Metrics
}

func (o ConsumerOptions) withDefaults() ConsumerOptions {
	if o.MaxWait <= 0 {
		o.MaxWait = 100 * time.Millisecond
	}
	if o.MinBytes <= 0 {
		o.MinBytes = 1
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 4 << 20
	}
	if o.QueueCapacity <= 0 {
		o.QueueCapacity = 100
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 5 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 10 * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 3 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = defaultDialTimeout
	}
	o.Logger = loggerOr(o.Logger)
	return o
}

// Handler processes one message's value. Its error is logged, not retried.
type Handler func(ctx context.Context, value []byte) error

// AckHandler takes one message's value and calls ack once its work is
// done for good (for an invoker: the activation's record is stored), which
// may be after it returned. Run commits a message only once it is acked and
// every earlier message of its partition is too, so a consumer that dies
// with work in progress gets those messages again. A handler that returns
// an error without acking has its message committed anyway (it could not
// be handled), unless Run's ctx had ended (it was interrupted).
type AckHandler func(ctx context.Context, value []byte, ack func()) error

// Consumer reads one topic as a member of a consumer group.
type Consumer struct {
	r       *kafka.Reader
	opts    ConsumerOptions
	log     *slog.Logger
	topic   string
	group   string
	running atomic.Bool
	// closed is set by Close: only then do EOF and closed-pipe errors mean
	// the consumer is done (kafka-go also returns them when the broker
	// drops its connection, e.g. when it crashes).
	closed atomic.Bool
}

// NewConsumer returns a consumer of topic in group. It joins the group on the
// first fetch, in Run.
func NewConsumer(brokers []string, group, topic string, opts ConsumerOptions) *Consumer {
	o := opts.withDefaults()
	start := kafka.FirstOffset
	if o.StartAtLatest {
		start = kafka.LastOffset
	}
	log := o.Logger.With("topic", topic, "group", group)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           brokers,
		GroupID:           group,
		Topic:             topic,
		Dialer:            &kafka.Dialer{Timeout: o.DialTimeout, ClientID: defaultClientID, KeepAlive: 30 * time.Second},
		QueueCapacity:     o.QueueCapacity,
		MinBytes:          o.MinBytes,
		MaxBytes:          o.MaxBytes,
		MaxWait:           o.MaxWait,
		ReadBatchTimeout:  10 * time.Second,
		ReadLagInterval:   -1,
		HeartbeatInterval: o.HeartbeatInterval,
		CommitInterval:    o.CommitInterval,
		SessionTimeout:    o.SessionTimeout,
		RebalanceTimeout:  o.SessionTimeout,
		JoinGroupBackoff:  time.Second,
		StartOffset:       start,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		MaxAttempts:       3,
		Logger:            kafkaLogger(log, slog.LevelDebug, "kafka-consumer"),
		ErrorLogger:       readerErrorLogger(log),
	})
	return &Consumer{r: r, opts: o, log: log, topic: topic, group: group}
}

// ErrConsumerRunning is returned by Run while another Run is in progress.
var ErrConsumerRunning = errors.New("consumer already running")

// Run fetches messages, calls handle for each, and commits each offset after
// handle returns, until ctx is done (then it returns nil) or the consumer is
// closed. A handler's error is logged at warn level and the message is still
// committed: a message that cannot be handled (a poison message) must not
// block the topic, and the handler is the place to retry or dead-letter it.
//
// The exception is shutdown: a handler that returns an error once ctx is
// done was interrupted (e.g. it gave up waiting for capacity), so its
// message is not committed, and neither is any later one of its partition.
// Messages fetched but not yet handled when Run returns are not committed
// either, so the next consumer of the group receives all of them: a
// consumer restarted in the same group neither loses a message nor receives
// one whose handler returned normally (unless a commit failed, which is
// logged; delivery is at least once).
//
// A handler gets Run's ctx; it should return promptly when ctx is done.
// Call Close after Run returns to leave the group.
func (c *Consumer) Run(ctx context.Context, handle Handler) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrConsumerRunning
	}
	defer c.running.Store(false)
	if c.opts.Concurrency > 1 || (c.opts.PipelineCommits && c.opts.CommitInterval <= 0) {
		return c.runConcurrent(ctx, func(ctx context.Context, value []byte, ack func()) error {
			if err := handle(ctx, value); err != nil {
				return err
			}
			ack()
			return nil
		})
	}
	for {
		m, err := c.r.FetchMessage(ctx)
		if err != nil {
			if c.transient(ctx, err) {
				continue
			}
			return c.stopErr(ctx, err)
		}
		if ctx.Err() != nil {
			// FetchMessage may return a message it had queued even though
			// ctx has ended: leave it to the next consumer.
			return nil
		}
		if !c.handle(ctx, handle, m) {
			return nil
		}
		if err := c.commit(ctx, m); err != nil {
			return err
		}
	}
}

// observe records a fetched message's age and its partition's lag.
func (c *Consumer) observe(m kafka.Message) {
	if c.opts.Metrics != nil {
		c.opts.Metrics.KafkaConsumed(c.topic, c.group, time.Since(m.Time), m.HighWaterMark-m.Offset-1)
	}
}

// handle calls the handler and reports whether m is to be committed: false
// when the handler failed after ctx ended (interrupted by shutdown).
func (c *Consumer) handle(ctx context.Context, handle Handler, m kafka.Message) bool {
	c.observe(m)
	err := handle(ctx, m.Value)
	if err == nil {
		return true
	}
	if ctx.Err() != nil {
		c.log.Debug("message handler interrupted by shutdown; not committing it",
			"partition", m.Partition, "offset", m.Offset, "err", err)
		return false
	}
	c.log.Warn("message handler failed; committing it anyway",
		"partition", m.Partition, "offset", m.Offset, "err", err)
	return true
}

// commit commits m's offset. Only a closed reader is fatal: a failed commit
// means the message may be delivered again, which handlers must tolerate
// anyway (at-least-once), so it is logged and consuming goes on.
func (c *Consumer) commit(ctx context.Context, msgs ...kafka.Message) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.CommitTimeout)
	defer cancel()
	err := c.r.CommitMessages(cctx, msgs...)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.ErrClosedPipe) && c.closed.Load():
		return fmt.Errorf("commit %s/%s: %w", c.group, c.topic, ErrConsumerClosed)
	default:
		last := msgs[len(msgs)-1]
		c.log.Warn("commit failed; the message may be delivered again",
			"partition", last.Partition, "offset", last.Offset, "err", err, "hint", kafkaHint)
		return nil
	}
}

// ErrConsumerClosed is returned by Run when Close was called.
var ErrConsumerClosed = errors.New("consumer closed")

// fetchRetryDelay is the pause after a fetch failed while the broker is
// away, before the next fetch.
const fetchRetryDelay = time.Second

// transient reports whether a fetch error is worth another fetch: the
// broker is unreachable or restarting (kafka-go's reader reconnects by
// itself), as opposed to a closed consumer or an ended ctx. It logs the
// error and waits fetchRetryDelay (less when ctx ends) before it answers.
func (c *Consumer) transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil || c.closed.Load() || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	c.log.Warn("fetch failed; trying again", "err", err, "hint", kafkaHint)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(fetchRetryDelay):
		return true
	}
}

func (c *Consumer) stopErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	if c.closed.Load() || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
		return fmt.Errorf("fetch %s/%s: %w", c.group, c.topic, ErrConsumerClosed)
	}
	return fmt.Errorf("fetch %s/%s: %w", c.group, c.topic, err)
}

// RunAcked is Run for a handler that acknowledges its messages itself, after
// it returned (see AckHandler): handlers run as with Concurrency, and the
// messages fetched but not yet acknowledged are bounded. Acks that come
// after RunAcked returned are not committed: the next consumer of the group
// gets those messages again, and the handler must recognise work it has
// done (the invoker finds the activation's record).
func (c *Consumer) RunAcked(ctx context.Context, handle AckHandler) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrConsumerRunning
	}
	defer c.running.Store(false)
	return c.runConcurrent(ctx, handle)
}

// runConcurrent runs up to Concurrency handlers at once. Completed messages
// go to one committer, which commits per partition the highest offset below
// which every message is handled. At most uncommittedWindow(Concurrency)
// messages are fetched but not yet committed, so a slow handler holding back
// its partition's commits stops the fetching instead of growing the tracker.
func (c *Consumer) runConcurrent(ctx context.Context, handle AckHandler) error {
	n := c.opts.Concurrency
	sem := make(chan struct{}, n)
	window := make(chan struct{}, uncommittedWindow(n))
	done := make(chan *pending, n)
	tr := newTracker()
	var wg sync.WaitGroup
	// Acks may come after the handler returned, even after Run ends: the
	// ones that come once done is closed are dropped (not committed).
	var ackMu sync.Mutex
	acksOpen := true
	ackOf := func(p *pending) func() {
		var once sync.Once
		return func() {
			once.Do(func() {
				ackMu.Lock()
				defer ackMu.Unlock()
				if acksOpen {
					done <- p
				}
			})
		}
	}
	commitErr := make(chan error, 1)
	go func() {
		commitErr <- c.committer(ctx, tr, done, window)
	}()

	var runErr error
	for ctx.Err() == nil {
		if !acquire(ctx, window) {
			break
		}
		if !acquire(ctx, sem) {
			<-window
			break
		}
		m, err := c.r.FetchMessage(ctx)
		if err == nil && ctx.Err() != nil {
			<-sem
			<-window
			break // as in Run: not handled, not committed
		}
		if err != nil {
			<-sem
			<-window
			if c.transient(ctx, err) {
				continue
			}
			runErr = c.stopErr(ctx, err)
			break
		}
		p := tr.add(m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ack := ackOf(p)
			c.observe(m)
			err := handle(ctx, m.Value, ack)
			<-sem
			switch {
			case err == nil:
			case ctx.Err() != nil:
				// Interrupted: the message stays pending in the tracker, so
				// no later offset of its partition is committed past it.
				c.log.Debug("message handler interrupted by shutdown; not committing it",
					"partition", m.Partition, "offset", m.Offset, "err", err)
			default:
				c.log.Warn("message handler failed; committing it anyway",
					"partition", m.Partition, "offset", m.Offset, "err", err)
				ack()
			}
		}()
	}
	wg.Wait()
	ackMu.Lock()
	acksOpen = false
	close(done)
	ackMu.Unlock()
	return errors.Join(runErr, <-commitErr)
}

// uncommittedWindow bounds the fetched-but-uncommitted messages of a
// consumer running n handlers.
func uncommittedWindow(n int) int { return max(256, 16*n) }

// acquire takes a slot of sem unless ctx ends first.
func acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Consumer) committer(ctx context.Context, tr *tracker, done <-chan *pending, window <-chan struct{}) error {
	var fatal error
	for p := range done {
		tr.complete(p)
		// Coalesce: take whatever else has completed meanwhile.
	drain:
		for {
			select {
			case q, ok := <-done:
				if !ok {
					break drain
				}
				tr.complete(q)
			default:
				break drain
			}
		}
		msgs, popped := tr.committable()
		if len(msgs) > 0 && fatal == nil {
			fatal = c.commit(ctx, msgs...)
		}
		for range popped {
			<-window
		}
	}
	return fatal
}

// pending is one fetched message and whether its handler has returned.
type pending struct {
	msg  kafka.Message // topic, partition and offset only
	done bool
}

// tracker keeps, per partition, the fetched messages in offset order, to find
// the offset up to which everything is handled.
type tracker struct {
	mu    sync.Mutex
	parts map[int][]*pending
}

func newTracker() *tracker { return &tracker{parts: make(map[int][]*pending)} }

func (t *tracker) add(m kafka.Message) *pending {
	p := &pending{msg: kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}}
	t.mu.Lock()
	t.parts[m.Partition] = append(t.parts[m.Partition], p)
	t.mu.Unlock()
	return p
}

func (t *tracker) complete(p *pending) {
	t.mu.Lock()
	p.done = true
	t.mu.Unlock()
}

// committable pops each partition's handled prefix. It returns the last
// message of each popped prefix, and how many entries it popped in all.
func (t *tracker) committable() ([]kafka.Message, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []kafka.Message
	popped := 0
	for part, q := range t.parts {
		i := 0
		for i < len(q) && q[i].done {
			i++
		}
		if i == 0 {
			continue
		}
		popped += i
		out = append(out, q[i-1].msg)
		rest := q[i:]
		if len(rest) == 0 {
			delete(t.parts, part)
		} else {
			t.parts[part] = append(q[:0:0], rest...)
		}
	}
	return out, popped
}

// Close leaves the group and releases connections; a Run in progress returns
// ErrConsumerClosed. With a CommitInterval, pending commits are flushed first.
func (c *Consumer) Close() error {
	c.closed.Store(true)
	if err := c.r.Close(); err != nil {
		return fmt.Errorf("close consumer %s/%s: %w", c.group, c.topic, err)
	}
	return nil
}
