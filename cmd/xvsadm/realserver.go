package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/loader"
)

// realserverOptions are the flags of xvsadm realserver setup|check|teardown.
type realserverOptions struct {
	vips     []string // --vip, repeatable
	iface    string   // --iface: the interface facing the balancer
	decap    bool     // --decap: attach bpf/decap.c to iface (tunnel mode without ipip/gre modules)
	mode     string   // --mode of the decap attachment
	guePort  uint16   // --gue-port stripped by decap (the balancer's --tun-port)
	decapDir string   // --decap-state: where the decap link is pinned
	sysctl   string   // root of the sysctl tree (tests point it elsewhere)
}

// newRealserverCmd: xvsadm realserver setup|check|teardown: prepare a real
// server for direct routing (-g) or tunnel (-i) mode, the way the LVS
// documentation does by hand, and check the result.
func newRealserverCmd(o *rootOptions) *cobra.Command {
	ro := &realserverOptions{sysctl: "/proc/sys"}
	c := &cobra.Command{
		Use:   "realserver",
		Short: "Prepare this host as a real server for -g or -i (VIP on lo, ARP sysctls, rp_filter, decapsulation) and check it",
	}
	flags := func(cmd *cobra.Command, withDecap bool) {
		cmd.Flags().StringSliceVar(&ro.vips, "vip", nil, "virtual IP address the host serves (repeatable, IPv4 or IPv6)")
		cmd.Flags().StringVar(&ro.iface, "iface", "", "interface facing the balancer")
		cmd.Flags().BoolVar(&ro.decap, "decap", false, "attach the decapsulation XDP program to --iface (tunnel mode on a host without ipip/gre modules)")
		cmd.Flags().StringVar(&ro.decapDir, "decap-state", loader.DefaultDecapDir, "directory where the decapsulation link is pinned")
		if withDecap {
			cmd.Flags().StringVar(&ro.mode, "mode", string(loader.ModeAuto), "decap attach mode: auto (native, else generic), native or generic")
			cmd.Flags().Uint16Var(&ro.guePort, "gue-port", 0, "UDP port of GUE packets to decapsulate (the balancer's --tun-port); 0: none")
		}
		_ = cmd.MarkFlagRequired("iface")
	}
	setup := &cobra.Command{
		Use:   "setup",
		Short: "Add the VIPs to lo, set arp_ignore=1, arp_announce=2, rp_filter=0, attach decapsulation with --decap",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.setup(o.stdout); err != nil {
				return err
			}
			return ro.check(o.stdout)
		},
	}
	flags(setup, true)
	check := &cobra.Command{
		Use:   "check",
		Short: "Check that the host is set up as a real server (exit status 1 when not)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return ro.check(o.stdout) },
	}
	flags(check, false)
	teardown := &cobra.Command{
		Use:   "teardown",
		Short: "Remove the VIPs from lo and the decapsulation program (sysctls are left as they are)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return ro.teardown(o.stdout) },
	}
	flags(teardown, false)
	c.AddCommand(setup, check, teardown)
	return c
}

// sysctlWant is one setting a real server needs.
type sysctlWant struct{ key, value string }

// sysctls are the settings of a direct-routing or tunnel real server: the
// host must not answer ARP for the VIP it holds on lo (arp_ignore=1), nor
// use it as the source of its own ARP requests (arp_announce=2), and must
// take packets from clients the reverse path filter would refuse (a tunnel
// or a balancer in between): rp_filter 0, which the kernel takes as the
// maximum of "all" and the interface.
func (ro *realserverOptions) sysctls() []sysctlWant {
	var w []sysctlWant
	for _, dev := range []string{"all", ro.iface} {
		w = append(w,
			sysctlWant{"net.ipv4.conf." + dev + ".arp_ignore", "1"},
			sysctlWant{"net.ipv4.conf." + dev + ".arp_announce", "2"},
			sysctlWant{"net.ipv4.conf." + dev + ".rp_filter", "0"})
	}
	return append(w, sysctlWant{"net.ipv4.conf.lo.rp_filter", "0"})
}

func (ro *realserverOptions) sysctlPath(key string) string {
	return filepath.Join(ro.sysctl, strings.ReplaceAll(key, ".", "/"))
}

