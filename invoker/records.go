package invoker

import (
	"context"
	"log/slog"
	"time"

	"github.com/brisk-serverless/brisk/api"
)

// recordWriter writes activation records to the store in batches, off the
// response path. Its queue is bounded: when the store falls behind, add
// blocks (back-pressure) rather than dropping a record.
type recordWriter struct {
	st    Store
	log   *slog.Logger
	queue chan *api.Activation
	done  chan struct{}
}

const (
	recordQueueSize  = 4096
	recordBatchSize  = 128
	recordMaxRetries = 8
	// recordLinger lets a batch gather more records before it is written:
	// one store transaction (and fsync) per batch instead of per record.
	recordLinger = 5 * time.Millisecond
)

func newRecordWriter(st Store, log *slog.Logger) *recordWriter {
	return &recordWriter{st: st, log: log, queue: make(chan *api.Activation, recordQueueSize), done: make(chan struct{})}
}

func (w *recordWriter) start() { go w.loop() }

func (w *recordWriter) add(a *api.Activation) { w.queue <- a }

// close flushes what is queued and stops.
func (w *recordWriter) close() {
	close(w.queue)
	<-w.done
}

func (w *recordWriter) loop() {
	defer close(w.done)
	linger := time.NewTimer(recordLinger)
	for first := range w.queue {
		batch := []*api.Activation{first}
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
		w.write(batch)
	}
}

// write stores a batch, retrying with backoff; a batch that still fails is
// logged with every activation id so nothing disappears silently.
func (w *recordWriter) write(batch []*api.Activation) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.st.PutActivations(ctx, batch)
		cancel()
		if err == nil {
			return
		}
		if attempt == recordMaxRetries {
			ids := make([]string, len(batch))
			for i, a := range batch {
				ids[i] = a.ActivationID
			}
			w.log.Error("activation records lost after retries", "count", len(batch), "ids", ids, "err", err)
			return
		}
		w.log.Warn("write activation records", "count", len(batch), "attempt", attempt, "err", err)
		time.Sleep(backoff)
		backoff = min(backoff*2, 10*time.Second)
	}
}
