package main

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/maps"
)

func TestIpvsStrerror(t *testing.T) {
	tests := []struct {
		op   ipvsOp
		err  error
		want string
	}{
		{opAddService, maps.ErrServiceExists, "Service already exists"},
		{opAddService, maps.ErrSchedNotFound, "Scheduler or persistence engine not found"},
		{opEditService, maps.ErrPENotFound, "Scheduler or persistence engine not found"},
		{opEditService, maps.ErrNoService, "No such service"},
		{opDelService, maps.ErrNoService, "No such service"},
		{opZeroService, maps.ErrNoService, "No such service"},
		{opAddDest, maps.ErrNoService, "Service not defined"},
		{opAddDest, maps.ErrDestExists, "Destination already exists"},
		{opEditDest, maps.ErrNoService, "Service not defined"},
		{opEditDest, maps.ErrNoDest, "No such destination"},
		{opDelDest, maps.ErrNoDest, "No such destination"},
		{opGetService, maps.ErrNoService, "No such service"},
		{opStartDaemon, unix.EEXIST, "Daemon has already run"},
		{opStopDaemon, unix.ESRCH, "No daemon is running"},
		{opAddDest, unix.ERANGE, "Numerical result out of range"},
		{opAddDest, unix.EINVAL, "Invalid operation.  Possibly wrong module version, address not unicast, ..."},
		{opOther, unix.EPERM, "Permission denied (you must be root)"},
		{opOther, unix.ENOSPC, "No space left on device"},
		{opAddService, fmt.Errorf("commit: %w", maps.ErrSchedNotFound), "Scheduler or persistence engine not found"},
		{opAddService, fmt.Errorf("commit: %w", unix.E2BIG), "Argument list too long"},
		{opAddService, fmt.Errorf("commit: %w", maps.ErrTooManyServices), "commit: too many services"},
		{opOther, errors.New("pin map: permission denied"), "pin map: permission denied"},
	}
	for _, tt := range tests {
		if got := ipvsStrerror(tt.op, tt.err); got != tt.want {
			t.Errorf("ipvsStrerror(%d, %v) = %q, want %q", tt.op, tt.err, got, tt.want)
		}
	}
}
