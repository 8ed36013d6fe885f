package fruit

import (
	"errors"
	"net/http"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

// actions lists every ABI v1 action, so that metrics show zeros too.
var actions = []resolve.Action{resolve.ActionRetry, resolve.ActionMerge, resolve.ActionAccept, resolve.ActionFail}

// ResolverMetrics is the resolver section of /v1.0/_metrics.
type ResolverMetrics struct {
	Plugin  string `json:"plugin"`
	Version string `json:"version"`
	// Module is the hex SHA-256 of the active plugin module (it changes
	// when the plugin is reloaded); empty for a native twin.
	Module          string           `json:"module,omitempty"`
	Conflicts       int64            `json:"conflicts"`
	Decisions       map[string]int64 `json:"decisions"`
	Failures        int64            `json:"failures"`
	DecisionLatency LatencyMetrics   `json:"decisionLatency"`
}

// LatencyMetrics summarises the decision latency histogram.
type LatencyMetrics struct {
	Count   int64           `json:"count"`
	MeanMs  float64         `json:"meanMs"`
	Buckets []LatencyBucket `json:"buckets"`
}

// LatencyBucket counts the decisions that took at most LeMs
// milliseconds.
type LatencyBucket struct {
	LeMs  float64 `json:"leMs"`
	Count int64   `json:"count"`
}

func (s *Service) resolverMetrics() ResolverMetrics {
	desc := s.Resolver()
	if d, ok := s.resolver.(resolve.Describer); ok {
		// A reloaded plugin keeps its name and needs, not its version.
		desc.Version = d.Describe().Version
	}
	st := s.stats.Snapshot()[desc.Name]
	m := ResolverMetrics{
		Plugin:    clip(desc.Name, maxNameBytes),
		Version:   clip(desc.Version, maxNameBytes),
		Module:    s.moduleHash(),
		Conflicts: st.Conflicts,
		Decisions: map[string]int64{},
		Failures:  st.Failures,
		DecisionLatency: LatencyMetrics{
			Count:   st.Latency.Count,
			MeanMs:  float64(st.Latency.Mean().Microseconds()) / 1000,
			Buckets: []LatencyBucket{},
		},
	}
	for _, a := range actions {
		m.Decisions[string(a)] = st.Decisions[a]
	}
	for i, le := range couch.LatencyBuckets {
		var n int64
		if i < len(st.Latency.Counts) {
			n = st.Latency.Counts[i]
		}
		m.DecisionLatency.Buckets = append(m.DecisionLatency.Buckets, LatencyBucket{LeMs: float64(le.Nanoseconds()) / 1e6, Count: n})
	}
	return m
}

// metrics answers the seed's /_metrics, plus a resolver section, the
// database client's retries (see couch.RetryStats), the writes a cluster
// answered 202 Accepted (couch.AcceptedStats), the sweeper's counters
// when it runs (couch.SweepStats) and, where the server
// counts them (CouchDB, not pouchdb-server), the CouchDB node's counters
// from couch.Client.NodeStats.
func (s *Service) metrics(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	body := map[string]any{"links": selfLink(r), "resolver": s.resolverMetrics(), "retries": s.stats.Retries(), "accepted": s.stats.Accepted(), "tamper": s.sealingMetrics()}
	if s.sweeper != nil {
		body["sweep"] = s.sweeper.Stats()
	}
	if s.coalesce != nil {
		body["coalesce"] = s.coalesce.metrics()
	}
	m, err := s.db.Metrics(ctx)
	if err != nil {
		s.logger.Error("metrics: database unavailable", "error", clipErr(err))
		body["error"] = "database_unavailable"
		body["reason"] = "the database cannot be reached"
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	body["database"] = m
	if ns, err := s.db.Client().NodeStats(ctx); err == nil {
		body["couchdb"] = ns
	} else if !errors.Is(err, couch.ErrNotFound) {
		s.logger.WarnContext(ctx, "couchdb node stats unavailable", "error", clipErr(err))
	}
	writeJSON(w, http.StatusOK, body)
}

// initMetrics builds the Prometheus registry behind /metrics: the Go
// runtime and process, the requests, and the resolver.
func (s *Service) initMetrics() error {
	s.registry = prometheus.NewRegistry()
	s.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fruit_http_request_duration_seconds",
		Help:    "Time to serve a request of the fruit API, by route, method and status.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "method", "code"})
	s.overloaded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fruit_http_requests_refused_total",
		Help: "Requests answered 503 at once because MaxConcurrentRequests were already being served.",
	})
	for _, c := range []prometheus.Collector{
		s.overloaded,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.requests,
		resolverCollector{s},
		refusedCollector{s},
	} {
		if err := s.registry.Register(c); err != nil {
			return err
		}
	}
	if s.sweeper != nil {
		return s.registry.Register(sweepCollector{s.sweeper})
	}
	return nil
}

func (s *Service) prometheusHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry})
}

// resolverCollector exports the conflict loop's counters, and the
// engine's pool counters when the resolver is a plugin.
type resolverCollector struct{ s *Service }

