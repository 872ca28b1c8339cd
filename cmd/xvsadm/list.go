package main

import (
	"fmt"
	"io"

	"github.com/xvs-lb/xvs/maps"
)

// listAll is ipvsadm's list_all: every service with its reals, as a table
// or (fmtRule) as the rules -R reads.
func (s *session) listAll(format uint32) error {
	if _, err := s.open(); err != nil {
		return err
	}
	if s.o.format == formatJSON && format&fmtRule == 0 {
		return s.listAllJSON(format)
	}
	w := s.o.stdout
	if format&fmtRule == 0 {
		fmt.Fprintf(w, "IP Virtual Server version %s (size=%d)\n", ipvsVersion, ipvsTableSize)
	}
	cfg, err := s.load()
	if err != nil {
		return err
	}
	services := orderServices(cfg.Services, s.o.hashSalt, format&fmtNoSort == 0)
	printTitle(w, format)
	for _, e := range services {
		s.printServiceEntry(w, e, format)
	}
	return nil
}

// listService is ipvsadm's list_service: one service with its reals.
func (s *session) listService(svc *svcEntry, format uint32) error {
	cfg, err := s.load()
	if err != nil {
		return err
	}
	sv := svc.service()
	e := cfg.Service(&sv)
	if e == nil {
		return &exitError{code: 1, msg: ipvsStrerror(opGetService, maps.ErrNoService)}
	}
	if s.o.format == formatJSON {
		return s.writeJSON([]*maps.ServiceEntry{e}, format)
	}
	printTitle(s.o.stdout, format)
	s.printServiceEntry(s.o.stdout, e, format)
	return nil
}

// listTimeout is ipvsadm's list_timeout.
func (s *session) listTimeout() error {
	cfg, err := s.load()
	if err != nil {
		return err
	}
	t := cfg.Timeouts
	if s.o.format == formatJSON {
		return writeJSONValue(s.o.stdout, jsonTimeouts{TCP: t.TCP, TCPFin: t.TCPFin, UDP: t.UDP})
	}
	fmt.Fprintf(s.o.stdout, "Timeout (tcp tcpfin udp): %d %d %d\n", int32(t.TCP), int32(t.TCPFin), int32(t.UDP))
	return nil
}

