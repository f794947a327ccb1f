package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Kafka is where the brokers are.
type Kafka struct {
	Brokers []string `yaml:"brokers" flag:"kafka" usage:"Kafka bootstrap brokers, host:port[,host:port...]"`
}

// CouchDB is the database: a CouchDB 3.x (or pouchdb-server) URL with
// credentials, and upstream's database name prefix.
type CouchDB struct {
	URL    string `yaml:"url" flag:"couchdb" redact:"url" usage:"CouchDB URL with credentials, http(s)://user:password@host:5984"`
	Prefix string `yaml:"prefix" flag:"db-prefix" usage:"database name prefix (<prefix>whisks, activations, subjects)"`
}

// Throttles are the default per-namespace limits (upstream's defaults).
type Throttles struct {
	InvocationsPerMinute  int `yaml:"invocations-per-minute" flag:"invocations-per-minute" usage:"per-namespace invocations per minute"`
	ConcurrentInvocations int `yaml:"concurrent-invocations" flag:"concurrent-invocations" usage:"per-namespace activations in flight"`
	FiresPerMinute        int `yaml:"fires-per-minute" flag:"fires-per-minute" usage:"per-namespace trigger fires per minute"`
	MaxActionConcurrency  int `yaml:"max-action-concurrency" flag:"max-action-concurrency" usage:"largest limits.concurrency of an action (activations sharing a container)"`
}

// API tunes the HTTP edge of the OpenWhisk API.
type API struct {
	MaxURILength int    `yaml:"max-uri-length" flag:"max-uri-length" usage:"longest request URI (path and query, bytes) the API answers; longer ones are 414, as upstream's controllers (max-uri-length = 8k)"`
	WebDomain    string `yaml:"web-domain" flag:"web-domain" usage:"serve namespace NS's web actions at http(s)://NS.<web-domain>/<package>/<action> as upstream's edge does (empty: off)"`
}

// validate checks the API settings.
func (a API) validate() error {
	if a.MaxURILength < 256 {
		return fmt.Errorf("api.max-uri-length %d: at least 256", a.MaxURILength)
	}
	if d := a.WebDomain; d != "" {
		for _, label := range strings.Split(d, ".") {
			if !validLabel(label) {
				return fmt.Errorf("api.web-domain %q: want a DNS name such as example.com", d)
			}
		}
	}
	return nil
}

// DefaultAPI returns the API's defaults (upstream's).
func DefaultAPI() API { return API{MaxURILength: 8192} }

// Limits are the system limits of actions and requests, upstream's
// limit_* deployment variables (limit_action_time_max and the like). The
// namespaces' own ranges (`brisk admin limits set`) stay within them.
type Limits struct {
	ActionTimeoutMax  time.Duration `yaml:"action-timeout-max" flag:"action-timeout-max" usage:"largest limits.timeout of an action (at most 15m)"`
	ActionMemoryMax   int           `yaml:"action-memory-max" flag:"action-memory-max" usage:"largest limits.memory (MB) of an action"`
	ActionLogsMax     int           `yaml:"action-logs-max" flag:"action-logs-max" usage:"largest limits.logs (MB) of an action"`
	PayloadMax        int           `yaml:"payload-max" flag:"payload-max" usage:"largest invoke, fire or web action request body (bytes; at most 1048576, the activation message's bound)"`
	SequenceLengthMax int           `yaml:"sequence-length-max" flag:"sequence-length-max" usage:"most actions a sequence may run"`
}

// Bounds of the system limits.
const (
	// MaxActionTimeout is the longest action time limit a deployment may
	// allow (where users coming from AWS Lambda expect it).
	MaxActionTimeout = 15 * time.Minute
	// MaxPayloadBytes is the largest payload an activation message carries.
	MaxPayloadBytes = 1 << 20
)

// DefaultLimits returns upstream's default system limits.
func DefaultLimits() Limits {
	return Limits{ActionTimeoutMax: 5 * time.Minute, ActionMemoryMax: 512, ActionLogsMax: 10,
		PayloadMax: MaxPayloadBytes, SequenceLengthMax: 50}
}

