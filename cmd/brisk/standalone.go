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
	"strings"
	"syscall"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/invoker"
	"github.com/brisk-serverless/brisk/invoker/process"
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

	st, err := store.Open(ctx, store.Config{Driver: "brisk-embedded", DSN: filepath.Join(f.dataDir, "brisk.db")})
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
	factory, err := process.New(process.Config{ProxyCommand: []string{self, "proxy"}, WorkDir: filepath.Join(f.dataDir, "containers")})
	if err != nil {
		return err
	}
	defer factory.Close()
	if err := factory.Cleanup(ctx); err != nil {
		log.Warn("clean up leftover containers", "err", err)
	}

	limits := api.DefaultLimits()
	manifest := api.DefaultManifest()
	apiHost := "http://" + ln.Addr().String()
	inv := invoker.New(invoker.Config{Instance: 0, UserMemoryMB: f.userMemoryMB, APIHost: apiHost,
		Manifest: manifest, Limits: limits, Prewarm: f.prewarm, ContainerEnv: resolveInterpreters(ctx, log)},
		factory, producer, st, log)

	runCtx, stopRun := context.WithCancel(context.Background())
	inv.Start(runCtx)
	activator := controller.NewActivator(producer, controllerID, 1, log)
	invCons := messaging.NewConsumer(brokers, "invoker0", messaging.InvokerTopic(0), messaging.ConsumerOptions{Logger: log, CommitInterval: 100 * time.Millisecond})
	ackCons := messaging.NewConsumer(brokers, "completed"+controllerID, activator.CompletedTopic(),
		messaging.ConsumerOptions{Logger: log, Concurrency: 4, CommitInterval: 100 * time.Millisecond})
	consumers := make(chan error, 2)
	go func() { consumers <- invCons.Run(runCtx, inv.Handle) }()
	go func() { consumers <- ackCons.Run(runCtx, activator.HandleAck) }()

	srv := controller.New(controller.Config{Manifest: manifest, Limits: limits, Build: version, BuildNo: version}, st, activator, log)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	fmt.Printf("Brisk standalone is ready on %s (data in %s)\n", apiHost, f.dataDir)
	fmt.Printf("wsk property set --apihost %s --auth %s:%s\n", apiHost, guestUUID, guestKey)

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
	_ = invCons.Close()
	_ = ackCons.Close()
	inv.Close()
	return runErr
}
