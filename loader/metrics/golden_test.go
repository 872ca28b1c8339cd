package metrics

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// render gathers src's families whose names start with prefix and writes
// them in the text exposition format, as node_exporter serves them.
func render(t *testing.T, src Source, prefix string) string {
	t.Helper()
	reg, err := NewRegistry(src)
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), prefix) {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	return b.String()
}

func fixed(s *Snapshot) Source { return SourceFunc(func() (*Snapshot, error) { return s, nil }) }

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// parse reads text with Prometheus's own parser, with the strict
// (legacy) name rules node_exporter's names follow.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus's text parser refuses the output: %v", err)
	}
	return mfs
}

// nodeExporterFamilies are node_exporter's ipvs families: type and label
// names (collector/ipvs_linux.go).
var nodeExporterFamilies = map[string]struct {
	typ    dto.MetricType
	labels []string
}{
	"node_ipvs_connections_total":            {dto.MetricType_COUNTER, nil},
	"node_ipvs_incoming_packets_total":       {dto.MetricType_COUNTER, nil},
	"node_ipvs_outgoing_packets_total":       {dto.MetricType_COUNTER, nil},
	"node_ipvs_incoming_bytes_total":         {dto.MetricType_COUNTER, nil},
	"node_ipvs_outgoing_bytes_total":         {dto.MetricType_COUNTER, nil},
	"node_ipvs_backend_connections_active":   {dto.MetricType_GAUGE, backendLabelsSorted},
	"node_ipvs_backend_connections_inactive": {dto.MetricType_GAUGE, backendLabelsSorted},
	"node_ipvs_backend_weight":               {dto.MetricType_GAUGE, backendLabelsSorted},
}

var backendLabelsSorted = []string{"local_address", "local_mark", "local_port", "proto", "remote_address", "remote_port"}

// checkNodeFamilies checks that mfs are exactly node_exporter's eight
// families, with its types and label names on every sample.
func checkNodeFamilies(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	if len(mfs) != len(nodeExporterFamilies) {
		t.Errorf("%d node_ipvs families, want %d", len(mfs), len(nodeExporterFamilies))
	}
	for name, want := range nodeExporterFamilies {
		mf := mfs[name]
		if mf == nil {
			t.Errorf("no family %s", name)
			continue
		}
		if mf.GetType() != want.typ {
			t.Errorf("%s: type %v, want %v", name, mf.GetType(), want.typ)
		}
		for _, m := range mf.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName())
			}
			if !slices.Equal(got, want.labels) {
				t.Errorf("%s: labels %v, want %v", name, got, want.labels)
			}
		}
	}
}

// TestNodeExporterFixture: node_exporter's own ipvs test input, given as
// kernel IPVS would, comes out as node_exporter's expected output. The
// golden file was checked byte for byte against node_exporter's
// collector/fixtures/ip_vs_result.txt when written.
func TestNodeExporterFixture(t *testing.T) {
	got := render(t, fixed(nodeExporterFixture()), "node_ipvs_")
	golden(t, "node_exporter_fixture.golden", got)
	checkNodeFamilies(t, parse(t, got))
}

// TestGoldenNodeIPVS: the node_ipvs_* families of a snapshot with XDP,
// kernel IPVS and every labelling case.
func TestGoldenNodeIPVS(t *testing.T) {
	got := render(t, fixed(mixedSnapshot()), "node_ipvs_")
	golden(t, "node_ipvs.golden", got)
	checkNodeFamilies(t, parse(t, got))
}

// TestGoldenXVS: the native xvs_* families of the same snapshot.
func TestGoldenXVS(t *testing.T) {
	got := render(t, fixed(mixedSnapshot()), "xvs_")
	golden(t, "xvs.golden", got)
	mfs := parse(t, got)
	for _, f := range nativeFamilies {
		name := fqName(f)
		if mfs[name] == nil {
			t.Errorf("xvs.golden lacks family %s", name)
		}
	}
}

// fqName is a family's metric name (client_golang keeps it unexported in Desc).
func fqName(f family) string {
	s := f.desc.String() // Desc{fqName: "NAME", help: ...}
	_, rest, _ := strings.Cut(s, `fqName: "`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}

// TestCollectError: a snapshot that cannot be read fails the gathering
// with its reason, instead of exporting counters that would drop to zero.
func TestCollectError(t *testing.T) {
	reg, err := NewRegistry(SourceFunc(func() (*Snapshot, error) { return nil, errors.New("open state: boom") }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "open state: boom") {
		t.Fatalf("Gather error %v, want the snapshot's", err)
	}
}
