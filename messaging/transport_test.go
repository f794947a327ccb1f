package messaging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestReaderErrorLogger: an idle fetch's read timeout is debug chatter; any
// other kafka-go reader error is a warning with a hint for the operator.
func TestReaderErrorLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	logf := readerErrorLogger(log)
	logf("the kafka reader got an unknown error reading partition %d of %s at offset %d: %s", 0, "invoker0", 0,
		"read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout")
	if buf.Len() != 0 {
		t.Errorf("an idle fetch's timeout is logged at info or above: %s", buf.String())
	}
	logf("error initializing the kafka reader for partition %d of %s: %s", 0, "invoker0", "dial tcp: connection refused")
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "hint=") || !strings.Contains(out, "connection refused") {
		t.Errorf("a reader error is not a warning with a hint: %s", out)
	}
}
