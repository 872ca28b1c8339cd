package maps

import (
	"slices"
	"testing"
)

func dests(ws ...int32) []*DestEntry {
	var ds []*DestEntry
	for i, w := range ws {
		ds = append(ds, &DestEntry{Dest: Dest{Weight: w}, ID: uint32(i + 1)})
	}
	return ds
}

// count returns how many buckets each id holds.
func count(t []uint32) map[uint32]int {
	m := map[uint32]int{}
	for _, id := range t {
		m[id]++
	}
	return m
}

func TestShTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ws    []int32
		head  []uint32 // first buckets, as ip_vs_sh_reassign fills them
		count map[uint32]int
	}{
		{"equal", []int32{1, 1, 1}, []uint32{1, 2, 3, 1, 2, 3}, map[uint32]int{1: 86, 2: 85, 3: 85}},
		{"weighted", []int32{2, 1, 3}, []uint32{1, 1, 2, 3, 3, 3, 1, 1}, map[uint32]int{1: 86, 2: 43, 3: 127}},
		{"weight 0 still holds one bucket per round", []int32{1, 0}, []uint32{1, 2, 1, 2}, map[uint32]int{1: 128, 2: 128}},
		{"empty", nil, []uint32{0, 0}, map[uint32]int{0: 256}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := ShTable(dests(tc.ws...))
			if len(tab) != HashTabSize || !slices.Equal(tab[:len(tc.head)], tc.head) {
				t.Fatalf("table starts %v, want %v", tab[:len(tc.head)], tc.head)
			}
			if got := count(tab); !mapsEqual(got, tc.count) {
				t.Fatalf("buckets %v, want %v", got, tc.count)
			}
		})
	}
}

func TestDhTable(t *testing.T) {
	tab := DhTable(dests(5, 1, 0))
	if !slices.Equal(tab[:6], []uint32{1, 2, 3, 1, 2, 3}) {
		t.Fatalf("table starts %v", tab[:6])
	}
	if got := count(tab); !mapsEqual(got, map[uint32]int{1: 86, 2: 85, 3: 85}) {
		t.Fatalf("buckets %v (dh ignores weights)", got)
	}
}

func TestListTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ws    []int32
		size  int
		gcd   uint32
		mw    uint32
		isNil bool
	}{
		{"gcd 2", []int32{4, 2, 6}, 16, 2, 5, false},
		{"gcd 1", []int32{3, 1}, 16, 1, 3, false},
		{"weight 0 ignored by gcd", []int32{0, 4, 8}, 16, 4, 5, false},
		{"all weight 0", []int32{0, 0}, 16, 1, 0, false},
		{"does not fit the table", []int32{1, 1, 1}, 6, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := ListTable(dests(tc.ws...), tc.size)
			if tc.isNil {
				if tab != nil {
					t.Fatalf("got a table for %d reals in %d slots", len(tc.ws), tc.size)
				}
				return
			}
			if tab[0] != uint32(len(tc.ws)) || tab[1] == 0 || tab[2] != tc.gcd || tab[3] != tc.mw {
				t.Fatalf("header %v, want n %d, gcd %d, mw %d", tab[:4], len(tc.ws), tc.gcd, tc.mw)
			}
			for i := range tc.ws {
				if tab[listHdr+i] != uint32(i+1) {
					t.Fatalf("slot %d holds %d", i, tab[listHdr+i])
				}
			}
		})
	}
	a, b := ListTable(dests(1, 2), 16), ListTable(dests(1, 3), 16)
	if a[1] == b[1] {
		t.Fatal("a weight change keeps the table's version: rr/wrr positions would not restart")
	}
}

func mapsEqual(a, b map[uint32]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
