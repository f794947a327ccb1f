package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxReplyBytes bounds one reply line from a launcher (the action result).
const maxReplyBytes = 256 << 20

// pipeGrace is how long a pipe may stay open after the process that should
// write it has exited (a process it started may hold it) before the proxy
// closes its end to stop waiting.
const pipeGrace = 2 * time.Second

var (
	// errChildExited reports that the launcher process went away.
	errChildExited = errors.New("the action process exited unexpectedly")
	// errRetired reports that the launcher takes no new activations: it is
	// stopped as soon as the ones in flight end.
	errRetired = errors.New("the action process takes no new activations")
	// errBadReply reports a reply line that names no request.
	errBadReply = errors.New("the launcher sent an invalid reply")
)

// reply is one line the launcher wrote on its result descriptor.
type reply struct {
	line []byte
	err  error
}

// launcherReply is the framing the launchers use on fd 3.
type launcherReply struct {
	ID        *uint64         `json:"id"`
	OK        bool            `json:"ok"`
	Result    json.RawMessage `json:"result"`
	Error     json.RawMessage `json:"error"`
	Status    int             `json:"status"`
	Fatal     bool            `json:"fatal"`
	Cancelled bool            `json:"cancelled"`
}

// child is one running launcher process. Requests go to its stdin as single
// JSON lines; replies come back as single JSON lines on its fd 3. The first
// reply (the verdict on loading the action) is read with receive; after
// startMux every request carries an id, any number may be in flight, and a
// dispatcher hands each reply to the request with its id.
type child struct {
	cmd        *exec.Cmd
	stdin      *os.File
	replies    chan reply    // closed once fd 3 reaches EOF
	readerDone chan struct{} // closed after replies
	exited     chan struct{} // closed once the process has been reaped
	waitErr    error         // valid after exited is closed

	killOnce sync.Once
	quit     chan struct{} // closed by kill: before startMux, stop delivering replies
	muxed    atomic.Bool   // a dispatcher reads every reply

	sendMu sync.Mutex // one request line at a time on stdin

	mu       sync.Mutex
	calls    map[uint64]*call // requests waiting for their reply
	nextID   uint64
	live     int   // calls whose requester still waits (not abandoned)
	retiring bool  // no new calls; kill once live reaches 0
	broken   error // the reply stream has ended; every new call fails with it
}

// call is one request in flight.
type call struct {
	done      chan callResult // buffered: the dispatcher never blocks on it
	abandoned bool            // the requester gave up and sent a cancel
}

type callResult struct {
	rep launcherReply
	err error
}

// answered reports whether the launcher itself replied, which means it has
// ended the activation's logs (written its sentinels).
func (r callResult) answered() bool {
	var tooLong *lineTooLongError
	return r.err == nil || errors.As(r.err, &tooLong)
}

// startChild starts cmd with stdout and stderr set to the given files, a
// request pipe on stdin and a reply pipe on fd 3.
func startChild(cmd *exec.Cmd, stdout, stderr *os.File) (*child, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create request pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("create reply pipe: %w", err)
	}
	cmd.Stdin = inR
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.ExtraFiles = []*os.File{outW}
	setChildAttrs(cmd)
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	c := &child{
		cmd:        cmd,
		stdin:      inW,
		replies:    make(chan reply, 1),
		readerDone: make(chan struct{}),
		exited:     make(chan struct{}),
		quit:       make(chan struct{}),
	}
	go c.readReplies(outR)
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
		select {
		case <-c.readerDone:
		case <-time.After(pipeGrace):
			outR.Close() // a process the launcher started holds fd 3 open
		}
	}()
	return c, nil
}

func (c *child) readReplies(r *os.File) {
	defer close(c.readerDone)
	defer close(c.replies)
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br, maxReplyBytes)
		var tooLong *lineTooLongError
		if errors.As(err, &tooLong) {
			// Report it (the prefix names the request) and go on with the
			// next line.
			if !c.deliver(reply{line: tooLong.prefix, err: err}) || skipLine(br) != nil {
				return
			}
			continue
		}
		if err != nil {
			return // EOF, or the pipe was closed: the stream has ended
		}
		if !c.deliver(reply{line: line}) {
			return
		}
	}
}

// deliver passes one reply on; false means nobody will read it any more.
func (c *child) deliver(r reply) bool {
	if c.muxed.Load() {
		c.replies <- r // the dispatcher reads until the channel is closed
		return true
	}
	select {
	case c.replies <- r:
		return true
	case <-c.quit:
		return false
	}
}

// lineTooLongError is a line over the reader's limit; prefix is its start.
type lineTooLongError struct {
	limit  int
	prefix []byte
}

func (e *lineTooLongError) Error() string {
	return fmt.Sprintf("the action result is larger than %d bytes", e.limit)
}

// readLine reads one newline-terminated line of at most limit bytes,
// without the newline. A final line without newline counts as a line. A
// longer line fails with *lineTooLongError, the rest of it still unread.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit {
			return nil, &lineTooLongError{limit: limit, prefix: line[:min(len(line), 64)]}
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}

// skipLine discards input up to and including the next newline.
func skipLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// send writes one request line.
func (c *child) send(line []byte) error {
	buf := make([]byte, 0, len(line)+1)
	buf = append(append(buf, line...), '\n')
	c.sendMu.Lock()
	_, err := c.stdin.Write(buf)
	c.sendMu.Unlock()
	if err != nil {
		return fmt.Errorf("write request to the action process: %w", c.exitError(err))
	}
	return nil
}

// receive waits for the next reply line, before startMux. When the launcher
// closes fd 3 (normally because it exited) it returns an error wrapping
// errChildExited.
func (c *child) receive() ([]byte, error) {
	r, ok := <-c.replies
	if ok {
		return r.line, r.err
	}
	return nil, c.exitError(nil)
}