// validate checks the system limits.
func (l Limits) validate() error {
	switch {
	case l.ActionTimeoutMax < time.Second || l.ActionTimeoutMax > MaxActionTimeout || l.ActionTimeoutMax%time.Millisecond != 0:
		return fmt.Errorf("limits.action-timeout-max %v: from 1s to %v, in whole milliseconds", l.ActionTimeoutMax, MaxActionTimeout)
	case l.ActionMemoryMax < 128:
		return fmt.Errorf("limits.action-memory-max %d MB: at least 128 (the smallest action memory)", l.ActionMemoryMax)
	case l.ActionLogsMax < 0:
		return fmt.Errorf("limits.action-logs-max %d MB: not negative", l.ActionLogsMax)
	case l.PayloadMax < 1024 || l.PayloadMax > MaxPayloadBytes:
		return fmt.Errorf("limits.payload-max %d: from 1024 to %d bytes", l.PayloadMax, MaxPayloadBytes)
	case l.SequenceLengthMax < 1:
		return fmt.Errorf("limits.sequence-length-max %d: at least 1", l.SequenceLengthMax)
	}
	return nil
}

// LoadBalancer tunes upstream's sharding container-pool balancer. How many
// controllers share the invokers is the Raft group's live size.
type LoadBalancer struct {
	ManagedFraction   float64       `yaml:"managed-fraction" flag:"managed-fraction" usage:"share of invokers (the first ones) running the manifest's kinds"`
	BlackboxFraction  float64       `yaml:"blackbox-fraction" flag:"blackbox-fraction" usage:"share of invokers (the last ones) running blackbox images"`
	TimeoutFactor     int           `yaml:"timeout-factor" flag:"timeout-factor" usage:"completion-ack timeout = max(action timeout, 60s) * factor + addon"`
	TimeoutAddon      time.Duration `yaml:"timeout-addon" flag:"timeout-addon" usage:"see timeout-factor"`
	ReadinessFraction float64       `yaml:"readiness-fraction" flag:"readiness-fraction" usage:"share of healthy invokers at which /invokers/ready answers 200"`
}

// Controller is the configuration of `brisk controller`.
type Controller struct {
	ID       string `yaml:"id" flag:"id" usage:"controller instance id: acknowledgements arrive on topic completed<id>"`
	Listen   string `yaml:"listen" flag:"listen" usage:"host:port of the OpenWhisk API"`
	LogLevel string `yaml:"log-level" flag:"log-level" usage:"debug, info, warn or error"`
	// MetricsListen moves /metrics off the API port to an address of its own.
	MetricsListen string `yaml:"metrics-listen" flag:"metrics-listen" usage:"serve /metrics on this host:port instead of the API port (empty: on the API port)"`

	API          API          `yaml:"api"`
	Limits       Limits       `yaml:"limits"`
	Kafka        Kafka        `yaml:"kafka"`
	CouchDB      CouchDB      `yaml:"couchdb"`
	Throttles    Throttles    `yaml:"throttles"`
	LoadBalancer LoadBalancer `yaml:"loadbalancer"`
	Raft         Raft         `yaml:"raft"`

	ActivationRetention time.Duration `yaml:"activation-retention" flag:"activation-retention" usage:"delete activation records older than this (0: keep them)"`
	Alarms              bool          `yaml:"alarms" flag:"alarms" usage:"serve the built-in /whisk.system/alarms feeds (their scheduler runs on the Raft leader)"`
}

// DefaultController returns the controller's defaults (upstream's where it
// has them).
func DefaultController() Controller {
	return Controller{
		ID: "0", Listen: "127.0.0.1:3233", LogLevel: "info", API: DefaultAPI(), Limits: DefaultLimits(),
		Kafka:     Kafka{Brokers: []string{"127.0.0.1:9092"}},
		CouchDB:   CouchDB{Prefix: "whisk_local_"},
		Throttles: Throttles{InvocationsPerMinute: 60, ConcurrentInvocations: 30, FiresPerMinute: 60, MaxActionConcurrency: 500},
		Raft:      Raft{Bind: "127.0.0.1:3333"},
		LoadBalancer: LoadBalancer{ManagedFraction: 0.9, BlackboxFraction: 0.1, TimeoutFactor: 2,
			TimeoutAddon: time.Minute, ReadinessFraction: 1},
		ActivationRetention: 7 * 24 * time.Hour,
		Alarms:              true,
	}
}

