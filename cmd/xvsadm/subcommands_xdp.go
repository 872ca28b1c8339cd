package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/maps"
)

// withState runs f on the opened, locked state directory.
func withState(o *rootOptions, f func(*loader.State) error) error {
	st, err := loader.Open(o.stateDir, loader.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	return f(st)
}

// newAttachCmd: xvsadm attach IFACE [--mode auto|native|generic] [--fallback generic|ipvs].
func newAttachCmd(o *rootOptions) *cobra.Command {
	var mode, fallback string
	c := &cobra.Command{
		Use:   "attach IFACE",
		Short: "Attach the XDP balancer to an interface (stays attached after xvsadm exits)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withState(o, func(st *loader.State) error {
				used, err := st.AttachFallback(args[0], loader.Mode(mode), loader.Mode(fallback))
				if err != nil {
					return err
				}
				if used == loader.ModeIPVS {
					fmt.Fprintf(o.stdout, "native XDP failed on %s: kernel IPVS alone serves it (nothing attached)\n", args[0])
					return nil
				}
				fmt.Fprintf(o.stdout, "attached to %s in %s mode (IPv4/IPv6 forwarding enabled on %s)\n", args[0], used, args[0])
				return nil
			})
		},
	}
	c.Flags().StringVar(&mode, "mode", string(loader.ModeAuto), "auto (native, else the fallback), native or generic")
	c.Flags().StringVar(&fallback, "fallback", string(loader.ModeGeneric), "with --mode auto, when native XDP fails: generic (generic XDP) or ipvs (kernel IPVS alone, nothing attached)")
	return c
}

// newDetachCmd: xvsadm detach IFACE.
func newDetachCmd(o *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "detach IFACE",
		Short: "Detach the XDP balancer from an interface",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withState(o, func(st *loader.State) error {
				if err := st.Detach(args[0]); err != nil {
					return err
				}
				fmt.Fprintf(o.stdout, "detached from %s\n", args[0])
				return nil
			})
		},
	}
}

// statusReport is what xvsadm status shows.
type statusReport struct {
	*loader.Status
	Serving        []string        `json:"serving"`
	KernelIPVS     string          `json:"kernel_ipvs"`
	Drift          []string        `json:"kernel_ipvs_drift"`
	Services       int             `json:"services"`
	Reals          int             `json:"reals"`
	PassedToKernel []passedService `json:"passed_to_kernel"`
}

// passedService is a service whose packets the datapath passes to the kernel.
type passedService struct {
	Service string `json:"service"`
	Why     string `json:"why"`
}

// newStatusCmd: xvsadm status.
func newStatusCmd(o *rootOptions) *cobra.Command {
	var noCount bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show where the balancer is attached, its program, maps and counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withState(o, func(st *loader.State) error { return runStatus(o, st, noCount) })
		},
	}
	c.Flags().BoolVar(&noCount, "no-count", false, "do not count the maps' entries (fast where syscalls are slow)")
	return c
}

