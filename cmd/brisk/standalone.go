package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with --pprof
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/brisk-serverless/brisk/admin/cli"
	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller/cluster"
	"github.com/brisk-serverless/brisk/internal/config"
	"github.com/brisk-serverless/brisk/internal/metrics"
	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/containerd"
	"github.com/brisk-serverless/brisk/loadbalancer"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
	_ "github.com/brisk-serverless/brisk/store/embedded" // the "brisk-embedded" kivik driver
)

// Upstream's well-known keys.
const (
	guestUUID  = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"
	guestKey   = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	systemUUID = "789c46b1-71f6-4ed5-8c54-816aa4f8c502"
	systemKey  = "abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
)

// runStandalone is `brisk standalone`: the whole platform in one process.
func runStandalone(args []string) error {
	cfg := config.DefaultStandalone(containerd.DefaultAddress, containerd.DefaultNamespace, invoker.DefaultPauseGrace)
	if help, err := loadConfig("standalone", "config/standalone.yaml", &cfg, args); help || err != nil {
		return err
	}
	if cfg.DataDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("data-dir: %w", err)
		}
		cfg.DataDir = filepath.Join(home, ".brisk")
	}
	log, err := newLogger(cfg.LogLevel, "")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return standalone(ctx, cfg, log)
}

