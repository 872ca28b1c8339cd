package maps

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// tableMem is address space reserved for the mappings through which one
// commit fills its scheduler tables: table i is mapped into slot i (over
// the reservation, MAP_FIXED), and the whole range is unmapped once when
// the tables are built. Unmapping each table on its own cost one TLB
// shootdown per table on every CPU the process runs on (a third of the
// CPU time of a 1,000-service mh restore in the test VM).
type tableMem struct {
	base unsafe.Pointer
	slot int // bytes per table, whole pages
	n    int
}

// newTableMem reserves n slots of tableBytes each (address space only).
func newTableMem(n, tableBytes int) (*tableMem, error) {
	page := os.Getpagesize()
	slot := (tableBytes + page - 1) / page * page
	base, err := unix.MmapPtr(-1, 0, nil, uintptr(n*slot), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("reserve %d bytes for tables: %w", n*slot, err)
	}
	return &tableMem{base: base, slot: slot, n: n}, nil
}

// mapTable maps the first size bytes (at most a slot) of the mmapable
// array m into slot i.
func (t *tableMem) mapTable(i int, m *ebpf.Map, size int) ([]byte, error) {
	page := os.Getpagesize()
	size = (size + page - 1) / page * page
	if i < 0 || i >= t.n || size > t.slot {
		return nil, fmt.Errorf("table slot %d of %d, %d bytes of %d", i, t.n, size, t.slot)
	}
	p, err := unix.MmapPtr(m.FD(), 0, unsafe.Add(t.base, i*t.slot), uintptr(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	return unsafe.Slice((*byte)(p), size), nil
}

// close unmaps every slot at once.
func (t *tableMem) close() error { return unix.MunmapPtr(t.base, uintptr(t.n*t.slot)) }
