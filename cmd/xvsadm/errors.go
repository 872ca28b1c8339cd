package main

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/maps"
)

// exitError ends the whole process, as ipvsadm's fail(), exit() and
// usage_exit() do, even in the middle of -R: msg (if any) goes to stderr,
// out (if any) to stdout.
type exitError struct {
	code int
	msg  string
	out  string
}

func (e *exitError) Error() string { return e.msg }

// failf is ipvsadm's fail(): a message and an exit status.
func failf(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// tryHelp is ipvsadm's tryhelp_exit(prog, -1).
func tryHelp(prog string) error {
	return &exitError{code: 255, msg: fmt.Sprintf("Try `%s -h' or '%s --help' for more information.", prog, prog)}
}

// opError is a command that failed without ending the process: ipvsadm
// prints the message and returns -1 (exit status 255); -R goes on with
// the next line.
type opError struct{ msg string }

func (e *opError) Error() string { return e.msg }

// ipvsOp names the libipvs call a failure came from: ipvs_strerror words
// the same errno differently per call.
type ipvsOp int

const (
	opOther ipvsOp = iota
	opAddService
	opEditService
	opDelService
	opZeroService
	opAddDest
	opEditDest
	opDelDest
	opSetTimeout
	opStartDaemon
	opStopDaemon
	opGetService
)

// ipvsMessages is libipvs's ipvs_strerror table; opOther rows match any call.
var ipvsMessages = []struct {
	op  ipvsOp
	err unix.Errno
	msg string
}{
	{opAddService, unix.EEXIST, "Service already exists"},
	{opAddService, unix.ENOENT, "Scheduler or persistence engine not found"},
	{opEditService, unix.ESRCH, "No such service"},
	{opEditService, unix.ENOENT, "Scheduler or persistence engine not found"},
	{opDelService, unix.ESRCH, "No such service"},
	{opZeroService, unix.ESRCH, "No such service"},
	{opAddDest, unix.ESRCH, "Service not defined"},
	{opAddDest, unix.EEXIST, "Destination already exists"},
	{opEditDest, unix.ESRCH, "Service not defined"},
	{opEditDest, unix.ENOENT, "No such destination"},
	{opDelDest, unix.ESRCH, "Service not defined"},
	{opDelDest, unix.ENOENT, "No such destination"},
	{opStartDaemon, unix.EEXIST, "Daemon has already run"},
	{opStopDaemon, unix.ESRCH, "No daemon is running"},
	{opGetService, unix.ESRCH, "No such service"},
	{opOther, unix.EPERM, "Permission denied (you must be root)"},
	{opOther, unix.EINVAL, "Invalid operation.  Possibly wrong module version, address not unicast, ..."},
	{opOther, unix.ENOPROTOOPT, "Protocol not available"},
	{opOther, unix.ENOMEM, "Memory allocation problem"},
	{opOther, unix.EOPNOTSUPP, "Operation not supported with IPv6"},
	{opOther, unix.EAFNOSUPPORT, "Operation not supported with specified address family"},
	{opOther, unix.EMSGSIZE, "Module is wrong version"},
}

// sentinelErrnos are the errno kernel IPVS returns for each of the model's
// sentinel errors.
var sentinelErrnos = []struct {
	err   error
	errno unix.Errno
}{
	{maps.ErrServiceExists, unix.EEXIST},
	{maps.ErrNoService, unix.ESRCH},
	{maps.ErrDestExists, unix.EEXIST},
	{maps.ErrNoDest, unix.ENOENT},
	{maps.ErrSchedNotFound, unix.ENOENT},
	{maps.ErrPENotFound, unix.ENOENT},
	// ErrTooManyServices and ErrTooManyReals are the datapath's limits,
	// which kernel IPVS does not have: their own text says more than
	// ENOMEM's "Memory allocation problem".
}

// errnoOf finds the errno an error stands for.
func errnoOf(err error) (unix.Errno, bool) {
	for _, s := range sentinelErrnos {
		if errors.Is(err, s.err) {
			return s.errno, true
		}
	}
	var en unix.Errno
	if errors.As(err, &en) {
		return en, true
	}
	return 0, false
}

// ipvsStrerror words err as ipvsadm would after the call op failed.
func ipvsStrerror(op ipvsOp, err error) string {
	en, ok := errnoOf(err)
	if !ok {
		return err.Error()
	}
	for _, m := range ipvsMessages {
		if (m.op == opOther || m.op == op) && m.err == en {
			return m.msg
		}
	}
	return strerror(en)
}

// strerror is glibc's strerror: Go's texts are glibc's with a lowercase
// first letter.
func strerror(en unix.Errno) string {
	s := en.Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
