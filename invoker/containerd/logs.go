package containerd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/brisk-serverless/brisk/invoker"
)

// maxLogLine is the longest line delivered as one LogLine; longer lines are
// split.
const maxLogLine = 64 << 10

// logPump turns a container's stdout and stderr into LogLines on a bounded
// channel. containerd copies the task's FIFOs into the write ends of two
// pipes; the pump reads the other ends.
type logPump struct {
	ch        chan invoker.LogLine
	dropAfter time.Duration
	outW      *os.File
	errW      *os.File
	closeOnce sync.Once
}

func newLogPump(buffer int, dropAfter time.Duration) (*logPump, *os.File, *os.File, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, nil, fmt.Errorf("create stderr pipe: %w", err)
	}
	p := &logPump{ch: make(chan invoker.LogLine, buffer), dropAfter: dropAfter, outW: outW, errW: errW}
	var wg sync.WaitGroup
	wg.Add(2)
	go p.pump(&wg, outR, "stdout")
	go p.pump(&wg, errR, "stderr")
	go func() {
		wg.Wait()
		close(p.ch)
	}()
	return p, outW, errW, nil
}

// close ends both streams; the channel closes once the readers drained
// what was written before.
func (p *logPump) close() {
	p.closeOnce.Do(func() {
		p.outW.Close()
		p.errW.Close()
	})
}

func (p *logPump) pump(wg *sync.WaitGroup, r *os.File, stream string) {
	defer wg.Done()
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLogLine)
	d := dropper{p: p, stream: stream}
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			text := chunk
			if text[len(text)-1] == '\n' {
				text = text[:len(text)-1]
			}
			d.deliver(invoker.LogLine{Time: time.Now(), Stream: stream, Text: string(text)})
		}
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
			d.deliver(invoker.LogLine{Time: time.Now(), Stream: stream, Text: "Brisk could not read the container's " + stream + ": " + err.Error()})
		}
		d.flush()
		return
	}
}

// dropper delivers lines without blocking the container for ever when
// nobody reads: a line waits at most dropAfter for room, then lines are
// counted as dropped until there is room for one marker line.
type dropper struct {
	p       *logPump
	stream  string
	dropped int
}

func (d *dropper) marker() invoker.LogLine {
	return invoker.LogLine{
		Time: time.Now(), Stream: d.stream, Dropped: true,
		Text: fmt.Sprintf("Brisk dropped %d %s lines because nobody read the logs in time.", d.dropped, d.stream),
	}
}

func (d *dropper) deliver(line invoker.LogLine) {
	if d.dropped > 0 {
		select {
		case d.p.ch <- d.marker():
			d.dropped = 0
		default:
			d.dropped++
			return
		}
	}
	select {
	case d.p.ch <- line:
		return
	default:
	}
	t := time.NewTimer(d.p.dropAfter)
	defer t.Stop()
	select {
	case d.p.ch <- line:
	case <-t.C:
		d.dropped++
	}
}

func (d *dropper) flush() {
	if d.dropped == 0 {
		return
	}
	t := time.NewTimer(d.p.dropAfter)
	defer t.Stop()
	select {
	case d.p.ch <- d.marker():
	case <-t.C:
	}
}
