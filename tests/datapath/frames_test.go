package datapath

import (
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// pkt describes a test frame.
type pkt struct {
	proto    string // "tcp" or "udp"
	src, dst string // "10.1.0.5:40000", "[fd01::5]:40000"
	flags    string // TCP flags: "S", "A", "SA", "F", "R"
	vlan     uint16 // 802.1Q VLAN id, 0 for none
	ext6     []layers.IPProtocol
	payload  []byte
}

func (p pkt) frame() []byte {
	src, dst := netip.MustParseAddrPort(p.src), netip.MustParseAddrPort(p.dst)
	eth := &layers.Ethernet{SrcMAC: peerMAC, DstMAC: lbMAC}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	var l3Type layers.EthernetType
	var netLayer gopacket.NetworkLayer
	var l3 []gopacket.SerializableLayer
	l4proto := layers.IPProtocolTCP
	if p.proto == "udp" {
		l4proto = layers.IPProtocolUDP
	}
	if src.Addr().Is4() {
		l3Type = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: l4proto, SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice()), Flags: layers.IPv4DontFragment}
		netLayer = ip
		l3 = append(l3, ip)
	} else {
		l3Type = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: l4proto, SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		netLayer = ip
		l3 = append(l3, ip)
		if len(p.ext6) > 0 {
			ip.NextHeader = p.ext6[0]
			for i, e := range p.ext6 {
				next := l4proto
				if i+1 < len(p.ext6) {
					next = p.ext6[i+1]
				}
				l3 = append(l3, extHeader(e, next))
			}
		}
	}
	if p.vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: p.vlan, Type: l3Type})
	} else {
		eth.EthernetType = l3Type
	}
	ls = append(ls, l3...)
	if p.proto == "udp" {
		u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		u.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, u)
	} else {
		t := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: 1000, Window: 65535}
		for _, c := range p.flags {
			switch c {
			case 'S':
				t.SYN = true
			case 'A':
				t.ACK = true
			case 'F':
				t.FIN = true
			case 'R':
				t.RST = true
			}
		}
		t.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, t)
	}
	ls = append(ls, gopacket.Payload(p.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// extHeader is an 8-byte IPv6 extension header of kind t (padding options only).
func extHeader(t, next layers.IPProtocol) gopacket.SerializableLayer {
	return rawExt{next: next}
}

type rawExt struct{ next layers.IPProtocol }

func (r rawExt) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	bytes, err := b.PrependBytes(8)
	if err != nil {
		return err
	}
	// next header, length 0 (8 bytes), then a PadN option filling 6 bytes.
	copy(bytes, []byte{byte(r.next), 0, 1, 4, 0, 0, 0, 0})
	return nil
}

func (r rawExt) LayerType() gopacket.LayerType { return gopacket.LayerTypePayload }

// withMACs returns frame with its destination and source MACs replaced.
func withMACs(frame []byte, dst, src net.HardwareAddr) []byte {
	out := append([]byte(nil), frame...)
	copy(out[0:6], dst)
	copy(out[6:12], src)
	return out
}
