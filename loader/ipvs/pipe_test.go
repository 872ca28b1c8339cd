package ipvs

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// fakeNetlink answers a pipe's writes as the kernel does: every request
// in order, an answer (NLMSG_ERROR) for each failed one and for each that
// asks for one, queued on a receive buffer of room answers.
type fakeNetlink struct {
	t       *testing.T
	family  uint16
	fail    map[int]unix.Errno // by request number, over all writes
	room    int                // answers the receive buffer holds (0: any number)
	sendErr error
	n       int // requests handled
	writes  int
	acked   []int // requests that asked for an answer
	queue   [][]byte
	overrun bool
}

func (f *fakeNetlink) pipe() *pipe {
	return &pipe{family: f.family, send: f.send, recv: f.recv}
}

func (f *fakeNetlink) send(b []byte) error {
	if f.sendErr != nil {
		return f.sendErr
	}
	f.writes++
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		f.t.Fatalf("write is not netlink messages: %v", err)
	}
	for _, m := range msgs {
		if m.Header.Type != f.family || m.Header.Flags&unix.NLM_F_REQUEST == 0 {
			f.t.Fatalf("request %d: type %d flags %#x", f.n, m.Header.Type, m.Header.Flags)
		}
		code := f.fail[f.n]
		if m.Header.Flags&unix.NLM_F_ACK != 0 {
			f.acked = append(f.acked, f.n)
		}
		f.n++
		if code == 0 && m.Header.Flags&unix.NLM_F_ACK == 0 {
			continue
		}
		if f.room > 0 && len(f.queue) >= f.room {
			f.overrun = true // the kernel drops the answer and flags the socket
			continue
		}
		// NLMSG_ERROR: -errno, then the request's header (NETLINK_CAP_ACK).
		data := binary.NativeEndian.AppendUint32(nil, uint32(-int32(code)))
		data = binary.NativeEndian.AppendUint32(data, m.Header.Len)
		data = binary.NativeEndian.AppendUint16(data, m.Header.Type)
		data = binary.NativeEndian.AppendUint16(data, m.Header.Flags)
		data = binary.NativeEndian.AppendUint32(data, m.Header.Seq)
		data = binary.NativeEndian.AppendUint32(data, m.Header.Pid)
		f.queue = append(f.queue, appendMessage(nil, unix.NLMSG_ERROR, 0, m.Header.Seq, data))
	}
	return nil
}

func (f *fakeNetlink) recv(b []byte) (int, error) {
	if f.overrun {
		f.overrun = false
		return 0, unix.ENOBUFS
	}
	if len(f.queue) == 0 {
		return 0, unix.EAGAIN
	}
	n := copy(b, f.queue[0])
	f.queue = f.queue[1:]
	return n, nil
}

func timeoutOps(n int) []op {
	ops := make([]op, n)
	for i := range ops {
		ops[i] = op{cmd: cmdSetConfig}
	}
	return ops
}

// TestPipe: results match requests by sequence number across windows;
// only a window's last request asks for an answer.
func TestPipe(t *testing.T) {
	f := &fakeNetlink{t: t, family: 42, fail: map[int]unix.Errno{5: unix.EEXIST, 127: unix.ESRCH, 128: unix.EINVAL, 299: unix.ENOENT}}
	errs := f.pipe().do(timeoutOps(300))
	if f.writes != 3 {
		t.Errorf("%d writes, want 3 (windows of %d)", f.writes, pipeWindow)
	}
	if want := []int{127, 255, 299}; !slices.Equal(f.acked, want) {
		t.Errorf("requests asking for an answer: %v, want %v", f.acked, want)
	}
	for i, err := range errs {
		want := f.fail[i]
		if want == 0 && err != nil || want != 0 && !errors.Is(err, want) {
			t.Errorf("request %d: %v, want %v", i, err, want)
		}
	}
}

// TestPipeLostAnswers: when the receive buffer overruns, a request whose
// answer is missing is reported as unknown, never as done.
func TestPipeLostAnswers(t *testing.T) {
	fail := map[int]unix.Errno{}
	for i := 10; i < 20; i++ {
		fail[i] = unix.EINVAL
	}
	f := &fakeNetlink{t: t, family: 42, fail: fail, room: 4}
	errs := f.pipe().do(timeoutOps(200))
	for i, err := range errs[:pipeWindow] {
		switch {
		case i >= 10 && i < 14: // answered before the buffer filled
			if !errors.Is(err, unix.EINVAL) {
				t.Errorf("request %d: %v, want EINVAL", i, err)
			}
		case !errors.Is(err, errNoAnswer):
			t.Errorf("request %d: %v, want errNoAnswer", i, err)
		}
	}
	for i, err := range errs[pipeWindow:] {
		if err != nil {
			t.Errorf("request %d (second window): %v", pipeWindow+i, err)
		}
	}
}

// TestPipeSendError: a failed write fails every request of its window.
func TestPipeSendError(t *testing.T) {
	f := &fakeNetlink{t: t, family: 42, sendErr: unix.EPERM}
	for i, err := range f.pipe().do(timeoutOps(3)) {
		if !errors.Is(err, unix.EPERM) || !strings.HasPrefix(err.Error(), "send:") {
			t.Errorf("request %d: %v", i, err)
		}
	}
}

// TestAppendMessage: the netlink header and padding.
func TestAppendMessage(t *testing.T) {
	got := appendMessage(nil, 0x1c, netlink.Request|netlink.Acknowledge, 7, []byte{1, 2, 3, 4, 5})
	want := []byte{
		21, 0, 0, 0, // length: header + 5 bytes
		0x1c, 0, // type: the family
		0x05, 0, // flags: NLM_F_REQUEST | NLM_F_ACK
		7, 0, 0, 0, // sequence
		0, 0, 0, 0, // port ID
		1, 2, 3, 4, 5, 0, 0, 0, // data + pad to 4
	}
	if !slices.Equal(got, want) {
		t.Errorf("appendMessage:\n got % x\nwant % x", got, want)
	}
}
