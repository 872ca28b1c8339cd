package main

import (
	"github.com/xvs-lb/xvs/maps"
)

// processOptions is ipvsadm's process_options: parse one command line,
// check it, and carry it out. A nil error is exit status 0.
func (s *session) processOptions(argv []string, readingStdin bool) error {
	ce := newCommandEntry()
	if err := parseOptions(argv, ce, s.o.names); err != nil {
		return err
	}
	if err := genericOptCheck(ce.cmd, ce.options); err != nil {
		return err
	}
	if err := ce.checkCommand(); err != nil {
		return err
	}
	if s.pending != nil && !changesConfig(ce.cmd) {
		return failf(2, "the '%s' command is not allowed in an atomic restore", cmdNames[ce.cmd-1])
	}
	if !changesConfig(ce.cmd) {
		if err := s.flush(); err != nil {
			return err
		}
	}
	svc := ce.svc.service()
	switch ce.cmd {
	case cmdList:
		return s.list(ce)
	case cmdRestore:
		return s.restore(argv[0], readingStdin)
	case cmdSave:
		return s.listAll(ce.format | fmtRule)
	case cmdFlush:
		return s.change(opOther, func(cfg *maps.Config) error { cfg.Clear(); return nil })
	case cmdAdd:
		return s.change(opAddService, func(cfg *maps.Config) error { return addService(cfg, svc) })
	case cmdEdit:
		return s.change(opEditService, func(cfg *maps.Config) error { return editService(cfg, svc) })
	case cmdDel:
		return s.change(opDelService, func(cfg *maps.Config) error { return cfg.DelService(&svc) })
	case cmdZero:
		return s.zero(ce)
	case cmdAddDest:
		return s.change(opAddDest, func(cfg *maps.Config) error { return addDest(cfg, svc, ce.dest.dest()) })
	case cmdEditDest:
		return s.change(opEditDest, func(cfg *maps.Config) error { return editDest(cfg, svc, ce.dest.dest()) })
	case cmdDelDest:
		d := ce.dest.dest()
		return s.change(opDelDest, func(cfg *maps.Config) error { return cfg.DelDest(&svc, &d) })
	case cmdTimeout:
		return s.change(opSetTimeout, func(cfg *maps.Config) error { setTimeouts(cfg, ce.timeouts); return nil })
	case cmdStartDaemon:
		return s.startDaemon(ce.daemon)
	case cmdStopDaemon:
		return s.stopDaemon(ce.daemon)
	}
	return nil
}

// changesConfig reports whether cmd changes the configuration (and so may
// be part of an atomic restore).
func changesConfig(cmd int) bool {
	switch cmd {
	case cmdAdd, cmdEdit, cmdDel, cmdFlush, cmdAddDest, cmdEditDest, cmdDelDest, cmdTimeout:
		return true
	}
	return false
}

// checkCommand is ipvsadm's checks of a parsed command and its defaults:
// a port or persistence for services, ops only for UDP, the default
// scheduler and multicast interface, real ports following the service's for
// tunnelling and direct routing, and the tunnel options.
func (ce *commandEntry) checkCommand() error {
	if ce.cmd == cmdAdd || ce.cmd == cmdEdit {
		if ce.svc.fwmark == 0 && ce.svc.port == 0 && ce.svc.flags&svcPersistent == 0 {
			return failf(2, "Zero port specified for non-persistent service")
		}
		if ce.svc.flags&svcOnePacket != 0 && ce.svc.fwmark == 0 && ce.svc.proto != protoUDP {
			return failf(2, "One-Packet Scheduling is only for UDP virtual services")
		}
		if ce.svc.sched == "" {
			ce.svc.sched = defaultSched
		}
	}
	if ce.cmd == cmdStartDaemon && ce.daemon.mcastIfn == "" {
		ce.daemon.mcastIfn = defaultMcastIfn
	}
	if ce.cmd != cmdAddDest && ce.cmd != cmdEditDest {
		return nil
	}
	fwd := ce.dest.connFlags & fwdMask
	if ce.svc.fwmark == 0 && (fwd == fwdTunnel || fwd == fwdDRoute) {
		ce.dest.port = ce.svc.port
	}
	if ce.dest.af != ce.svc.af && fwd != fwdTunnel {
		return failf(2, "Different address family is allowed only for tunneling servers")
	}
	tunOpts := ce.has(optTunType) || ce.has(optTunPort) || ce.has(optTunNoCsum) || ce.has(optTunCsum) || ce.has(optTunRemCsum)
	if tunOpts && fwd != fwdTunnel {
		return failf(2, "Tunnel options conflict with forward method")
	}
	return tunnelOptCheck(ce.dest.tunType, ce.options)
}

// zero is ipvsadm -Z: the counters of one service, or of all.
func (s *session) zero(ce *commandEntry) error {
	st, err := s.open()
	if err != nil {
		return err
	}
	var svc *maps.Service
	if ce.svc.fwmark != 0 || (ce.svc.addr.IsValid() && !ce.svc.addr.IsUnspecified()) || ce.svc.port != 0 {
		sv := ce.svc.service()
		cfg, err := st.Load()
		if err != nil {
			return &opError{msg: "load configuration: " + err.Error()}
		}
		if cfg.Service(&sv) == nil {
			return &opError{msg: ipvsStrerror(opZeroService, maps.ErrNoService)}
		}
		svc = &sv
	}
	s.cur = nil // the counters change under it
	if err := st.ZeroStats(svc); err != nil {
		return &opError{msg: ipvsStrerror(opZeroService, err)}
	}
	return nil
}

// list is ipvsadm -L: connections, one service, timeouts, daemons or all.
func (s *session) list(ce *commandEntry) error {
	o := ce.options
	const connTimeoutDaemon = 1<<optConnection | 1<<optTimeout | 1<<optDaemon
	const counters = 1<<optStats | 1<<optRate | 1<<optThresholds
	if (o&connTimeoutDaemon != 0 && o&counters != 0) ||
		(o&(1<<optTimeout|1<<optDaemon) != 0 && o&(1<<optPersistentConn) != 0) {
		return failf(2, "options conflicts in the list command")
	}
	switch {
	case ce.has(optConnection):
		return s.listConns(ce.format)
	case ce.has(optService):
		return s.listService(&ce.svc, ce.format)
	case ce.has(optTimeout):
		return s.listTimeout()
	case ce.has(optDaemon):
		return s.listDaemons()
	}
	return s.listAll(ce.format)
}
