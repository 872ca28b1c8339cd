package topo_test

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/xvs-lb/xvs/tests/topo"
)

// drToReal returns an XDP program that sends every IPv4 frame for
// topo.VIP4 back out with XDP_TX to the MAC to, from the MAC from: the
// least a direct-routing balancer does. Other frames pass.
func drToReal(t *testing.T, to, from net.HardwareAddr) *ebpf.Program {
	t.Helper()
	vip := binary.LittleEndian.Uint32(topo.VIP4.AsSlice()) // as a native load sees it
	ins := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+20),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half), // EtherType
		asm.JNE.Imm(asm.R5, 0x0008, "pass"),       // ETH_P_IP, network order
		asm.LoadMem(asm.R5, asm.R2, 14+16, asm.Word),
		asm.JNE.Imm32(asm.R5, int32(vip), "pass"), // IPv4 destination
	}
	for i := range 6 {
		ins = append(ins,
			asm.StoreImm(asm.R2, int16(i), int64(to[i]), asm.Byte),
			asm.StoreImm(asm.R2, int16(6+i), int64(from[i]), asm.Byte))
	}
	ins = append(ins,
		asm.Mov.Imm(asm.R0, 3), // XDP_TX
		asm.Return(),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("pass"), // XDP_PASS
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL", Instructions: ins})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func ifaceMAC(t *testing.T, n *topo.Netns) net.HardwareAddr {
	t.Helper()
	l, err := n.Netlink().LinkByName(topo.Iface)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().HardwareAddr
}

// TestXDPTXThroughTopology checks that the topology carries frames a
// balancer sends with XDP_TX, in native and generic mode, independently
// of xvs: a minimal program on the balancer rewrites the destination MAC
// to r2's while the kernel route points at r1; every request must be
// answered by r2. In native mode this depends on the XDP_PASS program on
// the bridge side of the balancer's veth and on the client's TX checksum
// offload being off (without either, requests time out here).
func TestXDPTXThroughTopology(t *testing.T) {
	topo.Require(t)
	for _, mode := range []struct {
		name  string
		flags int
		want  topo.XDPMode
	}{
		{"native", nl.XDP_FLAGS_DRV_MODE, topo.XDPNative},
		{"generic", nl.XDP_FLAGS_SKB_MODE, topo.XDPGeneric},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := topo.NewDR(t, topo.DROptions{Sources: 16})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.ResolveReals(ctx); err != nil {
				t.Fatal(err)
			}
			if err := d.RouteVIPVia(d.Real("r1")); err != nil {
				t.Fatal(err)
			}
			prog := drToReal(t, ifaceMAC(t, d.Real("r2").NS), ifaceMAC(t, d.LB.NS))
			defer prog.Close()
			if err := d.LB.NS.Do(func() error {
				l, err := netlink.LinkByName(topo.Iface)
				if err != nil {
					return err
				}
				return netlink.LinkSetXdpFdWithFlags(l, prog.FD(), mode.flags)
			}); err != nil {
				t.Fatal(err)
			}
			if m, _, err := topo.XDPAttached(d.LB.NS, topo.Iface); err != nil || m != mode.want {
				t.Fatalf("lb: XDP %v (%v), want %v", m, err, mode.want)
			}
			res := topo.Burst(ctx, d.Client.NS, d.Sources4, netip.AddrPortFrom(topo.VIP4, 80), topo.BurstOptions{Timeout: 2 * time.Second})
			for _, r := range res {
				if r.Err != nil || r.Real != "r2" {
					t.Errorf("from %s: answered by %q (%v), want r2", r.Src, r.Real, r.Err)
				}
			}
		})
	}
}
