package messaging

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Topic names shared by all components (upstream's).
const (
	HealthTopic            = "health"
	CacheInvalidationTopic = "cacheInvalidation"
)

// InvokerTopic returns the topic invoker n consumes activations from.
func InvokerTopic(n int) string { return "invoker" + strconv.Itoa(n) }

// CompletedTopic returns the topic controller c consumes acknowledgements from.
func CompletedTopic(controller string) string { return "completed" + controller }

// Upstream's size limits: an activation payload may be 1 MiB, and the message
// around it gets 6068 bytes of headroom (whisk.activation.kafka.serdes-overhead).
const (
	MaxPayloadBytes        = 1 << 20
	SerdesOverheadBytes    = 6068
	DefaultMaxMessageBytes = MaxPayloadBytes + SerdesOverheadBytes
)

// Upstream's per-topic defaults (application.conf whisk.kafka.topics).
const (
	DefaultSegmentBytes   = 512 << 20
	DefaultRetentionBytes = 1 << 30
)

// Retention times of upstream's topics.
const (
	InvokerRetention           = 48 * time.Hour
	CompletedRetention         = time.Hour
	HealthRetention            = time.Hour
	CacheInvalidationRetention = 5 * time.Minute
)

// TopicSpec describes a topic for [EnsureTopics]. Zero fields take the
// defaults noted on each field.
type TopicSpec struct {
	Name string
	// Partitions defaults to 1, as upstream creates every topic.
	Partitions int
	// ReplicationFactor defaults to 1 (upstream's whisk.kafka.replication-factor).
	ReplicationFactor int
	// RetentionMs is retention.ms; it must be set (> 0), because an embedded
	// broker keeps every record in memory until retention drops it.
	RetentionMs int64
	// RetentionBytes is retention.bytes per partition; defaults to 1 GiB,
	// -1 means no limit. An EmbeddedBroker caps it (see EmbeddedConfig).
	RetentionBytes int64
	// SegmentBytes is segment.bytes; defaults to 512 MiB. An EmbeddedBroker
	// caps it (see EmbeddedConfig).
	SegmentBytes int64
	// MaxMessageBytes is max.message.bytes; defaults to DefaultMaxMessageBytes.
	MaxMessageBytes int
}

// InvokerTopicSpec returns upstream's settings for invoker<n>.
func InvokerTopicSpec(n int) TopicSpec {
	return TopicSpec{Name: InvokerTopic(n), RetentionMs: InvokerRetention.Milliseconds()}
}

// CompletedTopicSpec returns upstream's settings for completed<controller>.
func CompletedTopicSpec(controller string) TopicSpec {
	return TopicSpec{Name: CompletedTopic(controller), RetentionMs: CompletedRetention.Milliseconds()}
}

// HealthTopicSpec returns upstream's settings for the health topic.
func HealthTopicSpec() TopicSpec {
	return TopicSpec{Name: HealthTopic, RetentionMs: HealthRetention.Milliseconds()}
}

// CacheInvalidationTopicSpec returns upstream's settings for cacheInvalidation.
func CacheInvalidationTopicSpec() TopicSpec {
	return TopicSpec{Name: CacheInvalidationTopic, RetentionMs: CacheInvalidationRetention.Milliseconds()}
}

// ControllerTopicSpecs returns the topics a controller creates at startup:
// completed<controller>, health and cacheInvalidation.
func ControllerTopicSpecs(controller string) []TopicSpec {
	return []TopicSpec{CompletedTopicSpec(controller), HealthTopicSpec(), CacheInvalidationTopicSpec()}
}

func (s TopicSpec) withDefaults() TopicSpec {
	if s.Partitions <= 0 {
		s.Partitions = 1
	}
	if s.ReplicationFactor <= 0 {
		s.ReplicationFactor = 1
	}
	if s.RetentionBytes == 0 {
		s.RetentionBytes = DefaultRetentionBytes
	}
	if s.SegmentBytes <= 0 {
		s.SegmentBytes = DefaultSegmentBytes
	}
	if s.MaxMessageBytes <= 0 {
		s.MaxMessageBytes = DefaultMaxMessageBytes
	}
	return s
}

// adminTimeout bounds EnsureTopics when the caller's context has no deadline.
const adminTimeout = 15 * time.Second

// EnsureTopics creates the topics that do not exist yet. A topic that already
// exists is left as it is (its configuration is not changed). The call is
// bounded by ctx, or by 15 s if ctx has no deadline.
func EnsureTopics(ctx context.Context, brokers []string, topics []TopicSpec) error {
	if len(brokers) == 0 {
		return errors.New("ensure topics: no brokers")
	}
	if len(topics) == 0 {
		return nil
	}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		if t.Name == "" {
			return errors.New("ensure topics: empty topic name")
		}
		if t.RetentionMs <= 0 {
			return fmt.Errorf("ensure topics: topic %q: RetentionMs must be set", t.Name)
		}
		t = t.withDefaults()
		req.Topics = append(req.Topics, kafka.TopicConfig{
			Topic:             t.Name,
			NumPartitions:     t.Partitions,
			ReplicationFactor: t.ReplicationFactor,
			ConfigEntries: []kafka.ConfigEntry{
				{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(t.RetentionMs, 10)},
				{ConfigName: "retention.bytes", ConfigValue: strconv.FormatInt(t.RetentionBytes, 10)},
				{ConfigName: "segment.bytes", ConfigValue: strconv.FormatInt(t.SegmentBytes, 10)},
				{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(t.MaxMessageBytes)},
			},
		})
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, adminTimeout)
		defer cancel()
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: newTransport(defaultDialTimeout)}
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("ensure topics on %v: %w", brokers, err)
	}
	var errs []error
	for name, terr := range resp.Errors {
		if terr != nil && !errors.Is(terr, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %q: %w", name, terr))
		}
	}
	return errors.Join(errs...)
}
