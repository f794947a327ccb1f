package invoker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/store"
)

// recordWriter writes activation records to the store in batches, off the
// response path. Its queue is bounded: when the store falls behind, add
// blocks (back-pressure, so further activations wait in Kafka) rather than
// dropping a record. While the database is unavailable a batch is retried
// until it returns; only a record the store refuses (or one still unwritten
// recordCloseGrace after close) is given up, and then logged with its id.
type recordWriter struct {
	st      Store
	log     *slog.Logger
	queue   chan record
	done    chan struct{}
	closing chan struct{}
	// giveUpAt is when close stops retrying; written before closing is closed.
	giveUpAt time.Time
}

const (
	recordQueueSize  = 4096
	recordBatchSize  = 128
	recordMaxRetries = 8
	// recordMaxBackoff caps the wait between two attempts.
	recordMaxBackoff = 5 * time.Second
	// recordCloseGrace bounds how long close keeps retrying an unavailable
	// database.
	recordCloseGrace = 10 * time.Second
	// recordLinger lets a batch gather more records before it is written:
	// one store transaction (and fsync) per batch instead of per record.
	recordLinger = 5 * time.Millisecond
)

// record is one activation record and what to call once it is stored.
type record struct {
	act *api.Activation
	// stored is called after the record is written (or given up, which is
	// logged): the activation's message may then be committed.
	stored func()
}

func newRecordWriter(st Store, log *slog.Logger) *recordWriter {
	return &recordWriter{st: st, log: log, queue: make(chan record, recordQueueSize),
		done: make(chan struct{}), closing: make(chan struct{})}
}

func (w *recordWriter) start() { go w.loop() }

// add queues a record; stored (may be nil) is called once it is written.
func (w *recordWriter) add(a *api.Activation, stored func()) {
	w.queue <- record{act: a, stored: stored}
}

// close flushes what is queued and stops.
func (w *recordWriter) close() {
	w.giveUpAt = time.Now().Add(recordCloseGrace)
	close(w.closing)
	close(w.queue)
	<-w.done
}

func (w *recordWriter) loop() {
	defer close(w.done)
	linger := time.NewTimer(recordLinger)
	for first := range w.queue {
		batch := []record{first}
		linger.Reset(recordLinger)
	fill:
		for len(batch) < recordBatchSize {
			select {
			case a, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, a)
			case <-linger.C:
				break fill
			}
		}
		acts := make([]*api.Activation, len(batch))
		for i, r := range batch {
			acts[i] = r.act
		}
		w.write(acts)
		for _, r := range batch {
			if r.stored != nil {
				r.stored()
			}
		}
	}
}

// write stores a batch, retrying with backoff: without end while the
// database is unavailable (until recordCloseGrace after close), at most
// recordMaxRetries times for other errors. A batch given up is logged with
// every activation id so nothing disappears silently.
func (w *recordWriter) write(batch []*api.Activation) {
	backoff := 100 * time.Millisecond
	var giveUp <-chan time.Time // set once closing
	for attempt := 1; ; attempt++ {
		// Not bounded by the invoker's run context: close flushes the
		// queue after that has been cancelled, and waits for it.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.st.PutActivations(ctx, batch)
		cancel()
		if err == nil {
			if attempt > 1 {
				w.log.Info("activation records written after retries", "count", len(batch), "attempts", attempt)
			}
			return
		}
		transient := errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
		if !transient && attempt >= recordMaxRetries {
			w.lost(batch, err)
			return
		}
		w.log.Warn("write activation records", "count", len(batch), "attempt", attempt, "err", err)
		if giveUp == nil {
			select {
			case <-w.closing:
				giveUp = time.After(time.Until(w.giveUpAt))
			default:
			}
		}
		select {
		case <-time.After(backoff):
		case <-giveUp:
			w.lost(batch, err)
			return
		}
		backoff = min(backoff*2, recordMaxBackoff)
	}
}

func (w *recordWriter) lost(batch []*api.Activation, err error) {
	ids := make([]string, len(batch))
	for i, a := range batch {
		ids[i] = a.ActivationID
	}
	w.log.Error("activation records lost after retries", "count", len(batch), "ids", ids, "err", err)
}
