package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EmbeddedConfig configures an in-process broker.
type EmbeddedConfig struct {
	// DataDir, when set, makes topics, records and committed group offsets
	// survive a restart on the same directory. Writes are not fsynced per
	// batch (see SyncWrites), so a crash can lose the last batches.
	DataDir string
	// SyncWrites fsyncs every batch (about 10x slower produce round trips).
	SyncWrites bool
	// Port is the 127.0.0.1 port to listen on; 0 picks a free one.
	Port int
	// RetentionCheckInterval is how often retention runs
	// (log.cleaner.backoff.ms); default 10 s. Retention only runs for topics
	// created with retention settings, which EnsureTopics always sets.
	RetentionCheckInterval time.Duration
	// MaxSegmentBytes and MaxRetentionBytes cap segment.bytes and
	// retention.bytes of every topic created on this broker, whoever creates
	// it; a topic created without retention.ms gets 48 h. The broker frees
	// a partition's storage one whole segment at a time, and without a
	// DataDir that storage is memory: upstream's 512 MiB segments would keep
	// up to 512 MiB per partition alive after retention. Defaults 16 MiB and
	// 64 MiB (so about 80 MiB per partition at most); negative means no cap.
	MaxSegmentBytes   int64
	MaxRetentionBytes int64
	// Logger receives the broker's warnings and errors; default slog.Default().
	Logger *slog.Logger
}

// Defaults for EmbeddedConfig's caps.
const (
	EmbeddedMaxSegmentBytes   = 16 << 20
	EmbeddedMaxRetentionBytes = 64 << 20
)

// EmbeddedBroker is a single Kafka-protocol broker (kfake) running in this
// process on 127.0.0.1. Clients reach it over TCP like any other broker.
// Topics are not created automatically: use EnsureTopics.
type EmbeddedBroker struct {
	cluster *kfake.Cluster
	addrs   []string
	log     *errorCapture
	once    sync.Once
	err     error
}

// StartEmbedded starts a broker. Close it to release the port and, with a
// DataDir, to write its state to disk.
func StartEmbedded(cfg EmbeddedConfig) (*EmbeddedBroker, error) {
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = 10 * time.Second
	}
	if cfg.MaxSegmentBytes == 0 {
		cfg.MaxSegmentBytes = EmbeddedMaxSegmentBytes
	}
	if cfg.MaxRetentionBytes == 0 {
		cfg.MaxRetentionBytes = EmbeddedMaxRetentionBytes
	}
	logger := &errorCapture{log: loggerOr(cfg.Logger).With("component", "kafka-broker")}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(1),
		kfake.WithLogger(logger),
		kfake.BrokerConfigs(map[string]string{
			"log.cleaner.backoff.ms": strconv.FormatInt(cfg.RetentionCheckInterval.Milliseconds(), 10),
			// Defaults for topics created without configs (e.g. by another tool).
			"log.retention.ms":    strconv.FormatInt(InvokerRetention.Milliseconds(), 10),
			"log.retention.bytes": strconv.FormatInt(DefaultRetentionBytes, 10),
			"message.max.bytes":   strconv.Itoa(DefaultMaxMessageBytes),
		}),
	}
	if cfg.Port != 0 {
		opts = append(opts, kfake.Ports(cfg.Port))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka (port %d, data dir %q): %w", cfg.Port, cfg.DataDir, err)
	}
	// Rewrite topic configs in CreateTopics requests before the broker
	// handles them (the control function observes and does not handle).
	c.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if r, ok := req.(*kmsg.CreateTopicsRequest); ok {
			for i := range r.Topics {
				r.Topics[i].Configs = capTopicConfigs(r.Topics[i].Configs, cfg.MaxSegmentBytes, cfg.MaxRetentionBytes)
			}
		}
		return nil, nil, false
	})
	return &EmbeddedBroker{cluster: c, addrs: c.ListenAddrs(), log: logger}, nil
}

// capTopicConfigs lowers segment.bytes and retention.bytes to the caps (a
// negative cap leaves them) and adds retention.ms when it is missing.
func capTopicConfigs(cfgs []kmsg.CreateTopicsRequestTopicConfig, maxSegment, maxRetention int64) []kmsg.CreateTopicsRequestTopicConfig {
	set := func(name string, limit int64, unlimited int64) {
		if limit < 0 {
			return
		}
		v := strconv.FormatInt(limit, 10)
		for i := range cfgs {
			if cfgs[i].Name != name {
				continue
			}
			if cfgs[i].Value != nil {
				n, err := strconv.ParseInt(*cfgs[i].Value, 10, 64)
				if err == nil && n != unlimited && n <= limit {
					return
				}
			}
			cfgs[i].Value = &v
			return
		}
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = name, &v
		cfgs = append(cfgs, c)
	}
	set("segment.bytes", maxSegment, 0)
	set("retention.bytes", maxRetention, -1)
	for _, c := range cfgs {
		if c.Name == "retention.ms" && c.Value != nil {
			return cfgs
		}
	}
	ms := strconv.FormatInt(InvokerRetention.Milliseconds(), 10)
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "retention.ms", &ms
	return append(cfgs, c)
}

// Addrs returns the broker's host:port addresses.
func (b *EmbeddedBroker) Addrs() []string { return append([]string(nil), b.addrs...) }

// ApplyRetention drops expired records now instead of at the next check.
func (b *EmbeddedBroker) ApplyRetention() { b.cluster.ApplyRetention() }

// LogStartOffset returns the first offset still stored in a partition, and
// false if the partition does not exist. It shows retention at work.
func (b *EmbeddedBroker) LogStartOffset(topic string, partition int) (int64, bool) {
	p := b.cluster.PartitionInfo(topic, int32(partition))
	if p == nil {
		return 0, false
	}
	return p.LogStartOffset, true
}

// Close stops the broker; with a DataDir it saves its state first. It
// returns the errors the broker logged while saving.
func (b *EmbeddedBroker) Close() error {
	b.once.Do(func() {
		b.log.capture(true)
		b.cluster.Close()
		b.err = b.log.capture(false)
	})
	return b.err
}

// errorCapture forwards kfake's warnings and errors to slog and, while
// capturing, keeps the errors so Close can return them.
type errorCapture struct {
	log *slog.Logger

	mu        sync.Mutex
	capturing bool
	errs      []error
}

func (e *errorCapture) Logf(level kfake.LogLevel, format string, args ...any) {
	var sl slog.Level
	switch level {
	case kfake.LogLevelError:
		sl = slog.LevelError
	case kfake.LogLevelWarn:
		sl = slog.LevelWarn
	default:
		sl = slog.LevelDebug
	}
	if level == kfake.LogLevelError {
		e.mu.Lock()
		if e.capturing {
			e.errs = append(e.errs, fmt.Errorf(format, args...))
		}
		e.mu.Unlock()
	}
	if e.log.Enabled(context.Background(), sl) {
		e.log.Log(context.Background(), sl, fmt.Sprintf(format, args...))
	}
}

// capture turns capturing on or off and returns what was captured.
func (e *errorCapture) capture(on bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.capturing = on
	err := errors.Join(e.errs...)
	e.errs = nil
	return err
}
