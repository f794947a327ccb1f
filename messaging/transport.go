package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

const (
	defaultDialTimeout = 5 * time.Second
	defaultClientID    = "brisk"
)

// newTransport returns a kafka-go transport with bounded dials. Metadata is
// cached for 6 s (kafka-go's default), which is how long a new partition
// count takes to be seen.
func newTransport(dialTimeout time.Duration) *kafka.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &kafka.Transport{
		Dial:        d.DialContext,
		DialTimeout: dialTimeout,
		IdleTimeout: 5 * time.Minute,
		MetadataTTL: 6 * time.Second,
		ClientID:    defaultClientID,
	}
}

// kafkaLogger adapts slog to kafka-go's Printf-style loggers. Formatting is
// skipped when the level is disabled, because kafka-go logs every batch.
// Warnings carry a hint for the operator.
func kafkaLogger(l *slog.Logger, level slog.Level, component string) kafka.LoggerFunc {
	return func(format string, args ...any) {
		if !l.Enabled(context.Background(), level) {
			return
		}
		attrs := []any{"component", component}
		if level >= slog.LevelWarn {
			attrs = append(attrs, "hint", kafkaHint)
		}
		l.Log(context.Background(), level, fmt.Sprintf(format, args...), attrs...)
	}
}

// kafkaHint tells the operator what to do about a kafka-go warning: the
// client retries by itself, so one line is no problem; a stream of them is.
const kafkaHint = "kafka-go retries by itself; if this repeats, check that the Kafka brokers are up and reachable from this host"

// readerErrorLogger is a consumer's kafka-go error logger. An idle fetch
// that ends in a read timeout is routine, not a problem: the broker holds
// an idle fetch for about MaxWait and kafka-go's read deadline is MaxWait,
// so an answer that comes late (the embedded broker's does every few
// seconds at rest, whatever MaxWait) times out; the reader then reconnects
// and fetches again from the same offset, losing nothing. Those lines go to
// debug; every other reader error stays a warning, with what to do about
// it. A broker that is really away shows as "error initializing the kafka
// reader" and as the consumer's "fetch failed" warnings.
func readerErrorLogger(l *slog.Logger) kafka.LoggerFunc {
	return func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		level := slog.LevelWarn
		if isRoutineReaderError(msg) {
			level = slog.LevelDebug
		}
		if !l.Enabled(context.Background(), level) {
			return
		}
		attrs := []any{"component", "kafka-consumer"}
		if level == slog.LevelWarn {
			attrs = append(attrs, "hint", kafkaHint)
		}
		l.Log(context.Background(), level, msg, attrs...)
	}
}

// isRoutineReaderError reports whether a kafka-go reader error line is an
// idle fetch's read timeout.
func isRoutineReaderError(msg string) bool {
	return strings.Contains(msg, "unknown error reading partition") && strings.HasSuffix(msg, "i/o timeout")
}

func loggerOr(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.Default()
}