// Validate reports the first setting that cannot work.
func (c *Controller) Validate() error {
	if c.ID == "" {
		return errors.New("id: must not be empty")
	}
	for _, r := range c.ID {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("id %q: only letters, digits, '-', '_' and '.' (it names Kafka topics and an action)", c.ID)
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q: %w", c.Listen, err)
	}
	if err := validateMetricsListen(c.MetricsListen); err != nil {
		return err
	}
	if err := validateCommon(c.Kafka, c.CouchDB); err != nil {
		return err
	}
	lb := c.LoadBalancer
	switch {
	case lb.ManagedFraction < 0 || lb.ManagedFraction > 1 || lb.BlackboxFraction < 0 || lb.BlackboxFraction > 1:
		return errors.New("loadbalancer.managed-fraction and blackbox-fraction: between 0 and 1")
	case lb.TimeoutFactor < 1 || lb.TimeoutAddon < 0:
		return errors.New("loadbalancer.timeout-factor: at least 1; timeout-addon: not negative")
	case lb.ReadinessFraction <= 0 || lb.ReadinessFraction > 1:
		return errors.New("loadbalancer.readiness-fraction: above 0, at most 1")
	case c.ActivationRetention < 0:
		return errors.New("activation-retention: not negative")
	}
	if err := c.Raft.validate(c.ID); err != nil {
		return err
	}
	if err := c.API.validate(); err != nil {
		return err
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	return validateShared(c.LogLevel, c.Throttles)
}

// Raft places a controller in the controllers' Raft group. The controller's
// id is its node id in the group.
type Raft struct {
	Bind      string   `yaml:"bind" flag:"raft-bind" usage:"host:port the Raft transport listens on (a port of its own)"`
	Advertise string   `yaml:"advertise" flag:"raft-advertise" usage:"host:port the other controllers reach this one's Raft transport at (default: bind)"`
	DataDir   string   `yaml:"data-dir" flag:"raft-data-dir" usage:"the Raft log, stable store and snapshots (default ~/.brisk/controller<id>/raft)"`
	Voters    []string `yaml:"voters" flag:"raft-voters" usage:"the group's initial voters, id=host:port,... with this controller among them (empty: a group of one)"`
	Join      bool     `yaml:"join" flag:"raft-join" usage:"start without bootstrapping and wait to be added (PUT /controllers/<id> on a running group)"`
	APIURL    string   `yaml:"api-url" flag:"api-url" usage:"this controller's API URL as the others reach it, for requests only the leader serves (default: http://<listen>)"`
}

// validate checks the Raft settings of controller id.
func (r Raft) validate(id string) error {
	if _, _, err := net.SplitHostPort(r.Bind); err != nil {
		return fmt.Errorf("raft.bind %q: %w", r.Bind, err)
	}
	if r.Advertise != "" {
		if _, _, err := net.SplitHostPort(r.Advertise); err != nil {
			return fmt.Errorf("raft.advertise %q: %w", r.Advertise, err)
		}
	}
	self := false
	for _, v := range r.Voters {
		vid, addr, ok := strings.Cut(v, "=")
		if !ok || vid == "" {
			return fmt.Errorf("raft.voters %q: want id=host:port", v)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("raft.voters %q: %w", v, err)
		}
		self = self || vid == id
	}
	if len(r.Voters) > 0 && !self && !r.Join {
		return fmt.Errorf("raft.voters: this controller (id %q) is not among them: add it, or set raft.join", id)
	}
	if r.APIURL != "" {
		if u, err := url.Parse(r.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("raft.api-url %q: want http(s)://host:port", r.APIURL)
		}
	}
	return nil
}

// Containers selects and tunes the invoker's container backend.
type Containers struct {
	Backend      string        `yaml:"backend" flag:"containers" usage:"container backend: process (local proxy processes) or containerd"`
	Address      string        `yaml:"containerd-address" flag:"containerd-address" usage:"containerd's socket (containerd backend)"`
	Namespace    string        `yaml:"containerd-namespace" flag:"containerd-namespace" usage:"containerd namespace of the action containers and images"`
	ImagesDir    string        `yaml:"images-dir" flag:"images-dir" usage:"runtime images built by make images (default: images/ beside the brisk binary)"`
	Bridge       string        `yaml:"cni-bridge" flag:"cni-bridge" usage:"Linux bridge the action containers join (containerd)"`
	Subnet       string        `yaml:"cni-subnet" flag:"cni-subnet" usage:"IPv4 range of the action containers (containerd)"`
	DenyOutbound bool          `yaml:"deny-outbound" flag:"deny-outbound" usage:"keep actions from reaching the outside network (containerd)"`
	PauseGrace   time.Duration `yaml:"pause-grace" flag:"pause-grace" usage:"freeze a warm container idle that long (containerd; negative: never)"`
}

// Invoker is the configuration of `brisk invoker`.
type Invoker struct {
	ID         int    `yaml:"id" flag:"id" usage:"invoker instance number: it consumes topic invoker<id>"`
	UserMemory int    `yaml:"user-memory" flag:"user-memory" usage:"memory (MB) all action containers together may use"`
	APIHost    string `yaml:"api-host" flag:"api-host" usage:"the controllers' URL, given to actions as __OW_API_HOST"`
	DataDir    string `yaml:"data-dir" flag:"data-dir" usage:"working directory of the containers (default ~/.brisk/invoker<id>)"`
	Prewarm    bool   `yaml:"prewarm" flag:"prewarm" usage:"keep the manifest's stem cells prewarmed"`
	LogLevel   string `yaml:"log-level" flag:"log-level" usage:"debug, info, warn or error"`
	// MetricsListen is the invoker's own HTTP port, serving /metrics.
	MetricsListen string `yaml:"metrics-listen" flag:"metrics-listen" usage:"host:port serving the invoker's /metrics (port 0: any free port, printed at start; empty: off)"`

	Kafka      Kafka      `yaml:"kafka"`
	CouchDB    CouchDB    `yaml:"couchdb"`
	Containers Containers `yaml:"containers"`
}

// DefaultInvoker returns the invoker's defaults. containerdAddress and
// pauseGrace are the containerd backend's own defaults.
func DefaultInvoker(containerdAddress, containerdNamespace string, pauseGrace time.Duration) Invoker {
	return Invoker{
		ID: 0, UserMemory: 2048, APIHost: "http://127.0.0.1:3233", Prewarm: true, LogLevel: "info",
		MetricsListen: "127.0.0.1:0",
		Kafka:         Kafka{Brokers: []string{"127.0.0.1:9092"}},
		CouchDB:       CouchDB{Prefix: "whisk_local_"},
		Containers: Containers{Backend: "process", Address: containerdAddress, Namespace: containerdNamespace,
			Bridge: "brisk0", Subnet: "10.209.0.0/24", PauseGrace: pauseGrace},
	}
}

// Validate reports the first setting that cannot work.
func (c *Invoker) Validate() error {
	switch {
	case c.ID < 0 || c.ID >= 4096:
		return fmt.Errorf("id %d: between 0 and 4095", c.ID)
	case c.UserMemory < 128:
		return fmt.Errorf("user-memory %d MB: at least 128", c.UserMemory)
	}
	if u, err := url.Parse(c.APIHost); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("api-host %q: want http(s)://host:port", c.APIHost)
	}
	if err := validateBackend(c.Containers); err != nil {
		return err
	}
	if err := ValidLogLevel(c.LogLevel); err != nil {
		return err
	}
	if err := validateMetricsListen(c.MetricsListen); err != nil {
		return err
	}
	return validateCommon(c.Kafka, c.CouchDB)
}