// startMux switches the child to id-tagged requests (see do).
func (c *child) startMux() {
	c.mu.Lock()
	c.calls = make(map[uint64]*call)
	c.mu.Unlock()
	c.muxed.Store(true)
	go c.dispatch()
}

// replyID matches the start of a reply line, which names the request.
var replyID = regexp.MustCompile(`^\{"id":([0-9]+)[,}]`)

// dispatch hands each reply to its call until the reply stream ends, then
// fails the calls still waiting.
func (c *child) dispatch() {
	for r := range c.replies {
		var rep launcherReply
		var tooLong *lineTooLongError
		if errors.As(r.err, &tooLong) {
			if m := replyID.FindSubmatch(r.line); m != nil {
				if id, err := strconv.ParseUint(string(m[1]), 10, 64); err == nil {
					c.complete(id, callResult{err: r.err})
					continue
				}
			}
			// The launcher's replies no longer make sense: stop it, go on
			// reading until it is gone.
			c.fail(r.err)
			go c.kill()
			continue
		}
		if err := json.Unmarshal(r.line, &rep); err != nil || rep.ID == nil {
			c.fail(errBadReply)
			go c.kill()
			continue
		}
		c.complete(*rep.ID, callResult{rep: rep})
	}
	c.fail(c.exitError(nil))
}

// complete ends call id with res; a reply for a call that has already ended
// (a cancel's answer after the real reply) is dropped.
func (c *child) complete(id uint64, res callResult) {
	c.mu.Lock()
	cl := c.calls[id]
	if cl == nil {
		c.mu.Unlock()
		return
	}
	delete(c.calls, id)
	if !cl.abandoned {
		c.live--
	}
	idle := c.retiring && c.live == 0
	c.mu.Unlock()
	cl.done <- res
	if idle {
		go c.kill()
	}
}

// fail ends every waiting call with err and refuses new ones.
func (c *child) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken == nil {
		c.broken = err
	}
	for id, cl := range c.calls {
		delete(c.calls, id)
		cl.done <- callResult{err: err}
	}
	c.live = 0
}

// do runs one activation: it sends msg with a fresh id and waits for the
// reply. It reports whether the launcher itself answered (then it has
// written the activation's sentinels).
//
// When ctx ends first the launcher is retired: killed now if no other
// request is waiting on it, otherwise told to end this activation's logs
// (a cancel line) and killed once the others are done.
func (c *child) do(ctx context.Context, msg runLine) (launcherReply, bool, error) {
	c.mu.Lock()
	if c.broken != nil {
		err := c.broken
		c.mu.Unlock()
		return launcherReply{}, false, err
	}
	if c.retiring {
		c.mu.Unlock()
		return launcherReply{}, false, errRetired
	}
	c.nextID++
	id := c.nextID
	cl := &call{done: make(chan callResult, 1)}
	c.calls[id] = cl
	c.live++
	c.mu.Unlock()

	msg.ID = id
	data, err := json.Marshal(msg)
	if err != nil {
		err = fmt.Errorf("encode the activation: %w", err)
	} else {
		err = c.send(data)
	}
	if err != nil {
		c.complete(id, callResult{err: err})
		res := <-cl.done // ours, or the failure of every call
		return launcherReply{}, false, res.err
	}

	select {
	case res := <-cl.done:
		return res.rep, res.answered(), res.err
	case <-ctx.Done():
	}
	cause := fmt.Errorf("the request was cancelled: %w", ctx.Err())
	c.mu.Lock()
	if c.calls[id] != cl { // the reply came in the meantime
		c.mu.Unlock()
		res := <-cl.done
		return res.rep, res.answered(), res.err
	}
	cl.abandoned = true
	c.live--
	c.retiring = true
	idle := c.live == 0
	c.mu.Unlock()
	if idle {
		c.kill()
	} else {
		line, _ := json.Marshal(cancelLine{ID: id, Cancel: true})
		_ = c.send(line) // on failure the launcher is going away: done reports it
	}
	// The cancel's answer, the real reply, or the launcher's end.
	res := <-cl.done
	return launcherReply{}, res.answered(), cause
}

// cancelLine tells a launcher the proxy no longer waits for a request.
type cancelLine struct {
	ID     uint64 `json:"id"`
	Cancel bool   `json:"cancel"`
}

// retire refuses new calls and kills the launcher once no requester waits
// on it (at once if none does).
func (c *child) retire() {
	c.mu.Lock()
	c.retiring = true
	idle := c.live == 0
	c.mu.Unlock()
	if idle {
		c.kill()
	}
}

// exitError describes why the process is gone, waiting briefly for it to be
// reaped so the exit status can be reported.
func (c *child) exitError(cause error) error {
	select {
	case <-c.exited:
	case <-time.After(pipeGrace):
		if cause != nil {
			return fmt.Errorf("%w: %w", errChildExited, cause)
		}
		return fmt.Errorf("%w: it closed its result channel", errChildExited)
	}
	status := "exit status 0"
	if c.waitErr != nil {
		status = c.waitErr.Error()
	}
	return fmt.Errorf("%w (%s)", errChildExited, status)
}

// kill stops the process and waits for it to be reaped. It is safe to call
// more than once and concurrently.
func (c *child) kill() {
	c.killOnce.Do(func() {
		close(c.quit)
		_ = c.cmd.Process.Kill()
		c.stdin.Close()
	})
	<-c.exited
}

// errorText renders a launcher's error field as a message.
func errorText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if len(raw) == 0 {
		return "unknown error"
	}
	return string(raw)
}
