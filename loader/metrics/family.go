package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// family is a metric family: its name, help, type and label names, in
// one place for Describe and Collect.
type family struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

func newFamily(name, help string, typ prometheus.ValueType, labels ...string) family {
	return family{desc: prometheus.NewDesc(name, help, labels, nil), typ: typ}
}

// series collects one family's samples, summing those whose label values
// are equal (as node_exporter's ipvs collector sums backends that print
// the same), and sends them in the order first added.
type series struct {
	f     family
	byKey map[string]int
	vals  []float64
	lvs   [][]string
}

func (f family) series() *series { return &series{f: f, byKey: map[string]int{}} }

// add adds v to the sample of label values lv.
func (s *series) add(v float64, lv ...string) {
	k := strings.Join(lv, "\x00")
	i, ok := s.byKey[k]
	if !ok {
		i = len(s.vals)
		s.byKey[k] = i
		s.vals = append(s.vals, 0)
		s.lvs = append(s.lvs, lv)
	}
	s.vals[i] += v
}

// send sends the samples to ch.
func (s *series) send(ch chan<- prometheus.Metric) {
	for i, v := range s.vals {
		s.f.one(ch, v, s.lvs[i]...)
	}
}

// one sends one sample of the family; a label value the format refuses
// (not UTF-8: an interface's name is any bytes) fails the scrape with a
// reason instead of a panic.
func (f family) one(ch chan<- prometheus.Metric, v float64, lv ...string) {
	m, err := prometheus.NewConstMetric(f.desc, f.typ, v, lv...)
	if err != nil {
		m = prometheus.NewInvalidMetric(f.desc, err)
	}
	ch <- m
}
