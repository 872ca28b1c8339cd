package bpf

import (
	"maps"
	"testing"
)

// TestXvsMapLayouts: the generated table is the embedded ELF's (make
// generate rewrites it with the bindings; this catches a hand edit or a
// skipped step).
func TestXvsMapLayouts(t *testing.T) {
	spec, err := LoadXvs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]MapLayout{}
	for name, m := range spec.Maps {
		want[name] = MapLayout{Type: m.Type, KeySize: m.KeySize, ValueSize: m.ValueSize}
	}
	if !maps.Equal(XvsMapLayouts, want) {
		t.Errorf("XvsMapLayouts is stale (run make generate):\n got %v\nwant %v", XvsMapLayouts, want)
	}
}
