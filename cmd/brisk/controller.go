package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/brisk-serverless/brisk/api"
	"github.com/brisk-serverless/brisk/controller"
	"github.com/brisk-serverless/brisk/controller/alarms"
	"github.com/brisk-serverless/brisk/controller/cluster"
	"github.com/brisk-serverless/brisk/internal/config"
	"github.com/brisk-serverless/brisk/internal/metrics"
	"github.com/brisk-serverless/brisk/loadbalancer"
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
	if help, err := loadConfig("controller", "config/controller.yaml", &cfg, args); help || err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel, "controller"+cfg.ID)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return controllerRole(ctx, cfg, log)
}

// openCouch opens the shared CouchDB store of a role.
func openCouch(ctx context.Context, db config.CouchDB, m *metrics.Metrics) (*store.Store, error) {
	scfg, err := store.CouchConfig(db.URL, db.Prefix)
	if err != nil {
		return nil, fmt.Errorf("couchdb: %w", err)
	}
	scfg.Metrics = m
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
	r := newRole(log)
	defer r.stop()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	r.closer("listener", func() error { _ = ln.Close(); return nil })
	m := metrics.New()
	metricsURL, err := r.serveMetrics(cfg.MetricsListen, m)
	if err != nil {
		return err
	}
	if metricsURL == "" {
		metricsURL = "http://" + ln.Addr().String() + "/metrics"
	}

	st, err := openCouch(ctx, cfg.CouchDB, m)
	if err != nil {
		return err
	}
	r.closer("store", st.Close)
	manifest := api.DefaultManifest()
	limits := limitsOf(cfg.Throttles, cfg.Limits)
	actx, cancel := context.WithTimeout(ctx, roleStartTimeout)
	err = loadbalancer.EnsureHealthTestAction(actx, st, cfg.ID, manifest, limits)
	cancel()
	if err != nil {
		return err
	}

	brokers := cfg.Kafka.Brokers
	if err := ensureTopics(ctx, brokers, messaging.ControllerTopicSpecs(cfg.ID)); err != nil {
		return err
	}
	producer := messaging.NewProducer(brokers, messaging.ProducerOptions{Logger: log, Metrics: m})
	r.closer("producer", producer.Close)

	cl, err := openRaft(cfg, ln.Addr().String(), log)
	if err != nil {
		return err
	}
	r.closer("raft", cl.Close)

	lbc := cfg.LoadBalancer
	lb := loadbalancer.New(loadbalancer.Config{ControllerID: cfg.ID,
		ManagedFraction: lbc.ManagedFraction, BlackboxFraction: lbc.BlackboxFraction, TimeoutFactor: lbc.TimeoutFactor,
		TimeoutAddon: lbc.TimeoutAddon, ReadinessFraction: lbc.ReadinessFraction, Publisher: producer, Records: st, Log: log})
	lb.Start()
	r.onStop("load balancer", lb.Close)
	ackCons := messaging.NewConsumer(brokers, "completed"+cfg.ID, lb.CompletedTopic(),
		messaging.ConsumerOptions{Logger: log, Concurrency: 4, CommitInterval: 100 * time.Millisecond, Metrics: m})
	r.loop("consumer of "+lb.CompletedTopic(), func(ctx context.Context) error { return ackCons.Run(ctx, lb.HandleAck) }, ackCons.Close)
	// Every controller reads every ping (its own group); a new group starts
	// at the newest ping rather than replaying the topic's last hour.
	pingCons := messaging.NewConsumer(brokers, "health"+cfg.ID, messaging.HealthTopic,
		messaging.ConsumerOptions{Logger: log, StartAtLatest: true, CommitInterval: time.Second, Metrics: m})
	r.loop("consumer of "+messaging.HealthTopic, func(ctx context.Context) error { return pingCons.Run(ctx, lb.HandlePing) }, pingCons.Close)

	srv, err := startAPI(ctx, r, apiParts{store: st, balancer: lb, cluster: cl, brokers: brokers, producer: producer,
		instance: "controller" + cfg.ID, manifest: manifest, limits: limits, retention: cfg.ActivationRetention,
		alarms: cfg.Alarms, log: log, metrics: m, metricsOffAPI: cfg.MetricsListen != "", api: cfg.API})
	if err != nil {
		return err
	}
	r.serve("API", &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}, ln)

	fmt.Printf("Brisk controller %s is ready on %s (Kafka %s); metrics at %s\n", cfg.ID, "http://"+ln.Addr().String(),
		strings.Join(brokers, ","), metricsURL)
	return r.wait(ctx)
}

