package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wasigate/wasigate/host"
)

// Metrics are one process's collectors, in a registry of their own (not
// the global one, so tests can make several).
type Metrics struct {
	Registry *prometheus.Registry

	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	instantiate *prometheus.HistogramVec
	queueWait   *prometheus.HistogramVec
	running     *prometheus.GaugeVec
	rejections  *prometheus.CounterVec
	loads       *prometheus.CounterVec
	modules     prometheus.Gauge
	reloads     *prometheus.CounterVec
	lastReload  prometheus.Gauge
	outbound    *prometheus.CounterVec
}

// New registers wasigate's collectors and Go's process and runtime ones.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasigate_requests_total",
			Help: "Requests answered, by tenant (empty: the default site), route pattern (empty: no route) and status code.",
		}, []string{"tenant", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wasigate_request_duration_seconds",
			Help:    "Time from the request's arrival to the end of its response.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"tenant", "route"}),
		instantiate: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wasigate_instantiate_seconds",
			Help:    "Time to create a guest instance from its compiled module.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
		}, []string{"tenant", "route"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wasigate_queue_wait_seconds",
			Help:    "Time requests waited for a concurrency slot (route or tenant), for those that had to wait.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"tenant", "route"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wasigate_instances_in_flight",
			Help: "Guest instances running now.",
		}, []string{"tenant", "route"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasigate_rejections_total",
			Help: "Requests refused or stopped, by reason: timeout, memory, body, output, rate, concurrency, uri, host, crash, exit, invalid, redirect, client, no route.",
		}, []string{"tenant", "route", "reason"}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasigate_module_loads_total",
			Help: "Modules loaded by a (re)load, by whether the compilation cache had them (hit) or they were compiled (miss).",
		}, []string{"cache"}),
		modules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wasigate_modules",
			Help: "Modules of the site being served.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasigate_reloads_total",
			Help: "Site loads (the first one and each reload), by result: ok or rejected.",
		}, []string{"result"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wasigate_last_reload_success_timestamp_seconds",
			Help: "When the site being served was loaded.",
		}),
		outbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasigate_outbound_requests_total",
			Help: "Outbound HTTP requests of guests (wasi_experimental_http), by tenant, host (scheme://host:port; other for hosts no policy allows) and outcome: ok, refused, failed.",
		}, []string{"tenant", "host", "outcome"}),
	}
	r.MustRegister(m.outbound, m.requests, m.duration, m.instantiate, m.queueWait, m.running,
		m.rejections, m.loads, m.modules, m.reloads, m.lastReload,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe records one finished request; it fits router.Options.Observe.
func (m *Metrics) Observe(r *http.Request, info *host.Info, status int, d time.Duration) {
	m.requests.WithLabelValues(info.Tenant, info.Route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(info.Tenant, info.Route).Observe(d.Seconds())
	if info.Instantiate > 0 {
		m.instantiate.WithLabelValues(info.Tenant, info.Route).Observe(info.Instantiate.Seconds())
	}
	if info.QueueWait > 0 {
		m.queueWait.WithLabelValues(info.Tenant, info.Route).Observe(info.QueueWait.Seconds())
	}
	if info.Reason != "" {
		m.rejections.WithLabelValues(info.Tenant, info.Route, string(info.Reason)).Inc()
	}
}

// Running counts instances in flight; it fits router.Options.Running.
func (m *Metrics) Running(tenant, route string, delta int) {
	m.running.WithLabelValues(tenant, route).Add(float64(delta))
}

// Outbound counts one outbound request; it fits router.Options.Outbound.
func (m *Metrics) Outbound(tenant, host, outcome string) {
	m.outbound.WithLabelValues(tenant, host, outcome).Inc()
}

// Loaded records a site load: cached tells for each of its modules whether
// the compilation cache had it. ok false is a rejected load.
func (m *Metrics) Loaded(ok bool, cached []bool) {
	if !ok {
		m.reloads.WithLabelValues("rejected").Inc()
		return
	}
	m.reloads.WithLabelValues("ok").Inc()
	m.lastReload.SetToCurrentTime()
	m.modules.Set(float64(len(cached)))
	for _, c := range cached {
		if c {
			m.loads.WithLabelValues("hit").Inc()
		} else {
			m.loads.WithLabelValues("miss").Inc()
		}
	}
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
