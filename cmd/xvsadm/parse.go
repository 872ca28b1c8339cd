package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// truncate cuts s to at most n bytes, as strncpy into a fixed buffer does.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// protocolOf is the protocol a service option names.
func protocolOf(opt int) uint8 {
	switch opt {
	case 't':
		return protoTCP
	case 'u':
		return protoUDP
	case tagSCTPService:
		return protoSCTP
	}
	return 0
}

// parseOptions is ipvsadm's parse_options: the command option first, then
// the others in any order, then the leftover arguments (--set's three).
// Errors are exitError (ipvsadm exits) or opError (popt failed after the
// command option: ipvsadm returns -1).
func parseOptions(argv []string, ce *commandEntry, ns nameService) error {
	prog := argv[0]
	con := newPopt(argv, ipvsadmOptions)
	c, optarg := con.nextOpt()
	if c < 0 {
		return tryHelp(prog)
	}
	var err error
	switch c {
	case 'A':
		err = ce.setCommand(cmdAdd)
	case 'E':
		err = ce.setCommand(cmdEdit)
	case 'D':
		err = ce.setCommand(cmdDel)
	case 'a':
		err = ce.setCommand(cmdAddDest)
	case 'e':
		err = ce.setCommand(cmdEditDest)
	case 'd':
		err = ce.setCommand(cmdDelDest)
	case 'C':
		err = ce.setCommand(cmdFlush)
	case 'L', 'l':
		err = ce.setCommand(cmdList)
	case 'Z':
		err = ce.setCommand(cmdZero)
	case tagSet:
		err = ce.setCommand(cmdTimeout)
	case 'R':
		err = ce.setCommand(cmdRestore)
	case 'S':
		err = ce.setCommand(cmdSave)
	case tagStartDaemon, tagStopDaemon:
		cmd, msg := cmdStartDaemon, "illegal start-daemon parameter specified"
		if c == tagStopDaemon {
			cmd, msg = cmdStopDaemon, "illegal start_daemon specified"
		}
		err = ce.setCommand(cmd)
		switch *optarg {
		case "master":
			ce.daemon.state = stateMaster
		case "backup":
			ce.daemon.state = stateBackup
		default:
			return failf(2, "%s", msg)
		}
	case 'h':
		return &exitError{out: usage(prog)}
	case 'v':
		return &exitError{out: version()}
	default:
		return tryHelp(prog)
	}
	if err != nil {
		return err
	}

	schedFlags := ""
	for {
		if c, optarg = con.nextOpt(); c < 0 {
			break
		}
		err := parseOption(c, optarg, ce, &schedFlags, ns)
		if err == errInvalidOption {
			return failf(2, "invalid option `%s'", con.badOption())
		}
		if err != nil {
			return err
		}
	}
	if c < -1 {
		return &opError{msg: fmt.Sprintf("%s: %s", con.badOption(), poptStrerror(c))}
	}

	if ce.cmd == cmdTimeout {
		a0, ok0 := con.arg()
		a1, ok1 := con.arg()
		a2, ok2 := con.arg()
		if !ok0 || !ok1 || !ok2 {
			return failf(2, "--set option requires 3 timeout values")
		}
		for i, a := range []string{a0, a1, a2} {
			t, err := parseTimeout(&a, 0, maxTimeout)
			if err != nil {
				return err
			}
			ce.timeouts[i] = int64(t)
		}
	}
	if a, ok := con.arg(); ok {
		return failf(2, "unexpected argument %s", a)
	}
	if schedFlags != "" {
		f, err := parseSchedFlags(ce.svc.sched, schedFlags)
		if err != nil {
			return err
		}
		ce.svc.flags = ce.svc.flags&^svcSchedMask | f
	}
	return nil
}

// errInvalidOption marks an option that has no place after the command
// option (another command option).
var errInvalidOption = errors.New("invalid option")

