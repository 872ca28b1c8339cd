package vm

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader"
)

// TestInVMBenchLoad times the parts of loading the datapath under TCG (what
// xvsadm pays once per state directory, before a first -R): reading the
// embedded spec, creating the 1M-entry LRU maps alone, and loading the whole
// datapath (maps, verification of the program) with the default and with a
// small connection table. It writes /out/load.md. TestVM runs it only with
// XVS_VM_BENCH=1.
func TestInVMBenchLoad(t *testing.T) {
	requireVM(t)
	type row struct {
		what string
		d    time.Duration
	}
	var rows []row
	timed := func(what string, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		rows = append(rows, row{what, time.Since(start)})
	}
	var spec *ebpf.CollectionSpec
	timed("read the embedded spec (bpf.LoadXvs)", func() (err error) { spec, err = bpf.LoadXvs(); return err })
	for _, name := range []string{"xvs_conns", "xvs_nat_rev"} {
		ms := spec.Maps[name].Copy()
		ms.MaxEntries = loader.DefaultOptions.ConnSize
		timed(fmt.Sprintf("create %s alone (%s, %d entries)", name, ms.Type, ms.MaxEntries), func() error {
			m, err := ebpf.NewMap(ms)
			if err == nil {
				m.Close()
			}
			return err
		})
	}
	for _, size := range []uint32{loader.DefaultOptions.ConnSize, 1 << 16} {
		timed(fmt.Sprintf("loader.Load: every map and the program (connection tables %d)", size), func() error {
			o, err := loader.Load(loader.Options{ConnSize: size})
			if err == nil {
				o.Close()
			}
			return err
		})
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Loading the datapath, in one run of the test VM (Debian kernel under qemu TCG, %d vCPUs).\n\n", runtime.NumCPU())
	fmt.Fprintf(&md, "| step | seconds |\n|---|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&md, "| %s | %.2f |\n", r.what, r.d.Seconds())
	}
	t.Log("\n" + md.String())
	if err := os.WriteFile("/out/load.md", []byte(md.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
