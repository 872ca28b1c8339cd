package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
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

// newAttachCmd: xvsadm attach IFACE [--mode auto|native|generic].
func newAttachCmd(o *rootOptions) *cobra.Command {
	var mode string
	c := &cobra.Command{
		Use:   "attach IFACE",
		Short: "Attach the XDP balancer to an interface (stays attached after xvsadm exits)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withState(o, func(st *loader.State) error {
				used, err := st.Attach(args[0], loader.Mode(mode))
				if err != nil {
					return err
				}
				fmt.Fprintf(o.stdout, "attached to %s in %s mode (IPv4/IPv6 forwarding enabled on %s)\n", args[0], used, args[0])
				return nil
			})
		},
	}
	c.Flags().StringVar(&mode, "mode", string(loader.ModeAuto), "auto (native, else generic), native or generic")
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
	return &cobra.Command{
		Use:   "status",
		Short: "Show where the balancer is attached, its program, maps and counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withState(o, func(st *loader.State) error { return runStatus(o, st) })
		},
	}
}

// runStatus prints the state directory's status, as text or JSON.
func runStatus(o *rootOptions, st *loader.State) error {
	s, err := st.Status()
	if err != nil {
		return err
	}
	cfg, err := maps.NewBPFStore(loader.StoreMaps(st.Objs)).Load()
	if err != nil {
		return err
	}
	r := statusReport{Status: s}
	r.KernelIPVS, r.Drift = kernelIPVSReport(cfg)
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
	fmt.Fprintf(w, "program:    %s (id %d)\n", r.ProgName, r.ProgID)
	if len(r.Attached) == 0 {
		fmt.Fprintf(w, "attached:   none\n")
	}
	for _, a := range r.Attached {
		fmt.Fprintf(w, "attached:   %s (ifindex %d) %s mode, link id %d, program id %d\n", a.Iface, a.Ifindex, a.Mode, a.LinkID, a.ProgID)
	}
	fmt.Fprintf(w, "kernel IPVS: %s\n", r.KernelIPVS)
	for _, d := range r.Drift {
		fmt.Fprintf(w, "  drift: %s\n", d)
	}
	fmt.Fprintf(w, "services:   %d with %d real servers; mh table size %d\n", r.Services, r.Reals, r.MhTableSize)
	for _, p := range r.PassedToKernel {
		fmt.Fprintf(w, "  passed to the kernel: %s (%s)\n", p.Service, p.Why)
	}
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

// unsupported says why the datapath passes a service's packets to the kernel, or "".
func unsupported(e *maps.ServiceEntry) string {
	switch {
	case e.FwMark != 0:
		return "fwmark services are matched by the kernel"
	case e.Proto != 6 && e.Proto != 17:
		return "protocol not in the datapath"
	case !slices.Contains(maps.DatapathScheds, e.Sched):
		return "scheduler " + e.Sched + " not in the datapath yet"
	case e.Sched != "mh" && e.Sched != "sh" && e.Sched != "dh" && len(e.Dests) > maps.SchedMaxReals:
		return fmt.Sprintf("more than %d reals with scheduler %s", maps.SchedMaxReals, e.Sched)
	case e.Flags&bpf.SvcPersistent != 0 && e.Port == 0:
		return "port-0 persistent services not in the datapath yet"
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
