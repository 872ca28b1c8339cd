package ipvs

import (
	"fmt"
	"slices"

	cfipvs "github.com/cloudflare/ipvs"

	"github.com/xvs-lb/xvs/maps"
)

// Drift returns where the kernel's table differs from cfg, one line per
// difference ("" lines never), by reading the kernel afresh.
func (m *Mirror) Drift(cfg *maps.Config) ([]string, error) {
	k, err := m.Read()
	if err != nil {
		return nil, err
	}
	return Diff(cfg, k), nil
}

// Diff lists the differences between the maps' configuration (maps) and
// the kernel's (kernel), in maps' order, then what only the kernel has.
func Diff(mapsCfg, kernel *maps.Config) []string {
	ds := Differences(mapsCfg, kernel)
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Text
	}
	return out
}

// Difference is one way the kernel's table differs from the maps'.
type Difference struct {
	Service string // the service it concerns, as ipvsadm names it; "" for the timeouts
	Text    string // the whole line, naming the service
}

// DriftedServices counts the services (in either table) that differ in
// any way, and reports whether the timeouts differ.
func DriftedServices(ds []Difference) (services int, timeouts bool) {
	seen := map[string]bool{}
	for _, d := range ds {
		if d.Service == "" {
			timeouts = true
		} else if !seen[d.Service] {
			seen[d.Service] = true
			services++
		}
	}
	return services, timeouts
}

// Differences is Diff with each line's service.
func Differences(mapsCfg, kernel *maps.Config) []Difference {
	var out []Difference
	add := func(v *cfipvs.Service, format string, args ...any) {
		n := name(v)
		out = append(out, Difference{Service: n, Text: n + ": " + fmt.Sprintf(format, args...)})
	}
	have := map[svcKey]*maps.ServiceEntry{}
	for _, e := range kernel.Services {
		v := serviceOf(&e.Service)
		have[keyOf(&v)] = e
	}
	seen := map[svcKey]bool{}
	for _, e := range mapsCfg.Services {
		v := serviceOf(&e.Service)
		k := keyOf(&v)
		seen[k] = true
		ke := have[k]
		if ke == nil {
			add(&v, "in the maps, not in kernel IPVS")
			continue
		}
		kv := serviceOf(&ke.Service)
		if !sameSettings(&v, &kv) || e.PE != ke.PE {
			add(&v, "settings differ (maps: %s; kernel: %s)", settings(&v, e.PE), settings(&kv, ke.PE))
		}
		kd := map[destKey]*maps.DestEntry{}
		for _, d := range ke.Dests {
			kd[destKey{d.Addr.Unmap(), d.Port}] = d
		}
		for _, d := range e.Dests {
			dv := destOf(&d.Dest)
			dk := destKey{dv.Address, dv.Port}
			o := kd[dk]
			delete(kd, dk)
			if o == nil {
				add(&v, "real %s in the maps, not in kernel IPVS", dest(&dv))
				continue
			}
			ov := destOf(&o.Dest)
			if !sameDest(&dv, &ov) {
				add(&v, "real %s differs (maps: %s; kernel: %s)", dest(&dv), destSettings(&dv), destSettings(&ov))
			}
		}
		var extra []string
		for _, d := range kd {
			dv := destOf(&d.Dest)
			extra = append(extra, dest(&dv))
		}
		slices.Sort(extra)
		for _, x := range extra {
			add(&v, "real %s in kernel IPVS, not in the maps", x)
		}
	}
	for _, e := range kernel.Services {
		v := serviceOf(&e.Service)
		if !seen[keyOf(&v)] {
			add(&v, "in kernel IPVS, not in the maps")
		}
	}
	if mapsCfg.Timeouts != kernel.Timeouts {
		t, k := mapsCfg.Timeouts, kernel.Timeouts
		out = append(out, Difference{Text: fmt.Sprintf("timeouts differ (maps: %d %d %d; kernel: %d %d %d)", t.TCP, t.TCPFin, t.UDP, k.TCP, k.TCPFin, k.UDP)})
	}
	return out
}

func settings(v *cfipvs.Service, pe string) string {
	s := fmt.Sprintf("scheduler %s, flags %#x", v.Scheduler, uint32(v.Flags&^cfipvs.ServiceHashed))
	if v.Flags&cfipvs.ServicePersistent != 0 {
		s += fmt.Sprintf(", timeout %d", v.Timeout)
	}
	if b := v.Netmask.Bits(); b >= 0 {
		s += fmt.Sprintf(", netmask /%d", b)
	}
	if pe != "" {
		s += ", pe " + pe
	}
	return s
}

func dest(d *cfipvs.Destination) string {
	if d.Address.Is6() {
		return fmt.Sprintf("[%s]:%d", d.Address, d.Port)
	}
	return fmt.Sprintf("%s:%d", d.Address, d.Port)
}

func destSettings(d *cfipvs.Destination) string {
	fwd := map[cfipvs.ForwardType]string{cfipvs.Masquerade: "masq", cfipvs.Local: "local", cfipvs.Tunnel: "tunnel", cfipvs.DirectRoute: "route", cfipvs.Bypass: "bypass"}[d.FwdMethod]
	s := fmt.Sprintf("%s, weight %d", fwd, d.Weight)
	if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
		s += fmt.Sprintf(", thresholds %d-%d", d.LowerThreshold, d.UpperThreshold)
	}
	if d.FwdMethod == cfipvs.Tunnel {
		s += fmt.Sprintf(", tunnel %d port %d flags %#x", d.TunnelType, d.TunnelPort, uint16(d.TunnelFlags))
	}
	return s
}