// vipPrefixes parses --vip into host prefixes (/32, /128).
func (ro *realserverOptions) vipPrefixes() ([]netip.Prefix, error) {
	if len(ro.vips) == 0 {
		return nil, errors.New("realserver: give at least one --vip")
	}
	var out []netip.Prefix
	for _, v := range ro.vips {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("realserver: --vip %q: %w", v, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func loAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

func (ro *realserverOptions) setup(w io.Writer) error {
	vips, err := ro.vipPrefixes()
	if err != nil {
		return err
	}
	if _, err := netlink.LinkByName(ro.iface); err != nil {
		return fmt.Errorf("realserver: %s: %w", ro.iface, err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("realserver: lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("realserver: set lo up: %w", err)
	}
	// The sysctls first: the VIP must never be announced on iface.
	for _, s := range ro.sysctls() {
		if err := os.WriteFile(ro.sysctlPath(s.key), []byte(s.value), 0o644); err != nil {
			return fmt.Errorf("realserver: set %s: %w", s.key, err)
		}
		fmt.Fprintf(w, "set   %s = %s\n", s.key, s.value)
	}
	for _, p := range vips {
		if err := netlink.AddrReplace(lo, loAddr(p)); err != nil {
			return fmt.Errorf("realserver: add %s to lo: %w", p, err)
		}
		fmt.Fprintf(w, "added %s to lo\n", p)
	}
	if ro.decap && !loader.DecapAttached(ro.iface, ro.decapDir) {
		lk, mode, err := loader.AttachDecap(ro.iface, loader.Mode(ro.mode), loader.DecapOptions{GUEPort: ro.guePort}, ro.decapDir)
		if err != nil {
			return fmt.Errorf("realserver: %w", err)
		}
		lk.Close() // pinned: stays attached
		fmt.Fprintf(w, "attached decapsulation to %s in %s mode (pinned in %s)\n", ro.iface, mode, ro.decapDir)
	}
	return nil
}

// check reports each requirement as "ok" or "FAIL" and returns an error
// when one is not met.
func (ro *realserverOptions) check(w io.Writer) error {
	vips, err := ro.vipPrefixes()
	if err != nil {
		return err
	}
	bad := 0
	report := func(ok bool, format string, args ...any) {
		word := "ok  "
		if !ok {
			word = "FAIL"
			bad++
		}
		fmt.Fprintf(w, "%s  %s\n", word, fmt.Sprintf(format, args...))
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("realserver: lo: %w", err)
	}
	have := map[netip.Prefix]bool{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		addrs, err := netlink.AddrList(lo, fam)
		if err != nil {
			return fmt.Errorf("realserver: list addresses of lo: %w", err)
		}
		for _, a := range addrs {
			ip, _ := netip.AddrFromSlice(a.IP)
			ones, _ := a.Mask.Size()
			have[netip.PrefixFrom(ip.Unmap(), ones)] = true
		}
	}
	for _, p := range vips {
		report(have[p], "%s on lo", p)
	}
	report(lo.Attrs().Flags&net.FlagUp != 0, "lo is up")
	for _, s := range ro.sysctls() {
		b, err := os.ReadFile(ro.sysctlPath(s.key))
		got := strings.TrimSpace(string(b))
		if err != nil {
			got = err.Error()
		}
		if got == s.value {
			report(true, "%s = %s", s.key, got)
		} else {
			report(false, "%s = %s (want %s)", s.key, got, s.value)
		}
	}
	if ro.decap {
		l, err := netlink.LinkByName(ro.iface)
		attached := err == nil && l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached
		report(loader.DecapAttached(ro.iface, ro.decapDir) && attached, "decapsulation program attached to %s (link pinned in %s)", ro.iface, ro.decapDir)
	}
	if bad > 0 {
		return fmt.Errorf("realserver check: %d of the requirements not met", bad)
	}
	return nil
}

func (ro *realserverOptions) teardown(w io.Writer) error {
	vips, err := ro.vipPrefixes()
	if err != nil {
		return err
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("realserver: lo: %w", err)
	}
	for _, p := range vips {
		if err := netlink.AddrDel(lo, loAddr(p)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("realserver: remove %s from lo: %w", p, err)
		}
		fmt.Fprintf(w, "removed %s from lo\n", p)
	}
	if ro.decap {
		if err := loader.DetachDecap(ro.iface, ro.decapDir); err != nil && !errors.Is(err, loader.ErrNotAttached) {
			return fmt.Errorf("realserver: %w", err)
		}
		fmt.Fprintf(w, "detached decapsulation from %s\n", ro.iface)
	}
	return nil
}
