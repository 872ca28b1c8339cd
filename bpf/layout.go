package bpf

import "github.com/cilium/ebpf"

// MapLayout is what a pinned map must match to be reused by this build:
// its type and the sizes of its keys and values.
type MapLayout struct {
	Type      ebpf.MapType
	KeySize   uint32
	ValueSize uint32
}
