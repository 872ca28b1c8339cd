package vm

import (
	"encoding/binary"
	"net"
	"net/netip"
)

const (
	ppsFrameLen = 60   // bpf/pktgen.c XVS_PKTGEN_LEN
	ppsMaxFlows = 1024 // bpf/pktgen.c XVS_PKTGEN_FLOWS
)

// ppsSource is the client of flow i: address 10.1.x.y (x = 1 + i/256,
// y = i%256) and port 1024 + i.
func ppsSource(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(1 + i/256), byte(i % 256)}), uint16(1024+i))
}

// ppsFrames returns n frames of ppsFrameLen bytes, one per flow, from
// ppsSource(i) to vip over proto (6 TCP: an ACK, mid-flow; 17 UDP), with
// valid IPv4 and L4 checksums.
func ppsFrames(n int, proto uint8, src, dst net.HardwareAddr, vip netip.AddrPort) [][]byte {
	out := make([][]byte, n)
	for i := range n {
		out[i] = ppsFrame(proto, src, dst, ppsSource(i), vip)
	}
	return out
}

func ppsFrame(proto uint8, srcMAC, dstMAC net.HardwareAddr, from, to netip.AddrPort) []byte {
	f := make([]byte, ppsFrameLen)
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800) // IPv4
	ip := f[14:34]
	ip[0] = 0x45                                               // version 4, IHL 5
	binary.BigEndian.PutUint16(ip[2:], uint16(ppsFrameLen-14)) // total length
	binary.BigEndian.PutUint16(ip[6:], 0x4000)                 // DF
	ip[8] = 64                                                 // TTL
	ip[9] = proto
	s4, d4 := from.Addr().As4(), to.Addr().As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], ^ppsSum(0, ip))
	l4 := f[34:]
	binary.BigEndian.PutUint16(l4[0:], from.Port())
	binary.BigEndian.PutUint16(l4[2:], to.Port())
	csumAt := 6
	if proto == 6 {
		binary.BigEndian.PutUint32(l4[4:], 1000)  // sequence
		binary.BigEndian.PutUint32(l4[8:], 2000)  // acknowledgment
		l4[12] = 5 << 4                           // data offset: 20 bytes
		l4[13] = 0x10                             // ACK
		binary.BigEndian.PutUint16(l4[14:], 8192) // window
		csumAt = 16
	} else {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4))) // UDP length
	}
	// Pseudo header: addresses, protocol, L4 length.
	var ph [12]byte
	copy(ph[0:4], s4[:])
	copy(ph[4:8], d4[:])
	ph[9] = proto
	binary.BigEndian.PutUint16(ph[10:], uint16(len(l4)))
	c := ^ppsSum(ppsSum(0, ph[:]), l4)
	if c == 0 && proto == 17 {
		c = 0xffff // 0 means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(l4[csumAt:], c)
	return f
}

// ppsSum is the ones' complement sum of b (even length) added to s.
func ppsSum(s uint16, b []byte) uint16 {
	sum := uint32(s)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}
