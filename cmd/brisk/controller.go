package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/controller/alarms"
	"github.com/brisk-serverless/brisk/internal/config"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
)

// roleStartTimeout bounds each startup step of a distributed role that
// talks to Kafka or CouchDB.
const roleStartTimeout = time.Minute

// runController is `brisk controller`: the REST API and the load balancer,
// against a Kafka broker and a CouchDB shared with other controllers and the
// invokers.
func runController(args []string) error {
	cfg := config.DefaultController()
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: brisk controller [--config FILE] [flags]\n\n"+
			"Settings come from the file, then BRISK_* variables, then flags (see config/controller.yaml).\n\n")
		fs.PrintDefaults()
	}
	if _, err := config.Load(&cfg, fs, args, os.Environ()); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("controller config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("controller config: %w", err)
	}
	log, err := newRoleLogger(cfg.LogLevel, "controller"+cfg.ID)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return controllerRole(ctx, cfg, log)
}

// newRoleLogger is the text logger of a role at level, tagged with its name.
func newRoleLogger(level, role string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})).With("role", role)
	slog.SetDefault(log)
	return log, nil
}

// openCouch opens the shared CouchDB store of a role.
func openCouch(ctx context.Context, db config.CouchDB) (*store.Store, error) {
	scfg, err := store.CouchConfig(db.URL, db.Prefix)
	if err != nil {
		return nil, fmt.Errorf("couchdb: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, roleStartTimeout)
	defer cancel()
	return store.Open(sctx, scfg)
}

// ensureTopics creates a role's topics, bounded.
func ensureTopics(ctx context.Context, brokers []string, topics []messaging.TopicSpec) error {
	tctx, cancel := context.WithTimeout(ctx, roleStartTimeout)
	defer cancel()
	if err := messaging.EnsureTopics(tctx, brokers, topics); err != nil {
		return fmt.Errorf("kafka %s: %w", strings.Join(brokers, ","), err)
	}
	return nil
}

func controllerRole(ctx context.Context, cfg config.Controller, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()

	st, err := openCouch(ctx, cfg.CouchDB)
	if err != nil {
		return err
	}
	defer st.Close()
	manifest := api.DefaultManifest()
	limits := api.DefaultLimits()
	limits.InvocationsPerMinute = cfg.Throttles.InvocationsPerMinute
	limits.ConcurrentInvocations = cfg.Throttles.ConcurrentInvocations
	limits.FiresPerMinute = cfg.Throttles.FiresPerMinute
	limits.MaxConcurrency = max(cfg.Throttles.MaxActionConcurrency, 1)
	actx, cancel := context.WithTimeout(ctx, roleStartTimeout)
	err = controller.EnsureHealthTestAction(actx, st, cfg.ID, manifest, limits)
	cancel()
	if err != nil {
		return err
	}

	brokers := cfg.Kafka.Brokers
	if err := ensureTopics(ctx, brokers, messaging.ControllerTopicSpecs(cfg.ID)); err != nil {
		return err
	}
	producer := messaging.NewProducer(brokers, messaging.ProducerOptions{Logger: log})
	defer producer.Close()

	lb := cfg.LoadBalancer
	balancer := controller.NewBalancer(controller.BalancerConfig{ControllerID: cfg.ID, ClusterSize: lb.ClusterSize,
		ManagedFraction: lb.ManagedFraction, BlackboxFraction: lb.BlackboxFraction, TimeoutFactor: lb.TimeoutFactor,
		TimeoutAddon: lb.TimeoutAddon, ReadinessFraction: lb.ReadinessFraction, Publisher: producer, Log: log})
	activator := controller.NewActivatorWith(producer, cfg.ID, balancer, log)

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	balanced := make(chan struct{})
	go func() { defer close(balanced); balancer.Run(runCtx) }()
	ackCons := messaging.NewConsumer(brokers, "completed"+cfg.ID, activator.CompletedTopic(),
		messaging.ConsumerOptions{Logger: log, Concurrency: 4, CommitInterval: 100 * time.Millisecond})
	// Every controller reads every ping (its own group); a new group starts
	// at the newest ping rather than replaying the topic's last hour.
	pingCons := messaging.NewConsumer(brokers, "health"+cfg.ID, messaging.HealthTopic,
		messaging.ConsumerOptions{Logger: log, StartAtLatest: true, CommitInterval: time.Second})
	consumers := make(chan error, 3)
	go func() { consumers <- ackCons.Run(runCtx, activator.HandleAck) }()
	go func() { consumers <- pingCons.Run(runCtx, balancer.HandlePing) }()

	srv := controller.New(controller.Config{Manifest: manifest, Limits: limits, Build: version, BuildNo: version,
		NamespaceLimits: controller.LimitsFromStore(st)}, st, activator, log)
	cacheLinked := make(chan struct{})
	go func() {
		defer close(cacheLinked)
		consumers <- srv.RunCacheInvalidation(runCtx, brokers, producer, "controller"+cfg.ID)
	}()
	if cfg.ActivationRetention > 0 {
		go st.RunRetention(runCtx, store.RetentionConfig{MaxAge: cfg.ActivationRetention, Log: log})
	}
	if cfg.Alarms {
		alarmSvc, err := alarms.Start(runCtx, alarms.Config{Store: st, Controller: srv, Manifest: manifest, Log: log})
		if err != nil {
			return err
		}
		defer alarmSvc.Close()
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	apiHost := "http://" + ln.Addr().String()
	fmt.Printf("Brisk controller %s is ready on %s (Kafka %s)\n", cfg.ID, apiHost, strings.Join(brokers, ","))

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("serve: %w", err)
		}
	case err := <-consumers:
		runErr = fmt.Errorf("message consumer stopped: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	stopRun()
	<-cacheLinked
	<-balanced
	_ = ackCons.Close()
	_ = pingCons.Close()
	return runErr
}