// printTitle is ipvsadm's print_title.
func printTitle(w io.Writer, format uint32) {
	switch {
	case format&fmtStats != 0:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case format&fmtRate != 0:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case format&fmtThresholds != 0:
		fmt.Fprintf(w, "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case format&fmtPersistentConn != 0:
		fmt.Fprintf(w, "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
	case format&fmtTunInfo != 0:
		fmt.Fprint(w, "Prot LocalAddress:Port Scheduler Flags\n"+
			"  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n")
	case format&fmtRule == 0:
		fmt.Fprint(w, "Prot LocalAddress:Port Scheduler Flags\n"+
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
}

// serviceName is how ipvsadm names a service in a line: "TCP  addr:port"
// or "FWM  1" in tables, "-t addr:port" or "-f 1" in rules.
func (s *session) serviceName(e *maps.ServiceEntry, format uint32) string {
	af := afOf(e.Addr)
	if e.FwMark != 0 {
		mark := int32(e.FwMark)
		switch {
		case format&fmtRule != 0 && af == afInet6:
			return fmt.Sprintf("-f %d -6", mark)
		case format&fmtRule != 0:
			return fmt.Sprintf("-f %d", mark)
		case af == afInet6:
			return fmt.Sprintf("FWM  %d IPv6", mark)
		}
		return fmt.Sprintf("FWM  %d", mark)
	}
	vname := s.addrPortName(af, e.Addr, e.Port, e.Proto, format)
	if format&fmtRule != 0 {
		return protocolOption(e.Proto) + " " + vname
	}
	name := fmt.Sprintf("%-4s %s", protocolName(e.Proto), vname)
	if af != afInet6 {
		name = truncate(name, 33)
	}
	return name
}

// printServiceEntry is ipvsadm's print_service_entry: the service line and
// a line per real.
func (s *session) printServiceEntry(w io.Writer, e *maps.ServiceEntry, format uint32) {
	af := afOf(e.Addr)
	svcName := s.serviceName(e, format)
	persistent := e.Flags&svcPersistent != 0
	switch {
	case format&fmtRule != 0:
		fmt.Fprintf(w, "-A %s -s %s", svcName, e.Sched)
		if persistent {
			fmt.Fprintf(w, " -p %d", e.Timeout)
			if af == afInet && e.Netmask != 0xffffffff {
				fmt.Fprintf(w, " -M %s", inetNtoa(e.Netmask))
			}
			if af == afInet6 && e.Netmask != 128 {
				fmt.Fprintf(w, " -M %d", int32(e.Netmask))
			}
		}
		if e.PE != "" {
			fmt.Fprintf(w, " --pe %s", e.PE)
		}
		if e.Flags&svcOnePacket != 0 {
			fmt.Fprint(w, " -o")
		}
		if e.Flags&svcSchedMask != 0 {
			fmt.Fprintf(w, " -b %s", formatSchedFlags(e.Sched, e.Flags))
		}
	case format&(fmtStats|fmtRate) != 0:
		fmt.Fprintf(w, "%-33s", svcName)
		for _, v := range counters(&e.Stats, format) {
			printLargenum(w, v, format)
		}
	default:
		fmt.Fprintf(w, "%s %s", svcName, e.Sched)
		if e.Flags&svcSchedMask != 0 {
			fmt.Fprintf(w, " (%s)", formatSchedFlags(e.Sched, e.Flags))
		}
		if persistent {
			fmt.Fprintf(w, " persistent %d", e.Timeout)
			if af == afInet && e.Netmask != 0xffffffff {
				fmt.Fprintf(w, " mask %s", inetNtoa(e.Netmask))
			}
			if af == afInet6 && e.Netmask != 128 {
				fmt.Fprintf(w, " mask %d", int32(e.Netmask))
			}
			if e.PE != "" {
				fmt.Fprintf(w, " pe %s", e.PE)
			}
		}
		if e.Flags&svcOnePacket != 0 {
			fmt.Fprint(w, " ops")
		}
	}
	fmt.Fprint(w, "\n")
	for _, d := range orderDests(e.Dests, format&fmtNoSort == 0) {
		s.printDest(w, svcName, e, d, format)
	}
}

// counters are the five numbers of a --stats or --rate line. xvs keeps no
// rate estimates: rates are zero.
func counters(st *maps.Stats, format uint32) [5]uint64 {
	if format&fmtStats != 0 {
		return [5]uint64{st.Conns, st.InPkts, st.OutPkts, st.InBytes, st.OutBytes}
	}
	return [5]uint64{}
}

// printDest prints one real's line of printServiceEntry.
func (s *session) printDest(w io.Writer, svcName string, e *maps.ServiceEntry, d *maps.DestEntry, format uint32) {
	daf := afOf(d.Addr)
	dname := s.addrPortName(daf, d.Addr, d.Port, e.Proto, format)
	if format&fmtRule == 0 && daf != afInet6 {
		dname = truncate(dname, 28)
	}
	switch {
	case format&fmtRule != 0:
		rule := fmt.Sprintf("-a %s -r %s %s -w %d", svcName, dname, fwdSwitch(d.Fwd), d.Weight)
		if d.Fwd&fwdMask == fwdTunnel {
			switch d.TunType {
			case tunGRE:
				rule += fmt.Sprintf(" --tun-type %s %s", tunName(d.TunType), tunFlagOpt(d.TunFlags))
			case tunGUE:
				rule += fmt.Sprintf(" --tun-type %s --tun-port %d %s", tunName(d.TunType), d.TunPort, tunFlagOpt(d.TunFlags))
			case tunIPIP:
				rule += fmt.Sprintf(" --tun-type %s", tunName(d.TunType))
			}
		}
		fmt.Fprintln(w, rule)
	case format&fmtStats != 0:
		fmt.Fprintf(w, "  -> %-28s", dname)
		for _, v := range counters(&d.Stats, format) {
			printLargenum(w, v, format)
		}
		fmt.Fprint(w, "\n")
	case format&fmtRate != 0:
		r := counters(&d.Stats, format)
		fmt.Fprintf(w, "  -> %-28s %8d %8d %8d", dname, r[0], r[1], r[2])
		printLargenum(w, r[3], format)
		printLargenum(w, r[4], format)
		fmt.Fprint(w, "\n")
	case format&fmtThresholds != 0:
		fmt.Fprintf(w, "  -> %-28s %-10d %-10d %-10d %-10d\n", dname, d.UThresh, d.LThresh, d.ActiveConns, d.InactConns)
	case format&fmtPersistentConn != 0:
		fmt.Fprintf(w, "  -> %-28s %-9d %-11d %-10d %-10d\n", dname, uint32(d.Weight), d.PersistConns, d.ActiveConns, d.InactConns)
	case format&fmtTunInfo != 0:
		ti := fwdTunInfo(d.Fwd, d.TunType, d.TunPort, d.TunFlags)
		if ti == "" {
			ti = "n/a"
		}
		fmt.Fprintf(w, "  -> %-28s %-7s %-13s %-6d %-10d %-10d\n", dname, fwdName(d.Fwd), ti, d.Weight, d.ActiveConns, d.InactConns)
	default:
		fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", dname, fwdName(d.Fwd), d.Weight, d.ActiveConns, d.InactConns)
	}
}