var (
	descConflicts = prometheus.NewDesc("accord_conflicts_total",
		"Conflicts handed to the resolver.", []string{"resolver"}, nil)
	descDecisions = prometheus.NewDesc("accord_decisions_total",
		"Valid decisions taken by the resolver, by action.", []string{"resolver", "action"}, nil)
	descFailures = prometheus.NewDesc("accord_resolver_failures_total",
		"Resolver calls that failed or answered an invalid decision; each failed its write closed.", []string{"resolver"}, nil)
	descLatency = prometheus.NewDesc("accord_decision_duration_seconds",
		"Time the resolver took to decide.", []string{"resolver"}, nil)
	descInstances = prometheus.NewDesc("accord_plugin_instances",
		"Live instances of the resolver plugin.", []string{"resolver"}, nil)
	descInstancesStarted = prometheus.NewDesc("accord_plugin_instances_started_total",
		"Instances of the resolver plugin started.", []string{"resolver"}, nil)
	descInstancesDiscarded = prometheus.NewDesc("accord_plugin_instances_discarded_total",
		"Instances of the resolver plugin discarded after a failure or at close.", []string{"resolver"}, nil)
	descMemory = prometheus.NewDesc("accord_plugin_memory_bytes",
		"Linear memory of the live plugin instances.", []string{"resolver"}, nil)
	descModule = prometheus.NewDesc("accord_plugin_module_info",
		"The active plugin module, by its SHA-256 (1 for the active one).", []string{"resolver", "sha256"}, nil)
	descPoolWait = prometheus.NewDesc("accord_plugin_pool_wait_seconds",
		"Time a resolver call waited for an instance of the plugin's pool (0 for a call that found one idle).", []string{"resolver"}, nil)
	descReloads = prometheus.NewDesc("accord_plugin_reloads_total",
		"Reloads of the plugin, by result: replaced (the new module serves) or refused (the old one kept serving).", []string{"resolver", "result"}, nil)
)

// moduleHash is the SHA-256 of the active plugin module, or "" for a
// resolver that is no plugin.
func (s *Service) moduleHash() string {
	if m, ok := s.resolver.(interface{ SHA256() string }); ok {
		return m.SHA256()
	}
	return ""
}

func (c resolverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConflicts, descDecisions, descFailures, descLatency,
		descInstances, descInstancesStarted, descInstancesDiscarded, descMemory, descModule, descReloads, descPoolWait} {
		ch <- d
	}
}

func (c resolverCollector) Collect(ch chan<- prometheus.Metric) {
	full := c.s.Resolver().Name
	st := c.s.stats.Snapshot()[full]
	name := clip(full, maxNameBytes) // the label: the plugin chose the name
	ch <- prometheus.MustNewConstMetric(descConflicts, prometheus.CounterValue, float64(st.Conflicts), name)
	for _, a := range actions {
		ch <- prometheus.MustNewConstMetric(descDecisions, prometheus.CounterValue, float64(st.Decisions[a]), name, string(a))
	}
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(st.Failures), name)
	buckets := make(map[float64]uint64, len(couch.LatencyBuckets))
	for i, le := range couch.LatencyBuckets {
		var n int64
		if i < len(st.Latency.Counts) {
			n = st.Latency.Counts[i]
		}
		buckets[le.Seconds()] = uint64(n)
	}
	ch <- prometheus.MustNewConstHistogram(descLatency, uint64(st.Latency.Count), st.Latency.Sum.Seconds(), buckets, name)
	if sum := c.s.moduleHash(); sum != "" {
		ch <- prometheus.MustNewConstMetric(descModule, prometheus.GaugeValue, 1, name, sum)
	}
	if rl, ok := c.s.resolver.(interface{ ReloadStats() engine.ReloadStats }); ok {
		rs := rl.ReloadStats()
		ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(rs.Reloads), name, "replaced")
		ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(rs.Refusals), name, "refused")
	}
	if p, ok := c.s.resolver.(interface{ Stats() engine.Stats }); ok {
		es := p.Stats()
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(es.Instances), name)
		ch <- prometheus.MustNewConstMetric(descInstancesStarted, prometheus.CounterValue, float64(es.InstancesStarted), name)
		ch <- prometheus.MustNewConstMetric(descInstancesDiscarded, prometheus.CounterValue, float64(es.InstancesDiscarded), name)
		ch <- prometheus.MustNewConstMetric(descMemory, prometheus.GaugeValue, float64(es.MemoryBytes), name)
		// Every call is an observation: those that found an idle
		// instance waited 0 (and are not timed by the engine).
		poolWait := make(map[float64]uint64, len(engine.WaitBounds))
		cumulative := es.Calls - min(es.Waits, es.Calls)
		for i, le := range engine.WaitBounds {
			cumulative += es.WaitBuckets[i]
			poolWait[le.Seconds()] = min(cumulative, es.Calls)
		}
		ch <- prometheus.MustNewConstHistogram(descPoolWait, es.Calls, es.WaitTime.Seconds(), poolWait, name)
	}
}
