package containerd

import (
	"context"
	"sync"
	"time"
)

// readyPool keeps up to size values made ahead of time, off the cold-start
// path: take hands one out (or makes one on the spot when none is ready),
// refill asks the background filler to top the pool up again.
type readyPool[T any] struct {
	ready chan T
	kick  chan struct{}
	stop  chan struct{}
	wg    sync.WaitGroup

	create  func(context.Context) (T, error)
	discard func(T)                               // undoes a value never handed out
	bg      func(context.Context) context.Context // the filler's context (e.g. low CPU priority)
	warn    func(msg string, args ...any)
	what    string // names the values in warnings
}

func newReadyPool[T any](size int, what string, create func(context.Context) (T, error), discard func(T),
	bg func(context.Context) context.Context, warn func(string, ...any)) *readyPool[T] {
	p := &readyPool[T]{ready: make(chan T, max(size, 0)), kick: make(chan struct{}, 1), stop: make(chan struct{}),
		create: create, discard: discard, bg: bg, warn: warn, what: what}
	if size > 0 {
		p.wg.Add(1)
		go p.fill()
		p.refill()
	}
	return p
}

// refill wakes the filler.
func (p *readyPool[T]) refill() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// fill keeps the pool full until stop.
func (p *readyPool[T]) fill() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		case <-p.kick:
		}
		for len(p.ready) < cap(p.ready) {
			ctx := context.Background()
			if p.bg != nil {
				ctx = p.bg(ctx)
			}
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			v, err := p.create(ctx)
			cancel()
			if err != nil {
				p.warn("prepare "+p.what, "err", err)
				break
			}
			select {
			case p.ready <- v:
			case <-p.stop:
				p.discard(v)
				return
			}
		}
	}
}

// take returns a prepared value, or makes one now.
func (p *readyPool[T]) take(ctx context.Context) (T, error) {
	select {
	case v := <-p.ready:
		return v, nil
	default:
	}
	return p.create(ctx)
}

// close stops the filler and discards the prepared values.
func (p *readyPool[T]) close() {
	close(p.stop)
	p.wg.Wait()
	for {
		select {
		case v := <-p.ready:
			p.discard(v)
		default:
			return
		}
	}
}
