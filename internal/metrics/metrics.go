// Package metrics holds a process's Prometheus registry and the metric
// families Brisk exports at /metrics: upstream OpenWhisk's activation
// metrics (the user-events service's names, labels and buckets, so that
// dashboards made for upstream work) and Brisk's own (API requests,
// throttles, Kafka, container pool, store, Raft).
//
// One *Metrics is created per process (cmd/brisk) and handed to the parts
// through their Config structs. Every method is safe on a nil *Metrics and
// then does nothing, so a part built without metrics needs no checks.
package metrics

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Upstream's metric names (core/monitoring/user-events, PrometheusRecorder).
const (
	ActivationsTotal  = "openwhisk_action_activations_total"
	ColdStartsTotal   = "openwhisk_action_coldStarts_total"
	WaitTimeSeconds   = "openwhisk_action_waitTime_seconds"
	InitTimeSeconds   = "openwhisk_action_initTime_seconds"
	DurationSeconds   = "openwhisk_action_duration_seconds"
	ResponseSizeBytes = "openwhisk_action_response_size_bytes"
	Status            = "openwhisk_action_status"
	Memory            = "openwhisk_action_memory"
	LimitConcurrent   = "openwhisk_action_limit_concurrent_total"
	LimitTimed        = "openwhisk_action_limit_timed_total"
)

// Brisk's own metric names.
const (
	APIRequestsTotal    = "brisk_api_requests_total"
	APIRequestSeconds   = "brisk_api_request_duration_seconds"
	ThrottledTotal      = "brisk_throttle_rejections_total"
	KafkaProduceSeconds = "brisk_kafka_produce_duration_seconds"
	KafkaProduceErrors  = "brisk_kafka_produce_errors_total"
	KafkaConsumeDelay   = "brisk_kafka_consume_delay_seconds"
	KafkaConsumerLag    = "brisk_kafka_consumer_lag"
	ContainersGauge     = "brisk_invoker_containers"
	StoreRequestSeconds = "brisk_store_request_duration_seconds"
	StoreErrorsTotal    = "brisk_store_errors_total"
	RaftLeader          = "brisk_raft_leader"
	RaftControllers     = "brisk_raft_controllers"
	InvokerUserMemoryMB = "brisk_invoker_user_memory_megabytes"
	InvokerUsedMemoryMB = "brisk_invoker_used_memory_megabytes"
)

// Upstream's label names (MetricNames.scala).
const (
	LabelNamespace = "namespace" // the action's namespace
	LabelInitiator = "initiator" // the invoking subject's namespace
	LabelAction    = "action"    // the action's name, with its package
	LabelKind      = "kind"
	LabelMemory    = "memory"
	LabelStatus    = "status"
)

// javaDefaultBuckets are the Prometheus Java client's default histogram
// buckets, which upstream's histograms use.
var javaDefaultBuckets = []float64{.005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10}

// maxActivationEntityBytes is upstream's MAX_ACTIVATION_ENTITY_LIMIT (1 MB),
// the width of its response size buckets.
const maxActivationEntityBytes = 1 << 20

// Metrics is one process's registry and metric families.
type Metrics struct {
	reg *prometheus.Registry

	activations, coldStarts, status        *prometheus.CounterVec
	waitTime, initTime, duration, respSize *prometheus.HistogramVec
	memory                                 *prometheus.GaugeVec
	limitConcurrent, limitTimed            *prometheus.CounterVec

	apiRequests   *prometheus.CounterVec
	apiSeconds    *prometheus.HistogramVec
	throttled     *prometheus.CounterVec
	produce       *prometheus.HistogramVec
	produceErrors *prometheus.CounterVec
	consumeDelay  *prometheus.HistogramVec
	consumerLag   *prometheus.GaugeVec
	storeSeconds  *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec
}