// resolveInterpreters finds the real node and python3 binaries once, so that
// each container does not go through a version manager's shim (pyenv's costs
// about 100 ms per start).
func resolveInterpreters(ctx context.Context, log *slog.Logger) map[string]string {
	env := map[string]string{}
	for name, args := range map[string][]string{
		"BRISK_NODE":    {"node", "-p", "process.execPath"},
		"BRISK_PYTHON3": {"python3", "-c", "import sys; print(sys.executable)"},
	} {
		if v := os.Getenv(name); v != "" {
			env[name] = v
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := exec.CommandContext(cctx, args[0], args[1:]...).Output()
		cancel()
		if path := strings.TrimSpace(string(out)); err == nil && filepath.IsAbs(path) {
			env[name] = path
		} else {
			log.Warn("runtime interpreter not found; actions of its kind will fail to initialize", "interpreter", args[0], "err", err)
		}
	}
	return env
}

// limitsOf is the system limits with the configured throttles and limits.
func limitsOf(t config.Throttles, l config.Limits) api.Limits {
	limits := api.DefaultLimits()
	limits.MaxTimeoutMs = int(l.ActionTimeoutMax.Milliseconds())
	limits.StdTimeoutMs = min(limits.StdTimeoutMs, limits.MaxTimeoutMs)
	limits.MaxMemoryMB = l.ActionMemoryMax
	limits.StdMemoryMB = min(limits.StdMemoryMB, limits.MaxMemoryMB)
	limits.MaxLogsMB = l.ActionLogsMax
	limits.StdLogsMB = min(limits.StdLogsMB, limits.MaxLogsMB)
	limits.MaxPayloadBytes = l.PayloadMax
	limits.SequenceMaxLength = l.SequenceLengthMax
	limits.InvocationsPerMinute, limits.ConcurrentInvocations, limits.FiresPerMinute =
		t.InvocationsPerMinute, t.ConcurrentInvocations, t.FiresPerMinute
	limits.MaxConcurrency = t.MaxActionConcurrency
	return limits
}

func standalone(ctx context.Context, cfg config.Standalone, log *slog.Logger) error {
	r := newRole(log)
	defer r.stop()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// Listen first: a port in use is the most likely mistake, report it before starting anything.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	r.closer("listener", func() error { _ = ln.Close(); return nil })
	if cfg.PProf != "" {
		pln, err := net.Listen("tcp", cfg.PProf)
		if err != nil {
			return fmt.Errorf("pprof: %w", err)
		}
		r.serve("pprof", &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 30 * time.Second}, pln)
	}

	m := metrics.New()
	metricsURL, err := r.serveMetrics(cfg.MetricsListen, m)
	if err != nil {
		return err
	}
	scfg := store.Config{Driver: "brisk-embedded", DSN: filepath.Join(cfg.DataDir, "brisk.db"), Prefix: cfg.CouchDB.Prefix}
	if cfg.CouchDB.URL != "" {
		if scfg, err = store.CouchConfig(cfg.CouchDB.URL, cfg.CouchDB.Prefix); err != nil {
			return fmt.Errorf("couchdb: %w", err)
		}
	}
	scfg.Metrics = m
	st, err := store.Open(ctx, scfg)
	if err != nil {
		return err
	}
	r.closer("store", st.Close)
	for _, s := range []api.SubjectDoc{
		{ID: "guest", Subject: "guest", Namespaces: []api.NamespaceKey{{Name: "guest", UUID: guestUUID, Key: guestKey}}},
		{ID: "whisk.system", Subject: "whisk.system", Namespaces: []api.NamespaceKey{{Name: "whisk.system", UUID: systemUUID, Key: systemKey}}},
	} {
		if err := st.EnsureSubject(ctx, s); err != nil {
			return err
		}
	}

	broker, err := messaging.StartEmbedded(messaging.EmbeddedConfig{DataDir: filepath.Join(cfg.DataDir, "kafka"),
		SyncWrites: cfg.BrokerFsync, Logger: log})
	if err != nil {
		return err
	}
	r.closer("broker", broker.Close)
	brokers := broker.Addrs()
	const controllerID = "0"
	if err := ensureTopics(ctx, brokers, append(messaging.ControllerTopicSpecs(controllerID), messaging.InvokerTopicSpec(0))); err != nil {
		return err
	}
	producer := messaging.NewProducer(brokers, messaging.ProducerOptions{Logger: log, Metrics: m})
	r.closer("producer", producer.Close)

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locate own binary for the action proxy: %w", err)
	}
	factory, containerEnv, err := containerFactory(ctx, cfg.Containers, self, cfg.DataDir, log)
	if err != nil {
		return err
	}
	r.closer("containers", factory.Close)

	limits := limitsOf(cfg.Throttles, cfg.Limits)
	manifest := api.DefaultManifest()
	apiHost := "http://" + ln.Addr().String()
	inv := invoker.New(invoker.Config{Instance: 0, UserMemoryMB: cfg.UserMemory, APIHost: apiHost,
		Manifest: manifest, Limits: limits, Prewarm: cfg.Prewarm, ContainerEnv: containerEnv, PauseGrace: cfg.Containers.PauseGrace,
		Metrics: m},
		factory, producer, st, log)
	invCtx, stopInv := context.WithCancel(context.Background())
	inv.Start(invCtx)
	r.onStop("invoker", func(context.Context) { stopInv(); inv.Close() })
	invCons := messaging.NewConsumer(brokers, "invoker0", messaging.InvokerTopic(0), messaging.ConsumerOptions{Logger: log, PipelineCommits: true, Metrics: m})
	r.loop("consumer of invoker0", func(ctx context.Context) error { return invCons.RunAcked(ctx, inv.HandleAcked) }, invCons.Close)

	// Standalone is a Raft group of one, on disk in its data dir, with no
	// network transport: the same leader duties as a cluster's controllers.
	cl, err := cluster.Open(cluster.Config{NodeID: controllerID, Local: true, DataDir: filepath.Join(cfg.DataDir, "raft"),
		API: apiHost, Log: log})
	if err != nil {
		return err
	}
	r.closer("raft", cl.Close)

	// Standalone's one invoker is up by construction: no pings, no health.
	lb := loadbalancer.New(loadbalancer.Config{ControllerID: controllerID, Static: loadbalancer.StaticInvokers(1),
		Publisher: producer, Records: st, Log: log})
	lb.Start()
	r.onStop("load balancer", lb.Close)
	ackCons := messaging.NewConsumer(brokers, "completed"+controllerID, lb.CompletedTopic(),
		messaging.ConsumerOptions{Logger: log, Concurrency: 4, CommitInterval: 100 * time.Millisecond, Metrics: m})
	r.loop("consumer of "+lb.CompletedTopic(), func(ctx context.Context) error { return ackCons.Run(ctx, lb.HandleAck) }, ackCons.Close)

	srv, err := startAPI(ctx, r, apiParts{store: st, balancer: lb, cluster: cl, brokers: brokers, producer: producer,
		instance: "controller" + controllerID, manifest: manifest, limits: limits, retention: cfg.ActivationRetention,
		alarms: true, log: log, metrics: m, metricsOffAPI: cfg.MetricsListen != "", api: cfg.API})
	if err != nil {
		return err
	}
	stopAdmin := cli.Serve(cfg.DataDir, st, srv.Invalidate, log)
	r.onStop("admin socket", func(context.Context) { stopAdmin() })
	r.serve("API", &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}, ln)

	fmt.Printf("Brisk standalone is ready on %s (data in %s)\n", apiHost, cfg.DataDir)
	fmt.Printf("wsk property set --apihost %s --auth %s:%s\n", apiHost, guestUUID, guestKey)
	if metricsURL == "" {
		metricsURL = apiHost + "/metrics"
	}
	fmt.Printf("Prometheus metrics at %s\n", metricsURL)
	return r.wait(ctx)
}