// openRaft opens controller cfg's member of the Raft group; listen is the
// API's address (for the default API URL).
func openRaft(cfg config.Controller, listen string, log *slog.Logger) (*cluster.Cluster, error) {
	voters, err := cluster.ParseServers(cfg.Raft.Voters)
	if err != nil {
		return nil, fmt.Errorf("raft.voters: %w", err)
	}
	dir := cfg.Raft.DataDir
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("raft.data-dir: %w", err)
		}
		dir = filepath.Join(home, ".brisk", "controller"+cfg.ID, "raft")
	}
	apiURL := cfg.Raft.APIURL
	if apiURL == "" {
		apiURL = "http://" + listen
	}
	return cluster.Open(cluster.Config{NodeID: cfg.ID, Bind: cfg.Raft.Bind, Advertise: cfg.Raft.Advertise, DataDir: dir,
		Voters: voters, Join: cfg.Raft.Join, API: apiURL, Log: log})
}

// apiParts is what startAPI wires together.
type apiParts struct {
	store     *store.Store
	balancer  *loadbalancer.Balancer
	cluster   *cluster.Cluster
	brokers   []string
	producer  *messaging.Producer
	instance  string // "controller<id>": names this controller on cacheInvalidation
	manifest  *api.Manifest
	limits    api.Limits
	retention time.Duration
	alarms    bool // serve the built-in alarms feeds
	log       *slog.Logger
	metrics   *metrics.Metrics
	// metricsOffAPI: /metrics has an address of its own, not the API port.
	metricsOffAPI bool
	api           config.API // the API's edge settings
}

// startAPI builds a controller's API server and starts what runs beside it
// in every controller (standalone's too): the cache link with the other
// controllers, the alarms feeds, and the Raft group's leadership loop with
// the leader-only duties (the alarms scheduler, the activation retention
// job), which follow the leadership; the balancer's share of the invokers
// follows the group's live size.
func startAPI(ctx context.Context, r *role, p apiParts) (*controller.Server, error) {
	srv := controller.New(controller.Config{Manifest: p.manifest, Limits: p.limits, Build: version, BuildNo: version,
		NamespaceLimits: controller.LimitsFromStore(p.store), Cluster: p.cluster,
		Metrics: p.metrics, MetricsOffAPI: p.metricsOffAPI, MaxURILength: p.api.MaxURILength, WebDomain: p.api.WebDomain}, p.store, p.balancer, p.log)
	if err := p.metrics.WatchRaft(p.cluster.IsLeader, p.cluster.Size); err != nil {
		return nil, fmt.Errorf("raft metrics: %w", err)
	}
	r.onStop("controller", srv.Close)
	linked := srv.StartCacheLink(p.brokers, p.producer, p.instance)
	r.loop("cache invalidation", func(ctx context.Context) error {
		select {
		case err := <-linked:
			return err
		case <-ctx.Done():
			return nil
		}
	}, nil)
	var duties []cluster.Duty
	if p.alarms {
		actx, cancel := context.WithTimeout(ctx, roleStartTimeout)
		svc, err := alarms.Start(actx, alarms.Config{Store: p.store, Controller: srv, Manifest: p.manifest, Log: p.log,
			Standby: true, Record: p.cluster.RecordFire, Forget: p.cluster.ForgetFires})
		cancel()
		if err != nil {
			return nil, err
		}
		r.onStop("alarms", func(context.Context) { svc.Close() })
		duties = append(duties, cluster.Duty{Name: "alarms", Run: svc.RunScheduler})
	}
	if p.retention > 0 {
		duties = append(duties, cluster.Duty{Name: "activation-retention", Run: func(ctx context.Context) {
			p.store.RunRetention(ctx, store.RetentionConfig{MaxAge: p.retention, Log: p.log})
		}})
	}
	p.cluster.Start(func(n int) { p.balancer.SetClusterSize(n); srv.SetClusterSize(n) }, duties...)
	r.onStop("leader duties", func(context.Context) { _ = p.cluster.Close() })
	return srv, nil
}