// New creates a registry with Go's runtime and process collectors and every
// metric family.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{reg}
	three := []string{LabelNamespace, LabelInitiator, LabelAction}
	return &Metrics{reg: reg,
		activations: f.counter(ActivationsTotal, "Activation Count",
			LabelNamespace, LabelInitiator, LabelAction, LabelKind, LabelMemory),
		coldStarts: f.counter(ColdStartsTotal, "Cold start counts", three...),
		status:     f.counter(Status, "Activation failure status type", append(three, LabelStatus)...),
		waitTime:   f.histogram(WaitTimeSeconds, "Internal system hold time", javaDefaultBuckets, three...),
		initTime: f.histogram(InitTimeSeconds, "Time it took to initialize an action, e.g. docker init",
			javaDefaultBuckets, three...),
		duration: f.histogram(DurationSeconds, "Actual time the action code was running", javaDefaultBuckets, three...),
		respSize: f.histogram(ResponseSizeBytes, "Activation Response size",
			prometheus.LinearBuckets(0, maxActivationEntityBytes, 10), three...),
		memory: f.gauge(Memory, "Memory consumption of the action containers", three...),
		limitConcurrent: f.counter(LimitConcurrent,
			"a user has exceeded its limit for concurrent invocations", LabelNamespace),
		limitTimed: f.counter(LimitTimed,
			"the user has reached its per minute limit for the number of invocations", LabelNamespace),

		apiRequests: f.counter(APIRequestsTotal,
			"API requests answered, by operation (invoke, fire, web, other) and HTTP status code", "operation", "code"),
		apiSeconds: f.histogram(APIRequestSeconds, "Time to answer an API request, by operation",
			javaDefaultBuckets, "operation"),
		throttled: f.counter(ThrottledTotal,
			"Requests refused with 429 by a namespace throttle, by limit "+
				"(invocations-per-minute, concurrent-invocations, fires-per-minute)", "limit"),
		produce: f.histogram(KafkaProduceSeconds, "Time for the broker to acknowledge a produced message, by topic",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}, "topic"),
		produceErrors: f.counter(KafkaProduceErrors, "Messages that could not be produced, by topic", "topic"),
		consumeDelay: f.histogram(KafkaConsumeDelay,
			"Age of a message when its consumer fetched it (produce to consume latency), by topic",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}, "topic"),
		consumerLag: f.gauge(KafkaConsumerLag,
			"Messages in the partition after the one its consumer fetched last, by topic and group", "topic", "group"),
		storeSeconds: f.histogram(StoreRequestSeconds, "Time of a store (database) call, by operation",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}, "operation"),
		storeErrors: f.counter(StoreErrorsTotal,
			"Store calls that failed, by kind: unavailable (the database cannot be reached) or other", "kind"),
	}
}

type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

func (f factory) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(v)
	return v
}

func (f factory) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(v)
	return v
}

// Registry is the process's registry, for collectors of its own.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in Prometheus's text format. Nil metrics
// answer 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Register adds a collector; one already registered (a second part
// offering the same gauges in one process) is ignored.
func (m *Metrics) Register(c prometheus.Collector) error {
	if m == nil {
		return nil
	}
	if err := m.reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		return err
	}
	return nil
}

// Activation is what the activation metrics record of one activation, as
// upstream's Activation event carries it.
type Activation struct {
	Namespace string // the action's namespace
	Initiator string // the invoking subject's namespace
	Action    string // the action's name with its package: "pkg/name" or "name"
	Kind      string
	MemoryMB  int
	// StatusCode is the activation response's status code: 0 success,
	// 1 application error, 2 developer error, 3 whisk (internal) error.
	StatusCode int
	// InitTime is zero for a warm start.
	WaitTime, InitTime, Duration time.Duration
	// ResponseSize is the result's size in bytes, or -1 when unknown.
	ResponseSize int
}

// StatusLabel is upstream's status label value of a response status code
// (ActivationResponse.statusForCode).
func StatusLabel(code int) string {
	switch code {
	case 0:
		return "success"
	case 1:
		return "application_error"
	case 2:
		return "action_developer_error"
	case 3:
		return "whisk_internal_error"
	}
	return strconv.Itoa(code)
}

// ObserveActivation records one activation as upstream's user-events
// service does: a count, a cold start (and its init time) when it had one,
// wait time, duration, response size, status, and the action's memory.
func (m *Metrics) ObserveActivation(a Activation) {
	if m == nil {
		return
	}
	three := []string{a.Namespace, a.Initiator, a.Action}
	m.memory.WithLabelValues(three...).Set(float64(a.MemoryMB))
	if a.InitTime > 0 {
		m.coldStarts.WithLabelValues(three...).Inc()
		m.initTime.WithLabelValues(three...).Observe(a.InitTime.Seconds())
	}
	m.waitTime.WithLabelValues(three...).Observe(max(a.WaitTime, 0).Seconds())
	m.duration.WithLabelValues(three...).Observe(max(a.Duration, 0).Seconds())
	m.status.WithLabelValues(a.Namespace, a.Initiator, a.Action, StatusLabel(a.StatusCode)).Inc()
	if a.ResponseSize >= 0 {
		m.respSize.WithLabelValues(three...).Observe(float64(a.ResponseSize))
	}
	// Counted last: a scrape that sees the count sees the rest too.
	m.activations.WithLabelValues(a.Namespace, a.Initiator, a.Action, a.Kind, strconv.Itoa(a.MemoryMB)).Inc()
}

