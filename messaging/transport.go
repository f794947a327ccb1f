package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"net"
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
func kafkaLogger(l *slog.Logger, level slog.Level, component string) kafka.LoggerFunc {
	return func(format string, args ...any) {
		if !l.Enabled(context.Background(), level) {
			return
		}
		l.Log(context.Background(), level, fmt.Sprintf(format, args...), "component", component)
	}
}

func loggerOr(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.Default()
}
