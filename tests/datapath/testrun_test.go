package datapath

import (
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// testRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr.
type testRunAttr struct {
	progFD, retval, dataSizeIn, dataSizeOut uint32
	dataIn, dataOut                         uint64
	repeat, duration                        uint32
	ctxSizeIn, ctxSizeOut                   uint32
	ctxIn, ctxOut                           uint64
	flags, cpu, batchSize                   uint32
	_                                       uint32
}

// timedRun runs prog repeat times on frame with an XDP context for ifindex and
// returns the kernel's mean time per run (cilium/ebpf's Benchmark takes no
// context, and bpf_fib_lookup needs the ingress interface).
func timedRun(prog *ebpf.Program, ifindex int, frame []byte, repeat uint32) (uint32, time.Duration, error) {
	ctx := xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)}
	attr := testRunAttr{
		progFD: uint32(prog.FD()), dataSizeIn: uint32(len(frame)),
		dataIn: uint64(uintptr(unsafe.Pointer(&frame[0]))), repeat: repeat,
		ctxSizeIn: uint32(unsafe.Sizeof(ctx)), ctxIn: uint64(uintptr(unsafe.Pointer(&ctx))),
	}
	for {
		_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, 0, fmt.Errorf("test run: %w", errno)
		}
		runtime.KeepAlive(frame)
		runtime.KeepAlive(&ctx)
		return attr.retval, time.Duration(attr.duration), nil
	}
}