// runStatus prints the state directory's status, as text or JSON.
func runStatus(o *rootOptions, st *loader.State, noCount bool) error {
	status := st.Status
	if noCount {
		status = st.StatusNoCount
	}
	s, err := status()
	if err != nil {
		return err
	}
	cfg, err := maps.NewBPFStore(loader.StoreMaps(st.Objs)).Load()
	if err != nil {
		return err
	}
	r := statusReport{Status: s}
	r.KernelIPVS, r.Drift = kernelIPVSReport(cfg)
	r.Serving = serving(s.Attached, !strings.HasPrefix(r.KernelIPVS, "present"))
	for _, e := range cfg.Services {
		r.Services++
		r.Reals += len(e.Dests)
		if why := unsupported(e); why != "" {
			r.PassedToKernel = append(r.PassedToKernel, passedService{serviceName(e), why})
		}
	}
	if o.format == "json" {
		enc := json.NewEncoder(o.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printStatus(o, &r)
	return nil
}

func printStatus(o *rootOptions, r *statusReport) {
	w := o.stdout
	fmt.Fprintf(w, "state:      %s\n", r.StateDir)
	fmt.Fprintf(w, "program:    %s (id %d): %s\n", r.ProgName, r.ProgID, buildNote(r.Build))
	if len(r.Attached) == 0 {
		fmt.Fprintf(w, "attached:   none\n")
	}
	for _, a := range r.Attached {
		if a.Mode == loader.ModeIPVS {
			continue // shown under serving
		}
		fmt.Fprintf(w, "attached:   %s (ifindex %d) %s mode, link id %d, program id %d\n", a.Iface, a.Ifindex, a.Mode, a.LinkID, a.ProgID)
	}
	for _, sv := range r.Serving {
		fmt.Fprintf(w, "serving:    %s\n", sv)
	}
	fmt.Fprintf(w, "kernel IPVS: %s\n", r.KernelIPVS)
	for _, d := range r.Drift {
		fmt.Fprintf(w, "  drift: %s\n", d)
	}
	fmt.Fprintf(w, "services:   %d with %d real servers; mh table size %d\n", r.Services, r.Reals, r.MhTableSize)
	for _, p := range r.PassedToKernel {
		fmt.Fprintf(w, "  passed to the kernel: %s (%s)\n", p.Service, p.Why)
	}
	ct := r.ConnTable
	fmt.Fprintf(w, "connections: %d of %d table entries at the last expiry sweep; %d expired in %d sweeps\n", ct.Entries, ct.Capacity, ct.Expired, ct.Sweeps)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "map\tid\ttype\tentries\tmax\n")
	for _, m := range r.Maps {
		n := "-"
		if m.Entries >= 0 {
			n = fmt.Sprint(m.Entries)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\n", m.Name, m.ID, m.Type, n, m.MaxEntries)
	}
	tw.Flush()
	fmt.Fprintf(w, "packets by verdict:")
	for _, name := range bpf.VerdictNames {
		fmt.Fprintf(w, " %s=%d", name, r.Verdicts[name])
	}
	fmt.Fprintln(w)
}

// serving says what serves the VIPs' traffic: XDP per attached interface,
// kernel IPVS alone where attach --fallback ipvs left an interface, or
// kernel IPVS (or nothing) when no XDP is attached.
func serving(att []loader.Attachment, noIPVS bool) []string {
	var out []string
	for _, a := range att {
		switch {
		case a.Mode == loader.ModeIPVS && noIPVS:
			out = append(out, fmt.Sprintf("nothing on %s: native XDP failed, fallback kernel IPVS is absent", a.Iface))
		case a.Mode == loader.ModeIPVS:
			out = append(out, fmt.Sprintf("kernel IPVS alone on %s (native XDP failed; attach --fallback ipvs)", a.Iface))
		case noIPVS:
			out = append(out, fmt.Sprintf("XDP (%s) on %s", a.Mode, a.Iface))
		default:
			out = append(out, fmt.Sprintf("XDP (%s) on %s; kernel IPVS takes what it passes", a.Mode, a.Iface))
		}
	}
	if len(out) == 0 {
		if noIPVS {
			return []string{"nothing: no XDP attached and no kernel IPVS"}
		}
		return []string{"kernel IPVS alone: no XDP attached"}
	}
	return out
}

// unsupported says why the datapath passes a service's packets to the kernel, or "".
func unsupported(e *maps.ServiceEntry) string {
	switch {
	case e.FwMark != 0:
		return "fwmark services are matched by the kernel"
	case e.Proto != 6 && e.Proto != 17:
		return "protocol not in the datapath"
	case !slices.Contains(maps.DatapathScheds, e.Sched):
		return "scheduler " + e.Sched + " not in the datapath"
	case e.Sched != "mh" && e.Sched != "sh" && e.Sched != "dh" && len(e.Dests) > maps.SchedMaxReals:
		return fmt.Sprintf("more than %d reals with scheduler %s", maps.SchedMaxReals, e.Sched)
	case e.Port == 0 && e.Flags&bpf.SvcPersistent == 0:
		return "port 0 without persistence: IPVS matches it but never schedules"
	}
	for _, d := range e.Dests {
		switch {
		case d.Fwd == bpf.FwdDRoute, d.Fwd == bpf.FwdMasq, d.Fwd == bpf.FwdTunnel:
		default:
			return "forwarding methods other than -g, -i and -m not in the datapath"
		}
	}
	return ""
}

func serviceName(e *maps.ServiceEntry) string {
	if e.FwMark != 0 {
		return fmt.Sprintf("FWM %d", e.FwMark)
	}
	p := map[uint8]string{6: "TCP", 17: "UDP", 132: "SCTP"}[e.Proto]
	return fmt.Sprintf("%s %s", p, netip.AddrPortFrom(e.Addr, e.Port))
}