// parseOption handles one option after the command option.
func parseOption(c int, optarg *string, ce *commandEntry, schedFlags *string, ns nameService) error {
	arg := ""
	if optarg != nil {
		arg = *optarg
	}
	switch c {
	case 't', 'u', tagSCTPService:
		if err := ce.setOption(optService); err != nil {
			return err
		}
		ce.svc.proto = protocolOf(c)
		if parseService(arg, &ce.svc, ns)&serviceAddr == 0 {
			return failf(2, "illegal virtual server address[:port] specified")
		}
	case 'f':
		if err := ce.setOption(optService); err != nil {
			return err
		}
		// ipvsadm sets a sane protocol though fwmark services do not use it.
		ce.svc.af, ce.svc.proto = afInet, protoTCP
		m, err := parseFwmark(arg)
		if err != nil {
			return err
		}
		ce.svc.fwmark = m
	case 's':
		if err := ce.setOption(optScheduler); err != nil {
			return err
		}
		ce.svc.sched = truncate(arg, schedNameMax-1)
	case 'p':
		if err := ce.setOption(optPersistent); err != nil {
			return err
		}
		ce.svc.flags |= svcPersistent
		t, err := parseTimeout(optarg, 1, maxTimeout)
		if err != nil {
			return err
		}
		ce.svc.timeout = t
	case 'M':
		if err := ce.setOption(optNetmask); err != nil {
			return err
		}
		if ce.svc.af != afInet6 {
			m, ok := parseNetmask(arg, ns)
			if !ok {
				return failf(2, "illegal virtual server persistent mask specified")
			}
			ce.svc.netmask = m
		} else {
			m := uint32(atoi(arg))
			if m < 1 || m > 128 {
				return failf(2, "illegal ipv6 netmask specified")
			}
			ce.svc.netmask = m
		}
	case 'r':
		if err := ce.setOption(optServer); err != nil {
			return err
		}
		t := ce.svc
		parse := parseService(arg, &t, ns)
		ce.dest.af, ce.dest.addr, ce.dest.port = t.af, t.addr, t.port
		if parse&serviceAddr == 0 {
			return failf(2, "illegal real server address[:port] specified")
		}
		if parse == serviceAddr {
			ce.dest.port = ce.svc.port
		}
	case 'i', 'g', 'm':
		if err := ce.setOption(optForward); err != nil {
			return err
		}
		ce.dest.connFlags = map[int]uint32{'i': fwdTunnel, 'g': fwdDRoute, 'm': fwdMasq}[c]
	case 'w':
		if err := ce.setOption(optWeight); err != nil {
			return err
		}
		// The reference ipvsadm takes any weight the kernel does (0..INT_MAX).
		if ce.dest.weight = stringToNumber(arg, 0, intMax); ce.dest.weight == -1 {
			return failf(2, "illegal weight specified")
		}
	case 'x', 'y':
		opt, name := optUThreshold, "u_threshold"
		if c == 'y' {
			opt, name = optLThreshold, "l_threshold"
		}
		if err := ce.setOption(opt); err != nil {
			return err
		}
		v := stringToNumber(arg, 0, intMax)
		if v == -1 {
			return failf(2, "illegal %s specified", name)
		}
		if c == 'x' {
			ce.dest.uthresh = uint32(v)
		} else {
			ce.dest.lthresh = uint32(v)
		}
	case 'c':
		return ce.setOption(optConnection)
	case 'n':
		ce.format |= fmtNumeric
		return ce.setOption(optNumeric)
	case tagMcastInterface:
		if err := ce.setOption(optMcast); err != nil {
			return err
		}
		ce.daemon.mcastIfn = truncate(arg, ifNameMax-1)
	case 'I':
		if err := ce.setOption(optSyncID); err != nil {
			return err
		}
		v := stringToNumber(arg, 0, 255)
		if v == -1 {
			return failf(2, "illegal syncid specified")
		}
		ce.daemon.syncID = int(v)
	case tagTimeout:
		return ce.setOption(optTimeout)
	case tagDaemon:
		return ce.setOption(optDaemon)
	case tagStats, tagRate, tagThresholds, tagPersistentConn, tagNoSort, 'X', tagTunInfo:
		f := map[int]struct {
			opt int
			fmt uint32
		}{
			tagStats: {optStats, fmtStats}, tagRate: {optRate, fmtRate},
			tagThresholds: {optThresholds, fmtThresholds}, tagPersistentConn: {optPersistentConn, fmtPersistentConn},
			tagNoSort: {optNoSort, fmtNoSort}, 'X': {optExact, fmtExact}, tagTunInfo: {optTunInfo, fmtTunInfo},
		}[c]
		ce.format |= f.fmt
		return ce.setOption(f.opt)
	case tagSort:
		// Sorting is the default: a no-op kept for compatibility.
	case '6':
		if ce.svc.fwmark == 0 {
			return failf(2, "-6 used before -f\n")
		}
		ce.svc.af, ce.svc.netmask = afInet6, 128
	case 'o':
		if err := ce.setOption(optOnePacket); err != nil {
			return err
		}
		ce.svc.flags |= svcOnePacket
	case tagPE:
		if err := ce.setOption(optPE); err != nil {
			return err
		}
		ce.svc.pe = truncate(arg, peNameMax)
	case 'b':
		if err := ce.setOption(optSchedFlags); err != nil {
			return err
		}
		*schedFlags = truncate(arg, 127)
	case tagMcastGroup:
		if err := ce.setOption(optMcastGroup); err != nil {
			return err
		}
		a, err := netip.ParseAddr(arg)
		if strings.Contains(arg, ":") {
			if err != nil || !a.Is6() || a.Zone() != "" || a.As16()[0] != 0xff {
				return failf(2, "invalid IPv6 mcast-group `%s'", arg)
			}
		} else if err != nil || !a.Is4() || !a.IsMulticast() {
			return failf(2, "invalid IPv4 mcast-group `%s'", arg)
		}
		ce.daemon.mcastGroup = a
	case tagMcastPort, tagMcastTTL, tagSyncMaxlen:
		spec := map[int]struct {
			opt  int
			max  int64
			name string
			dst  *int
		}{
			tagMcastPort:  {optMcastPort, 65535, "mcast-port", &ce.daemon.mcastPort},
			tagMcastTTL:   {optMcastTTL, 255, "mcast-ttl", &ce.daemon.mcastTTL},
			tagSyncMaxlen: {optSyncMaxlen, 65535 - 20 - 8, "sync-maxlen", &ce.daemon.syncMaxlen},
		}[c]
		if err := ce.setOption(spec.opt); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, spec.max)
		if v == -1 {
			return failf(2, "illegal %s specified", spec.name)
		}
		*spec.dst = int(v)
	case tagTunType:
		if err := ce.setOption(optTunType); err != nil {
			return err
		}
		t := parseTunType(arg)
		if t == -1 {
			return failf(2, "illegal tunnel type specified")
		}
		ce.dest.tunType = t
	case tagTunPort:
		if err := ce.setOption(optTunPort); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, 65535)
		if v == -1 {
			return failf(2, "illegal tunnel port specified")
		}
		ce.dest.tunPort = uint16(v)
	case tagTunNoCsum:
		ce.dest.tunFlags |= tunFlagNoCsum
		return ce.setOption(optTunNoCsum)
	case tagTunCsum:
		if err := ce.setOption(optTunCsum); err != nil {
			return err
		}
		ce.dest.tunFlags |= tunFlagCsum
	case tagTunRemCsum:
		if err := ce.setOption(optTunRemCsum); err != nil {
			return err
		}
		ce.dest.tunFlags |= tunFlagRemCsum
	default:
		return errInvalidOption
	}
	return nil
}

// parseTunType is ipvsadm's parse_tun_type.
func parseTunType(name string) int {
	for i, n := range tunNames {
		if n == name {
			return i
		}
	}
	return -1
}
