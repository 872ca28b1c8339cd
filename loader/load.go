package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/xvs-lb/xvs/bpf"
)

// Load loads the datapath without pinning anything (tests, benchmarks).
func Load(opts Options) (*bpf.XvsObjects, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock: %w", err)
	}
	spec, err := bpf.LoadXvs()
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	if err := opts.apply(spec); err != nil {
		return nil, fmt.Errorf("set options: %w", err)
	}
	var objs bpf.XvsObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, fmt.Errorf("load datapath: %+v", err)
	}
	if err := initConfig(objs.XvsConfig, opts.withDefaults()); err != nil {
		objs.Close()
		return nil, err
	}
	return &objs, nil
}

// initConfig writes the run-time settings a fresh datapath starts with.
func initConfig(m *ebpf.Map, opts Options) error {
	cfg := bpf.Cfg{TcpTimeout: 900, TcpfinTimeout: 120, UdpTimeout: 300, MhSize: opts.MhSize}
	if err := m.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("init config: %w", err)
	}
	return nil
}

// mapField is one map of the datapath, by pin name, and where it goes in XvsObjects.
type mapField struct {
	name string
	m    **ebpf.Map
}

// mapFields lists the datapath's maps (the one list pinning and opening share).
func mapFields(o *bpf.XvsObjects) []mapField {
	return []mapField{
		{bpf.XvsMapXvsConfig, &o.XvsConfig}, {bpf.XvsMapXvsConns, &o.XvsConns},
		{bpf.XvsMapXvsMh, &o.XvsMh}, {bpf.XvsMapXvsRealStats, &o.XvsRealStats},
		{bpf.XvsMapXvsReals, &o.XvsReals}, {bpf.XvsMapXvsSvcStats, &o.XvsSvcStats},
		{bpf.XvsMapXvsSvcs, &o.XvsSvcs}, {bpf.XvsMapXvsTxPorts, &o.XvsTxPorts},
		{bpf.XvsMapXvsVerdicts, &o.XvsVerdicts}, {bpf.XvsMapXvsNhCache, &o.XvsNhCache},
		{bpf.XvsMapXvsFlowCache, &o.XvsFlowCache},
		{bpf.XvsMapXvsRealConns, &o.XvsRealConns}, {bpf.XvsMapXvsSweep, &o.XvsSweep}, {bpf.XvsMapXvsSchedPos, &o.XvsSchedPos},
	}
}
