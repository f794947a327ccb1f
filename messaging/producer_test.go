package messaging

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestSendErrorMapping: an oversized message, refused by the broker or by
// the client's BatchBytes, wrapped or in a WriteErrors, is
// ErrMessageTooLarge and still the Kafka client's error; other errors are
// not.
func TestSendErrorMapping(t *testing.T) {
	clientSide := kafka.MessageTooLargeError{Message: kafka.Message{Value: []byte("x")}}
	cases := []struct {
		name     string
		err      error
		tooLarge bool
		closed   bool
		kafkaErr error
	}{
		{"broker refusal", kafka.MessageSizeTooLarge, true, false, kafka.MessageSizeTooLarge},
		{"broker refusal in a batch", kafka.WriteErrors{kafka.MessageSizeTooLarge}, true, false, kafka.MessageSizeTooLarge},
		{"wrapped broker refusal", fmt.Errorf("produce: %w", kafka.MessageSizeTooLarge), true, false, kafka.MessageSizeTooLarge},
		{"over BatchBytes", clientSide, true, false, kafka.MessageSizeTooLarge},
		{"other Kafka error", kafka.WriteErrors{kafka.UnknownTopicOrPartition}, false, false, kafka.UnknownTopicOrPartition},
		{"closed", io.ErrClosedPipe, false, true, nil},
		{"other", errors.New("boom"), false, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := sendError("topic", 42, c.err)
			if got := errors.Is(err, ErrMessageTooLarge); got != c.tooLarge {
				t.Errorf("errors.Is(%v, ErrMessageTooLarge) = %v, want %v", err, got, c.tooLarge)
			}
			if got := errors.Is(err, ErrProducerClosed); got != c.closed {
				t.Errorf("errors.Is(%v, ErrProducerClosed) = %v, want %v", err, got, c.closed)
			}
			if c.kafkaErr != nil && !errors.Is(err, c.kafkaErr) {
				t.Errorf("%v does not wrap %v", err, c.kafkaErr)
			}
			if c.name == "over BatchBytes" {
				var mtl kafka.MessageTooLargeError
				if !errors.As(err, &mtl) {
					t.Errorf("%v does not wrap kafka.MessageTooLargeError", err)
				}
			}
		})
	}
}
