package main

import (
	"context"
	"errors"
	"flag"
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
	fs := flag.NewFlagSet("invoker", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: brisk invoker [--config FILE] [flags]\n\n"+
			"Settings come from the file, then BRISK_* variables, then flags (see config/invoker.yaml).\n\n")
		fs.PrintDefaults()
	}
	if _, err := config.Load(&cfg, fs, args, os.Environ()); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("invoker config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invoker config: %w", err)
	}
	if cfg.DataDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("data-dir: %w", err)
		}
		cfg.DataDir = filepath.Join(home, ".brisk", "invoker"+strconv.Itoa(cfg.ID))
	}
	log, err := newRoleLogger(cfg.LogLevel, "invoker"+strconv.Itoa(cfg.ID))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return invokerRole(ctx, cfg, log)
}

func invokerRole(ctx context.Context, cfg config.Invoker, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	st, err := openCouch(ctx, cfg.CouchDB)
	if err != nil {
		return err
	}
	defer st.Close()

	brokers := cfg.Kafka.Brokers
	if err := ensureTopics(ctx, brokers, []messaging.TopicSpec{messaging.InvokerTopicSpec(cfg.ID), messaging.HealthTopicSpec()}); err != nil {
		return err
	}
	producer := messaging.NewProducer(brokers, messaging.ProducerOptions{Logger: log})
	defer producer.Close()

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locate own binary for the action proxy: %w", err)
	}
	c := cfg.Containers
	opts := containerOptions{backend: c.Backend, address: c.Address, namespace: c.Namespace, imagesDir: c.ImagesDir,
		bridge: c.Bridge, subnet: c.Subnet, noOutbound: c.DenyOutbound, pauseGrace: c.PauseGrace}
	factory, containerEnv, err := opts.factory(ctx, self, cfg.DataDir, log)
	if err != nil {
		return err
	}
	defer factory.Close()

	inv := invoker.New(invoker.Config{Instance: cfg.ID, UserMemoryMB: cfg.UserMemory, APIHost: cfg.APIHost,
		Manifest: api.DefaultManifest(), Limits: api.DefaultLimits(), Prewarm: cfg.Prewarm, ContainerEnv: containerEnv,
		PauseGrace: c.PauseGrace}, factory, producer, st, log)
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	inv.Start(runCtx)
	topic := messaging.InvokerTopic(cfg.ID)
	// Commits follow acceptance (Handle returns once the activation has a
	// slot), pipelined: a crash redelivers at most about a millisecond of
	// messages, which the invoker recognises (docs/kafka.md).
	invCons := messaging.NewConsumer(brokers, topic, topic, messaging.ConsumerOptions{Logger: log, PipelineCommits: true})
	consumed := make(chan error, 1)
	go func() { consumed <- invCons.Run(runCtx, inv.Handle) }()
	pinged := make(chan struct{})
	go func() { defer close(pinged); inv.RunPings(runCtx, invoker.PingInterval) }()

	fmt.Printf("Brisk invoker %d is ready: topic %s, %d MB for actions, %s containers (Kafka %s)\n",
		cfg.ID, topic, cfg.UserMemory, c.Backend, strings.Join(brokers, ","))

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-consumed:
		runErr = fmt.Errorf("message consumer stopped: %w", err)
	}
	stopRun()
	<-pinged
	// Tell the controllers at once, rather than after their ping timeout,
	// that this invoker takes no more work.
	pctx, cancel := context.WithTimeout(context.Background(), disablePingTimeout)
	if err := inv.Ping(pctx, false); err != nil {
		log.Warn("could not announce the shutdown; the controllers notice within 10 s", "err", err)
	}
	cancel()
	if runErr == nil {
		<-consumed
	}
	_ = invCons.Close()
	inv.Close()
	return runErr
}
