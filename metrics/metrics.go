package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parleychat/parley/hub"
)

// Registry holds Parley's metrics.
type Registry struct {
	reg          *prometheus.Registry
	storeLatency *prometheus.HistogramVec
}

// HubStats is what the registry reads from the hub at each scrape.
type HubStats interface {
	Stats() hub.Stats
}

// New returns a registry with the Go runtime and process collectors.
func New() *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r := &Registry{
		reg: reg,
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_store_seconds",
			Help:    "Latency of store operations, by operation and outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"op", "outcome"}),
	}
	reg.MustRegister(r.storeLatency)
	return r
}

// WatchHub reads h's counters at every scrape.
func (r *Registry) WatchHub(h HubStats) {
	r.reg.MustRegister(hubCollector{h})
}

// Handler serves the metrics.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

var (
	connectionsDesc = prometheus.NewDesc("parley_connections", "Open WebSocket connections.", nil, nil)
	roomsDesc       = prometheus.NewDesc("parley_rooms_active", "Rooms with members on this node.", nil, nil)
	receivedDesc    = prometheus.NewDesc("parley_messages_received_total", "Messages stored from this node's connections.", nil, nil)
	deliveredDesc   = prometheus.NewDesc("parley_messages_delivered_total", "Message frames queued to recipients.", nil, nil)
	slowDesc        = prometheus.NewDesc("parley_slow_consumer_closes_total", "Connections closed for overflowing their outgoing queue.", nil, nil)
	errorsDesc      = prometheus.NewDesc("parley_errors_total", "Error replies sent to clients, by code.", []string{"code"}, nil)
	publishDesc     = prometheus.NewDesc("parley_broker_publish_errors_total", "Room events the broker did not take; other nodes catch up from the store.", nil, nil)
)

// hubCollector turns a hub.Stats snapshot into metrics, so the hub's hot
// path only touches its own atomic counters.
type hubCollector struct{ h HubStats }

func (c hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{connectionsDesc, roomsDesc, receivedDesc, deliveredDesc, slowDesc, errorsDesc, publishDesc} {
		ch <- d
	}
}

func (c hubCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.h.Stats()
	ch <- prometheus.MustNewConstMetric(connectionsDesc, prometheus.GaugeValue, float64(st.Connections))
	ch <- prometheus.MustNewConstMetric(roomsDesc, prometheus.GaugeValue, float64(st.Rooms))
	ch <- prometheus.MustNewConstMetric(receivedDesc, prometheus.CounterValue, float64(st.Received))
	ch <- prometheus.MustNewConstMetric(deliveredDesc, prometheus.CounterValue, float64(st.Delivered))
	ch <- prometheus.MustNewConstMetric(slowDesc, prometheus.CounterValue, float64(st.SlowCloses))
	ch <- prometheus.MustNewConstMetric(publishDesc, prometheus.CounterValue, float64(st.PublishErrors))
	for code, n := range st.Errors {
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(n), code)
	}
}
