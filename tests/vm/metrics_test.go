package vm

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// checkKernelMetrics: with kernel IPVS carrying what XDP passes up, xvsadm
// metrics reads it over netlink and /proc/net/ip_vs_stats. The SCTP
// service's want associations are kernel connections (datapath="kernel"),
// kernel IPVS is mirrored without drift, and node_ipvs_connections_total
// is XDP's plus the kernel's: with no service removed, the sum of every
// service's connections over both datapaths. Kernel IPVS publishes its
// counters from its rate estimator (every 2 s): the check polls.
func checkKernelMetrics(t *testing.T, lb *box, sctp netip.AddrPort, want int) {
	t.Helper()
	var kernelSCTP, total, services float64
	var mfs map[string]*dto.MetricFamily
	for deadline := time.Now().Add(20 * time.Second); ; {
		p := expfmt.NewTextParser(model.LegacyValidation)
		var err error
		mfs, err = p.TextToMetricFamilies(strings.NewReader(lb.xvsadm("", "metrics")))
		if err != nil {
			t.Fatalf("xvsadm metrics: Prometheus's parser: %v", err)
		}
		kernelSCTP = sumSamples(mfs["xvs_real_connections_total"], map[string]string{
			"datapath": "kernel", "proto": "SCTP", "local_address": sctp.Addr().String(), "local_port": strconv.Itoa(int(sctp.Port())),
		})
		services = sumSamples(mfs["xvs_service_connections_total"], nil)
		total = sumSamples(mfs["node_ipvs_connections_total"], nil)
		if (kernelSCTP == float64(want) && total == services) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond) // poll interval
	}
	t.Logf("metrics: %v SCTP associations through kernel IPVS; node_ipvs_connections_total %v, services' connections over both datapaths %v", kernelSCTP, total, services)
	if kernelSCTP != float64(want) {
		t.Errorf("xvs_real_connections_total{datapath=\"kernel\",proto=\"SCTP\"} sums to %v, want %d associations", kernelSCTP, want)
	}
	if total != services || total < float64(want) {
		t.Errorf("node_ipvs_connections_total %v, want the services' %v (XDP's plus kernel IPVS's)", total, services)
	}
	if v := sumSamples(mfs["xvs_kernel_ipvs_info"], map[string]string{"state": "mirrored"}); v != 1 {
		t.Errorf("xvs_kernel_ipvs_info{state=\"mirrored\"} = %v, want 1", v)
	}
	if mf := mfs["xvs_kernel_ipvs_drift_services"]; mf == nil || sumSamples(mf, nil) != 0 {
		t.Errorf("xvs_kernel_ipvs_drift_services missing or not 0 while mirrored in step")
	}
}

// sumSamples adds the values of mf's samples whose labels include want.
func sumSamples(mf *dto.MetricFamily, want map[string]string) float64 {
	var sum float64
	if mf == nil {
		return -1
	}
next:
	for _, s := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		sum += s.GetCounter().GetValue() + s.GetGauge().GetValue()
	}
	return sum
}
