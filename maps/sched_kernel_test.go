package maps

import (
	"bufio"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

// shdhGolden is what the kernel's own ip_vs_sh.c and ip_vs_dh.c compute;
// see testdata/shdh_kernel/gen.sh.
const shdhGolden = "testdata/shdh_kernel.golden"

// TestShDhAgainstKernel checks ShTable, DhTable, ShLookup and DhLookup
// against the kernel's sh and dh code: the same buckets for the same dests
// and weights, and the same dest for each of 300 clients (with sh-port,
// sh-fallback, a weight-0 dest, IPv4 and IPv6). The datapath's tests check
// the datapath against ShLookup and DhLookup.
func TestShDhAgainstKernel(t *testing.T) {
	f, err := os.Open(shdhGolden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		flags     uint32
		weights   map[uint32]int32
		list      []*DestEntry
		sh, dh    []uint32
		scenarios int
		lookups   int
		scenario  string
	)
	avail := func(id uint32) bool { return weights[id] > 0 }
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		switch fs[0] {
		case "scenario":
			scenario = sc.Text()
			scenarios++
			fl, _ := strconv.ParseUint(strings.TrimPrefix(fs[2], "flags="), 10, 32)
			flags = uint32(fl)
			weights = map[uint32]int32{}
			list = nil
			for i, w := range strings.Split(strings.TrimPrefix(fs[3], "weights="), ",") {
				n, _ := strconv.Atoi(w)
				d := &DestEntry{Dest: Dest{Weight: int32(n)}, ID: uint32(i + 1)}
				weights[d.ID] = d.Weight
				list = append([]*DestEntry{d}, list...) // added at the head
			}
			sh, dh = ShTable(list), DhTable(list)
		case "sh", "dh":
			want := fs[1:]
			got := sh
			if fs[0] == "dh" {
				got = dh
			}
			for i := range want {
				if strconv.FormatUint(uint64(got[i]), 10) != want[i] {
					t.Fatalf("line %d (%s): %s bucket %d holds %d, kernel %s", line, scenario, fs[0], i, got[i], want[i])
				}
			}
		case "lookup", "dlookup":
			lookups++
			addr := netip.MustParseAddr(fs[1])
			want, _ := strconv.ParseUint(fs[len(fs)-1], 10, 32)
			var got uint32
			if fs[0] == "lookup" {
				port, _ := strconv.ParseUint(fs[2], 10, 16)
				got = ShLookup(sh, addr, uint16(port), flags, avail)
			} else {
				got = DhLookup(dh, addr, avail)
			}
			if uint64(got) != want {
				t.Fatalf("line %d (%s): %s gives %d, kernel %d", line, scenario, sc.Text(), got, want)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if scenarios < 10 || lookups < 3000 {
		t.Fatalf("golden file holds %d scenarios, %d lookups: regenerate it", scenarios, lookups)
	}
}