func validateCommon(k Kafka, db CouchDB) error {
	if len(k.Brokers) == 0 {
		return errors.New("kafka.brokers: at least one host:port")
	}
	for _, b := range k.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("kafka.brokers %q: %w", b, err)
		}
	}
	if db.URL == "" {
		return errors.New("couchdb.url: required (the controllers and invokers share one CouchDB)")
	}
	return nil
}

// Standalone is the configuration of `brisk standalone`: the controller and
// one invoker in one process, on an embedded broker and (without
// couchdb.url) an embedded store in the data directory.
type Standalone struct {
	Listen     string `yaml:"listen" flag:"listen" usage:"host:port of the OpenWhisk API"`
	DataDir    string `yaml:"data-dir" flag:"data-dir" usage:"where entities, activations and the broker's log live (default ~/.brisk)"`
	UserMemory int    `yaml:"user-memory" flag:"user-memory" usage:"memory (MB) all action containers together may use"`
	Prewarm    bool   `yaml:"prewarm" flag:"prewarm" usage:"keep the manifest's stem cells prewarmed"`
	LogLevel   string `yaml:"log-level" flag:"log-level" usage:"debug, info, warn or error"`
	PProf      string `yaml:"pprof" flag:"pprof" usage:"serve Go's pprof on this loopback host:port (debugging; empty: off)"`
	// MetricsListen moves /metrics off the API port to an address of its own.
	MetricsListen string `yaml:"metrics-listen" flag:"metrics-listen" usage:"serve /metrics on this host:port instead of the API port (empty: on the API port)"`

	API        API        `yaml:"api"`
	Limits     Limits     `yaml:"limits"`
	CouchDB    CouchDB    `yaml:"couchdb"`
	Throttles  Throttles  `yaml:"throttles"`
	Containers Containers `yaml:"containers"`

	ActivationRetention time.Duration `yaml:"activation-retention" flag:"activation-retention" usage:"delete activation records older than this (0: keep them)"`
	BrokerFsync         bool          `yaml:"broker-fsync" flag:"broker-fsync" usage:"fsync the embedded broker's log at every write: survives a machine crash, not only a process crash (costs about 0.6 ms per message)"`
}