// Throttle limits, the values of brisk_throttle_rejections_total's label.
const (
	LimitInvocationsPerMinute  = "invocations-per-minute"
	LimitConcurrentInvocations = "concurrent-invocations"
	LimitFiresPerMinute        = "fires-per-minute"
)

// Throttled counts a request namespace ns had refused by limit (one of the
// Limit* constants), also under upstream's per-namespace limit counters.
func (m *Metrics) Throttled(limit, ns string) {
	if m == nil {
		return
	}
	m.throttled.WithLabelValues(limit).Inc()
	switch limit {
	case LimitConcurrentInvocations:
		m.limitConcurrent.WithLabelValues(ns).Inc()
	case LimitInvocationsPerMinute, LimitFiresPerMinute:
		m.limitTimed.WithLabelValues(ns).Inc()
	}
}

// APIRequest counts an answered API request of operation (invoke, fire,
// web, other) with its HTTP status code and time.
func (m *Metrics) APIRequest(operation string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.apiRequests.WithLabelValues(operation, strconv.Itoa(code)).Inc()
	m.apiSeconds.WithLabelValues(operation).Observe(d.Seconds())
}

// KafkaProduced records one Send to topic: its time, or its failure.
func (m *Metrics) KafkaProduced(topic string, d time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.produceErrors.WithLabelValues(topic).Inc()
		return
	}
	m.produce.WithLabelValues(topic).Observe(d.Seconds())
}

// KafkaConsumed records a message fetched from topic by group: its age
// (now minus its timestamp) and the partition's lag behind it.
func (m *Metrics) KafkaConsumed(topic, group string, age time.Duration, lag int64) {
	if m == nil {
		return
	}
	m.consumeDelay.WithLabelValues(topic).Observe(max(age, 0).Seconds())
	m.consumerLag.WithLabelValues(topic, group).Set(float64(max(lag, 0)))
}

// StoreCall records a store call's time by operation.
func (m *Metrics) StoreCall(operation string, d time.Duration) {
	if m == nil {
		return
	}
	m.storeSeconds.WithLabelValues(operation).Observe(d.Seconds())
}

// StoreError counts a failed store call; unavailable says the database could
// not be reached.
func (m *Metrics) StoreError(unavailable bool) {
	if m == nil {
		return
	}
	kind := "other"
	if unavailable {
		kind = "unavailable"
	}
	m.storeErrors.WithLabelValues(kind).Inc()
}

// PoolSizes are an invoker's containers by state.
type PoolSizes struct {
	Warm, Prewarm, Paused, Busy int
	// UsedMB is the memory the containers claim; UserMB the invoker's budget.
	UsedMB, UserMB int
}

// poolCollector reports an invoker's pool at each scrape.
type poolCollector struct {
	sizes              func() PoolSizes
	containers, mb, um *prometheus.Desc
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.containers
	ch <- c.mb
	ch <- c.um
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.sizes()
	for state, n := range map[string]int{"warm": s.Warm, "prewarm": s.Prewarm, "paused": s.Paused, "busy": s.Busy} {
		ch <- prometheus.MustNewConstMetric(c.containers, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(c.mb, prometheus.GaugeValue, float64(s.UsedMB))
	ch <- prometheus.MustNewConstMetric(c.um, prometheus.GaugeValue, float64(s.UserMB))
}

// WatchPool reports an invoker's container pool, read at each scrape.
func (m *Metrics) WatchPool(sizes func() PoolSizes) error {
	return m.Register(&poolCollector{sizes: sizes,
		containers: prometheus.NewDesc(ContainersGauge,
			"Action containers of the invoker by state: warm (idle, initialized), prewarm (stem cells), "+
				"paused (idle, frozen), busy (running activations)", []string{"state"}, nil),
		mb: prometheus.NewDesc(InvokerUsedMemoryMB, "Memory claimed by the invoker's action containers", nil, nil),
		um: prometheus.NewDesc(InvokerUserMemoryMB, "Memory the invoker's action containers may use in all", nil, nil),
	})
}

// WatchRaft reports the controllers' Raft group as this member sees it, read
// at each scrape: whether it leads, and the group's live size.
func (m *Metrics) WatchRaft(isLeader func() bool, size func() int) error {
	if m == nil {
		return nil
	}
	leader := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: RaftLeader,
		Help: "1 while this controller leads the controllers' Raft group, else 0"}, func() float64 {
		if isLeader() {
			return 1
		}
		return 0
	})
	n := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: RaftControllers,
		Help: "Live controllers in the Raft group, as this controller sees it"}, func() float64 { return float64(size()) })
	if err := m.Register(leader); err != nil {
		return err
	}
	return m.Register(n)
}
