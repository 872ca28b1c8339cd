package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// pipeWindow is how many requests one write carries. Only the last asks
// for an acknowledgement; the others are answered only when they fail, and
// the receive buffer must hold every answer of a window (each takes about
// 1 KiB of it, of the default 208 KiB), or the kernel drops some.
const pipeWindow = 128

// errNoAnswer means kernel IPVS's answer to a request was lost (the
// receive buffer overflowed): whether it took the change is unknown.
var errNoAnswer = errors.New("no answer from kernel IPVS (netlink receive buffer overrun)")

// pipe sends IPVS requests pipelined on one generic netlink socket: a
// window of requests in one write, then their answers matched to them by
// sequence number. The kernel handles a write's requests in order, before
// the write returns, going on after a failed one; a request without
// NLM_F_ACK is answered only when it fails.
type pipe struct {
	family uint16
	seq    uint32
	// send writes one buffer of netlink messages; recv reads one answer
	// without waiting, returning EAGAIN when there is none.
	send    func(b []byte) error
	recv    func(b []byte) (int, error)
	buf     []byte // answers
	out     []byte // a window's requests (reused)
	scratch []byte // one request's payload
}

// do sends ops and returns one result per op, in order.
func (p *pipe) do(ops []op) []error {
	errs := make([]error, len(ops))
	for lo := 0; lo < len(ops); lo += pipeWindow {
		hi := min(lo+pipeWindow, len(ops))
		p.window(ops[lo:hi], errs[lo:hi])
	}
	return errs
}

// window sends ops in one write and collects their answers into errs.
func (p *pipe) window(ops []op, errs []error) {
	b := p.out[:0]
	defer func() { p.out = b[:0] }()
	if p.seq > math.MaxUint32-pipeWindow {
		p.seq = 0 // a window's sequence numbers never wrap
	}
	first := p.seq + 1
	for i := range ops {
		var err error
		if p.scratch, err = ops[i].appendTo(p.scratch[:0]); err != nil {
			// A change that cannot be encoded (a bug) fails with those
			// after it: nothing of the window is sent.
			for j := range ops {
				errs[j] = fmt.Errorf("encode: %w", err)
			}
			p.seq = first - 1
			return
		}
		flags := netlink.Request
		if i == len(ops)-1 {
			flags |= netlink.Acknowledge
		}
		p.seq++
		b = appendMessage(b, p.family, flags, p.seq, p.scratch)
	}
	last := p.seq
	if err := p.send(b); err != nil {
		for i := range ops {
			errs[i] = fmt.Errorf("send: %w", err)
		}
		return
	}
	answered := make([]bool, len(ops))
	if p.buf == nil {
		p.buf = make([]byte, 1<<16)
	}
	lost := false
	for done := false; !done; {
		n, err := p.recv(p.buf)
		if errors.Is(err, unix.ENOBUFS) {
			lost = true // some answers were dropped; read what remains
			continue
		}
		if err != nil { // EAGAIN: nothing left (the write was handled before it returned)
			break
		}
		msgs, err := syscall.ParseNetlinkMessage(p.buf[:n])
		if err != nil {
			lost = true
			continue
		}
		for _, m := range msgs {
			seq := m.Header.Seq
			if m.Header.Type != unix.NLMSG_ERROR || seq < first || seq > last || len(m.Data) < 4 {
				continue
			}
			i := seq - first
			answered[i] = true
			if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
				errs[i] = unix.Errno(-code)
			}
			if seq == last {
				done = true
			}
		}
	}
	if lost || !answered[len(ops)-1] {
		// Without the last acknowledgement, an unanswered request may have
		// failed as well as succeeded.
		for i := range ops {
			if !answered[i] {
				errs[i] = errNoAnswer
			}
		}
	}
}

// appendMessage appends a netlink message (header, data, padding to 4 bytes) to b.
func appendMessage(b []byte, typ uint16, flags netlink.HeaderFlags, seq uint32, data []byte) []byte {
	b = binary.NativeEndian.AppendUint32(b, uint32(unix.NLMSG_HDRLEN+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, uint16(flags))
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0) // port ID: the kernel answers the sending socket
	b = append(b, data...)
	for len(b)%unix.NLMSG_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}
