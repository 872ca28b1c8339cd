package loader

import "github.com/cilium/ebpf"

// DefaultStateDir is where xvs pins its maps, program and links.
const DefaultStateDir = "/sys/fs/bpf/xvs"

// Options are the load-time settings of the datapath. They take effect when
// the state directory is first created; later processes reuse what is pinned.
type Options struct {
	ConnSize uint32 // connection-table entries (default 1,048,576)
	MhSize   uint32 // Maglev table size, a prime (default 4093, as Debian's IPVS)
}

// DefaultOptions are the defaults of Options.
var DefaultOptions = Options{ConnSize: 1 << 20, MhSize: 4093}

func (o Options) withDefaults() Options {
	if o.ConnSize == 0 {
		o.ConnSize = DefaultOptions.ConnSize
	}
	if o.MhSize == 0 {
		o.MhSize = DefaultOptions.MhSize
	}
	return o
}

// apply sets the options on the datapath's collection spec.
func (o Options) apply(spec *ebpf.CollectionSpec) error {
	o = o.withDefaults()
	spec.Maps["xvs_conns"].MaxEntries = o.ConnSize
	spec.Maps["xvs_nat_rev"].MaxEntries = o.ConnSize // one NAT reverse entry per connection at most
	spec.Maps["xvs_mh"].InnerMap.MaxEntries = o.MhSize
	if err := spec.Variables["xvs_hz"].Set(KernelHZ()); err != nil {
		return err
	}
	return spec.Variables["xvs_mh_size"].Set(o.MhSize)
}
