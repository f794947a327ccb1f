package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/internal/config"
	"github.com/brisk-serverless/brisk/internal/metrics"
	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/containerd"
	"github.com/brisk-serverless/brisk/messaging"
)

// disablePingTimeout bounds the last, disabled ping at shutdown.
const disablePingTimeout = 3 * time.Second

// runInvoker is `brisk invoker`: it runs the activations of topic
// invoker<id> and pings the controllers.
func runInvoker(args []string) error {
	cfg := config.DefaultInvoker(containerd.DefaultAddress, containerd.DefaultNamespace, invoker.DefaultPauseGrace)
	if help, err := loadConfig("invoker", "config/invoker.yaml", &cfg, args); help || err != nil {
		return err
	}
	if cfg.DataDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("data-dir: %w", err)
		}
		cfg.DataDir = filepath.Join(home, ".brisk", "invoker"+strconv.Itoa(cfg.ID))
	}
	log, err := newLogger(cfg.LogLevel, "invoker"+strconv.Itoa(cfg.ID))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return invokerRole(ctx, cfg, log)
}

func invokerRole(ctx context.Context, cfg config.Invoker, log *slog.Logger) error {
	r := newRole(log)
	defer r.stop()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	m := metrics.New()
	metricsURL, err := r.serveMetrics(cfg.MetricsListen, m)
	if err != nil {
		return err
	}
	st, err := openCouch(ctx, cfg.CouchDB, m)
	if err != nil {
		return err
	}
	r.closer("store", st.Close)

	brokers := cfg.Kafka.Brokers
	if err := ensureTopics(ctx, brokers, []messaging.TopicSpec{messaging.InvokerTopicSpec(cfg.ID), messaging.HealthTopicSpec()}); err != nil {
		return err
	}
	producer := messaging.NewProducer(brokers, messaging.ProducerOptions{Logger: log, Metrics: m})
	r.closer("producer", producer.Close)

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locate own binary for the action proxy: %w", err)
	}
	c := cfg.Containers
	factory, containerEnv, err := containerFactory(ctx, c, self, cfg.DataDir, log)
	if err != nil {
		return err
	}
	r.closer("containers", factory.Close)

	inv := invoker.New(invoker.Config{Instance: cfg.ID, UserMemoryMB: cfg.UserMemory, APIHost: cfg.APIHost,
		Manifest: api.DefaultManifest(), Limits: api.DefaultLimits(), Prewarm: cfg.Prewarm, ContainerEnv: containerEnv,
		PauseGrace: c.PauseGrace, Metrics: m}, factory, producer, st, log)
	invCtx, stopInv := context.WithCancel(context.Background())
	inv.Start(invCtx)
	r.onStop("invoker", func(context.Context) { stopInv(); inv.Close() })
	// Stopping pings: a last, disabled ping tells the controllers at once,
	// rather than after their ping timeout, that this invoker takes no more
	// work. It runs after the consumer stopped (stop steps run in reverse).
	r.onStop("shutdown ping", func(ctx context.Context) {
		pctx, cancel := context.WithTimeout(ctx, disablePingTimeout)
		defer cancel()
		if err := inv.Ping(pctx, false); err != nil {
			log.Warn("could not announce the shutdown; the controllers notice within 10 s", "err", err)
		}
	})
	topic := messaging.InvokerTopic(cfg.ID)
	// A message is committed once its activation's record is stored
	// (HandleAcked): an invoker that dies with activations running gets
	// their messages again when it restarts, runs those without a record
	// and skips the others (docs/kafka.md).
	invCons := messaging.NewConsumer(brokers, topic, topic, messaging.ConsumerOptions{Logger: log, PipelineCommits: true, Metrics: m})
	r.loop("consumer of "+topic, func(ctx context.Context) error { return invCons.RunAcked(ctx, inv.HandleAcked) }, invCons.Close)
	r.loop("pings", func(ctx context.Context) error { inv.RunPings(ctx, invoker.PingInterval); return nil }, nil)

	fmt.Printf("Brisk invoker %d is ready: topic %s, %d MB for actions, %s containers (Kafka %s)\n",
		cfg.ID, topic, cfg.UserMemory, c.Backend, strings.Join(brokers, ","))
	if metricsURL != "" {
		fmt.Printf("Brisk invoker %d metrics at %s\n", cfg.ID, metricsURL)
	}
	return r.wait(ctx)
}