// DefaultStandalone returns standalone's defaults. containerdAddress,
// containerdNamespace and pauseGrace are the containerd backend's own
// defaults.
func DefaultStandalone(containerdAddress, containerdNamespace string, pauseGrace time.Duration) Standalone {
	inv := DefaultInvoker(containerdAddress, containerdNamespace, pauseGrace)
	ctl := DefaultController()
	return Standalone{
		Listen: ctl.Listen, UserMemory: inv.UserMemory, Prewarm: true, LogLevel: "info", API: ctl.API, Limits: ctl.Limits,
		CouchDB: CouchDB{Prefix: "whisk_local_"}, Throttles: ctl.Throttles, Containers: inv.Containers,
		ActivationRetention: ctl.ActivationRetention,
	}
}

// Validate reports the first setting that cannot work.
func (c *Standalone) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q: %w", c.Listen, err)
	}
	if c.PProf != "" {
		if _, _, err := net.SplitHostPort(c.PProf); err != nil {
			return fmt.Errorf("pprof %q: %w", c.PProf, err)
		}
	}
	if c.UserMemory < 128 {
		return fmt.Errorf("user-memory %d MB: at least 128", c.UserMemory)
	}
	if err := validateMetricsListen(c.MetricsListen); err != nil {
		return err
	}
	if c.CouchDB.URL != "" {
		if u, err := url.Parse(c.CouchDB.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("couchdb.url: want http(s)://user:password@host:port")
		}
	}
	if c.ActivationRetention < 0 {
		return errors.New("activation-retention: not negative")
	}
	if err := validateBackend(c.Containers); err != nil {
		return err
	}
	if err := c.API.validate(); err != nil {
		return err
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	return validateShared(c.LogLevel, c.Throttles)
}

// validateMetricsListen checks a metrics-listen setting: empty, or host:port.
func validateMetricsListen(addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("metrics-listen %q: %w", addr, err)
	}
	return nil
}

// validateBackend checks the container backend's name.
func validateBackend(c Containers) error {
	if c.Backend != "process" && c.Backend != "containerd" {
		return fmt.Errorf("containers.backend %q: process or containerd", c.Backend)
	}
	return nil
}

// validateShared checks the log level and the throttles.
func validateShared(logLevel string, t Throttles) error {
	if err := ValidLogLevel(logLevel); err != nil {
		return err
	}
	switch {
	case t.InvocationsPerMinute < 0 || t.ConcurrentInvocations < 0 || t.FiresPerMinute < 0:
		return errors.New("throttles: not negative (0 blocks every namespace)")
	case t.MaxActionConcurrency < 1:
		return fmt.Errorf("throttles.max-action-concurrency %d: at least 1", t.MaxActionConcurrency)
	}
	return nil
}

// ValidLogLevel checks a log level: debug, info, warn or error.
func ValidLogLevel(level string) error {
	switch strings.ToLower(level) {
	case "debug", "info", "warn", "error":
		return nil
	}
	return fmt.Errorf("log-level %q: debug, info, warn or error", level)
}

// validLabel reports whether s is a DNS label: letters, digits and '-', not
// at either end, 1 to 63 characters.
func validLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
