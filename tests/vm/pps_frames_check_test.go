package vm

import (
	"net"
	"net/netip"
	"testing"
)

// TestPPSFrames checks the generator's frames: size, addresses, and IPv4
// and L4 checksums that verify (a ones' complement sum of 0xffff).
func TestPPSFrames(t *testing.T) {
	src := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	dst := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	vip := netip.MustParseAddrPort("10.3.0.1:5000")
	for _, tc := range []struct {
		name  string
		proto uint8
	}{{"UDP", 17}, {"TCP", 6}} {
		t.Run(tc.name, func(t *testing.T) {
			frames := ppsFrames(256, tc.proto, src, dst, vip)
			seen := map[netip.AddrPort]bool{}
			for i, f := range frames {
				if len(f) != ppsFrameLen {
					t.Fatalf("frame %d: %d bytes", i, len(f))
				}
				ip, l4 := f[14:34], f[34:]
				if s := ppsSum(0, ip); s != 0xffff {
					t.Errorf("frame %d: IPv4 header sums to %#x", i, s)
				}
				var ph [12]byte
				copy(ph[0:8], ip[12:20])
				ph[9] = tc.proto
				ph[11] = byte(len(l4))
				if s := ppsSum(ppsSum(0, ph[:]), l4); s != 0xffff {
					t.Errorf("frame %d: %s checksum does not verify (%#x)", i, tc.name, s)
				}
				s, _ := netip.AddrFromSlice(ip[12:16])
				from := netip.AddrPortFrom(s, uint16(l4[0])<<8|uint16(l4[1]))
				if from != ppsSource(i) || seen[from] {
					t.Errorf("frame %d: from %s, want %s once", i, from, ppsSource(i))
				}
				seen[from] = true
			}
		})
	}
}
