package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a prometheus.Collector of the node_ipvs_* and xvs_*
// families, reading one Snapshot per scrape.
type Collector struct {
	src Source
}

// NewCollector returns a Collector reading from src.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// scrapeError is the family a failed snapshot is reported under: the
// registry's Gather then fails with the reason, and so does the scrape or
// the textfile write, rather than exporting counters that would drop.
var scrapeError = newFamily("xvs_scrape_error", "The snapshot of xvs's state could not be read.", prometheus.GaugeValue)

// Describe sends every family's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, fs := range [][]family{nodeFamilies, nativeFamilies} {
		for _, f := range fs {
			ch <- f.desc
		}
	}
	ch <- scrapeError.desc
}

// Collect takes a snapshot and sends every family.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.src.Snapshot()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(scrapeError.desc, fmt.Errorf("xvs metrics: %w", err))
		return
	}
	collectNode(s, ch)
	collectNative(s, ch)
}

// NewRegistry returns a registry holding only a Collector of src: no Go
// runtime or process metrics, which node_exporter or the daemon's own
// registry report.
func NewRegistry(src Source) (*prometheus.Registry, error) {
	r := prometheus.NewPedanticRegistry()
	if err := r.Register(NewCollector(src)); err != nil {
		return nil, fmt.Errorf("register xvs collector: %w", err)
	}
	return r, nil
}
