package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with --pprof
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/controller/alarms"
	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
	_ "github.com/brisk-serverless/brisk/store/embedded" // the "brisk-embedded" kivik driver
)

// Upstream's well-known keys (ansible/files/auth.guest, auth.whisk.system).
const (
	guestUUID  = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"
	guestKey   = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	systemUUID = "789c46b1-71f6-4ed5-8c54-816aa4f8c502"
	systemKey  = "abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
)

type standaloneFlags struct {
	listen       string
	dataDir      string
	userMemoryMB int
	logLevel     string
	prewarm      bool
	pprof        string
	containers   containerOptions
	// Storage: a CouchDB URL (else the embedded store), database prefix,
	// activation retention (0 keeps records forever).
	couchDB, dbPrefix   string
	activationRetention time.Duration
	// Throttles (upstream's defaults: 60 / 30 / 60).
	invocationsPerMinute, concurrentInvocations, firesPerMinute int
	maxActionConcurrency                                        int
}

func runStandalone(args []string) error {
	home, _ := os.UserHomeDir()
	var f standaloneFlags
	fs := flag.NewFlagSet("standalone", flag.ContinueOnError)
	fs.StringVar(&f.listen, "listen", envOr("BRISK_LISTEN", "127.0.0.1:3233"), "host:port of the OpenWhisk API")
	fs.StringVar(&f.dataDir, "data-dir", envOr("BRISK_DATA_DIR", filepath.Join(home, ".brisk")), "where entities, activations and the broker's log live")
	fs.IntVar(&f.userMemoryMB, "user-memory", 2048, "memory (MB) all action containers together may use")
	fs.StringVar(&f.logLevel, "log-level", envOr("BRISK_LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.BoolVar(&f.prewarm, "prewarm", true, "keep the manifest's stem cells prewarmed")
	fs.StringVar(&f.pprof, "pprof", "", "serve Go's pprof on this loopback host:port (debugging)")
	f.containers.register(fs)
	fs.StringVar(&f.couchDB, "couchdb", "", "use the CouchDB at this URL (http://user:password@host:5984) instead of the embedded store")
	fs.StringVar(&f.dbPrefix, "db-prefix", "whisk_local_", "database name prefix (upstream's <prefix>whisks, activations, subjects)")
	fs.DurationVar(&f.activationRetention, "activation-retention", store.DefaultActivationRetention, "delete activation records older than this (0: keep them)")
	fs.IntVar(&f.invocationsPerMinute, "invocations-per-minute", envInt("BRISK_INVOCATIONS_PER_MINUTE", 60), "per-namespace invocations per minute")
	fs.IntVar(&f.concurrentInvocations, "concurrent-invocations", envInt("BRISK_CONCURRENT_INVOCATIONS", 30), "per-namespace activations in flight")
	fs.IntVar(&f.firesPerMinute, "fires-per-minute", envInt("BRISK_FIRES_PER_MINUTE", 60), "per-namespace trigger fires per minute")
	fs.IntVar(&f.maxActionConcurrency, "max-action-concurrency", envInt("BRISK_MAX_ACTION_CONCURRENCY", api.DefaultMaxConcurrency),
		"largest limits.concurrency of an action: activations sharing one container (nodejs, blackbox); 1 is upstream's default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	if f.pprof != "" {
		go func() {
			log.Warn("pprof stopped", "err", http.ListenAndServe(f.pprof, nil))
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return standalone(ctx, f, log)
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

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return v
	}
	return def
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func standalone(ctx context.Context, f standaloneFlags, log *slog.Logger) error {
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// Listen first: a port in use is the most likely mistake, report it before starting anything.
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()

	scfg := store.Config{Driver: "brisk-embedded", DSN: filepath.Join(f.dataDir, "brisk.db"), Prefix: f.dbPrefix}
	if f.couchDB != "" {
		if scfg, err = store.CouchConfig(f.couchDB, f.dbPrefix); err != nil {
			return fmt.Errorf("--couchdb: %w", err)
		}
	}
	st, err := store.Open(ctx, scfg)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, s := range []api.SubjectDoc{
		{ID: "guest", Subject: "guest", Namespaces: []api.NamespaceKey{{Name: "guest", UUID: guestUUID, Key: guestKey}}},
		{ID: "whisk.system", Subject: "whisk.system", Namespaces: []api.NamespaceKey{{Name: "whisk.system", UUID: systemUUID, Key: systemKey}}},
	} {
		if err := st.EnsureSubject(ctx, s); err != nil {
			return err
		}
	}

	broker, err := messaging.StartEmbedded(messaging.EmbeddedConfig{DataDir: filepath.Join(f.dataDir, "kafka"), Logger: log})
	if err != nil {
		return err
	}
	defer broker.Close()
	brokers := broker.Addrs()
	const controllerID = "0"
	topics := append(messaging.ControllerTopicSpecs(controllerID), messaging.InvokerTopicSpec(0))
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = messaging.EnsureTopics(tctx, brokers, topics)
	cancel()
	if err != nil {
		return err
	}
	producer := messaging.NewProducer(brokers, messaging.ProducerOptions{Logger: log})
	defer producer.Close()

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locate own binary for the action proxy: %w", err)
	}
	factory, containerEnv, err := f.containers.factory(ctx, self, f.dataDir, log)
	if err != nil {
		return err
	}
	defer factory.Close()

	limits := api.DefaultLimits()
	limits.InvocationsPerMinute, limits.ConcurrentInvocations, limits.FiresPerMinute = f.invocationsPerMinute, f.concurrentInvocations, f.firesPerMinute
	limits.MaxConcurrency = max(f.maxActionConcurrency, 1)
	manifest := api.DefaultManifest()
	apiHost := "http://" + ln.Addr().String()
	inv := invoker.New(invoker.Config{Instance: 0, UserMemoryMB: f.userMemoryMB, APIHost: apiHost,
		Manifest: manifest, Limits: limits, Prewarm: f.prewarm, ContainerEnv: containerEnv, PauseGrace: f.containers.pauseGrace},
		factory, producer, st, log)

	runCtx, stopRun := context.WithCancel(context.Background())
	inv.Start(runCtx)
	if f.activationRetention > 0 {
		go st.RunRetention(runCtx, store.RetentionConfig{MaxAge: f.activationRetention, Log: log})
	}
	activator := controller.NewActivator(producer, controllerID, 1, log)
	invCons := messaging.NewConsumer(brokers, "invoker0", messaging.InvokerTopic(0), messaging.ConsumerOptions{Logger: log, PipelineCommits: true})
	ackCons := messaging.NewConsumer(brokers, "completed"+controllerID, activator.CompletedTopic(),
		messaging.ConsumerOptions{Logger: log, Concurrency: 4, CommitInterval: 100 * time.Millisecond})
	consumers := make(chan error, 3)
	go func() { consumers <- invCons.Run(runCtx, inv.Handle) }()
	go func() { consumers <- ackCons.Run(runCtx, activator.HandleAck) }()

	srv := controller.New(controller.Config{Manifest: manifest, Limits: limits, Build: version, BuildNo: version,
		NamespaceLimits: controller.LimitsFromStore(st)}, st, activator, log)
	cacheLinked := make(chan struct{})
	go func() {
		defer close(cacheLinked)
		consumers <- srv.RunCacheInvalidation(runCtx, brokers, producer, "controller"+controllerID)
	}()
	defer serveAdmin(f.dataDir, st, srv.Invalidate, log)()
	alarmSvc, err := alarms.Start(runCtx, alarms.Config{Store: st, Controller: srv, Manifest: manifest, Log: log})
	if err != nil {
		stopRun()
		return err
	}
	defer alarmSvc.Close()
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	fmt.Printf("Brisk standalone is ready on %s (data in %s)\n", apiHost, f.dataDir)
	fmt.Printf("wsk property set --apihost %s --auth %s:%s\n", apiHost, guestUUID, guestKey)

	var runErr error
	running := 3 // consumers whose Run has not returned
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("serve: %w", err)
		}
	case err := <-consumers:
		running--
		runErr = fmt.Errorf("message consumer stopped: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	stopRun()
	<-cacheLinked
	// Close after Run returned, so that the last offset commits are not cut off.
	for drain := time.After(15 * time.Second); running > 0; running-- {
		select {
		case <-consumers:
		case <-drain:
			log.Warn("message consumers did not stop in time")
			running = 0
		}
	}
	_ = invCons.Close()
	_ = ackCons.Close()
	inv.Close()
	return runErr
}
