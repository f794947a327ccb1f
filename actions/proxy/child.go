package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// maxReplyBytes bounds one reply line from a launcher (the action result).
const maxReplyBytes = 256 << 20

// errChildExited reports that the launcher process went away.
var errChildExited = errors.New("the action process exited unexpectedly")

// reply is one line the launcher wrote on its result descriptor.
type reply struct {
	line []byte
	err  error
}

// child is one running launcher process. Requests go to its stdin as single
// JSON lines; replies come back as single JSON lines on its fd 3.
type child struct {
	cmd     *exec.Cmd
	stdin   *os.File
	replies chan reply    // closed once fd 3 reaches EOF
	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // valid after exited is closed

	quitOnce sync.Once
	quit     chan struct{} // closed by kill: stop delivering replies
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
		cmd:     cmd,
		stdin:   inW,
		replies: make(chan reply, 1),
		exited:  make(chan struct{}),
		quit:    make(chan struct{}),
	}
	go c.readReplies(outR)
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

func (c *child) readReplies(r *os.File) {
	defer close(c.replies)
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br, maxReplyBytes)
		if err == io.EOF {
			return
		}
		select {
		case c.replies <- reply{line: line, err: err}:
		case <-c.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

// readLine reads one newline-terminated line of at most limit bytes,
// without the newline. A final line without newline counts as a line.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit {
			return nil, fmt.Errorf("the action result is larger than %d bytes", limit)
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

// send writes one request line.
func (c *child) send(line []byte) error {
	buf := make([]byte, 0, len(line)+1)
	buf = append(append(buf, line...), '\n')
	if _, err := c.stdin.Write(buf); err != nil {
		return fmt.Errorf("write request to the action process: %w", c.exitError(err))
	}
	return nil
}

// receive waits for the next reply line. When the launcher closes fd 3
// (normally because it exited) it returns an error wrapping errChildExited.
func (c *child) receive() ([]byte, error) {
	r, ok := <-c.replies
	if ok {
		return r.line, r.err
	}
	return nil, c.exitError(nil)
}

// exitError describes why the process is gone, waiting briefly for it to be
// reaped so the exit status can be reported.
func (c *child) exitError(cause error) error {
	select {
	case <-c.exited:
	case <-time.After(2 * time.Second):
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
	c.quitOnce.Do(func() {
		close(c.quit)
		_ = c.cmd.Process.Kill()
		c.stdin.Close()
	})
	<-c.exited
}
