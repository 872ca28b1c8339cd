package ipvs

import (
	"errors"
	"fmt"
	"slices"

	cfipvs "github.com/cloudflare/ipvs"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/maps"
)

// change is one message of an Apply and, once sent, the kernel's answer.
type change struct {
	op
	ks *kService // the service it changes (nil: timeouts)
	// parent is the index of the change this one needs (its service's
	// create or update), or -1: when the parent fails, this one's result
	// is not reported (it failed for the same reason, or is retried with
	// the parent by the next Apply).
	parent int
	err    error
}

// batcher is a Client that sends many changes at once (pipelined), with
// one result per op, in order.
type batcher interface{ do(ops []op) []error }

// Sending is an Apply under way: Start planned its changes and sends them
// while the caller does other work; Wait records the kernel's answers.
type Sending struct {
	m    *Mirror
	chs  []change
	done chan struct{}
}

// Apply makes the kernel's table equal cfg, with the fewest netlink
// messages, diffing against the seeded table (or, unseeded, the kernel's
// as read once): services the table has and cfg lacks are removed, new ones
// created with their reals in cfg's order (oldest first, so the kernel
// lists them as xvs does), changed ones updated. Every message goes out
// (pipelined where the client can), whatever failed before it; the table
// changes only where the kernel took a change, so what failed is tried
// again by the next Apply. It returns every failure.
func (m *Mirror) Apply(cfg *maps.Config) error {
	s, err := m.Start(cfg)
	if err != nil {
		return err
	}
	return s.Wait()
}

// Start is the first half of Apply: it plans the changes (reading cfg,
// which the caller may change once Start returns) and sends them in the
// background. Nothing else may use the Mirror until Wait.
func (m *Mirror) Start(cfg *maps.Config) (*Sending, error) {
	if err := m.load(); err != nil {
		return nil, err
	}
	s := &Sending{m: m, chs: m.plan(cfg), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		m.run(s.chs)
	}()
	return s, nil
}

// Wait waits for the kernel's answers, records in the table what it took,
// and returns every failure.
func (s *Sending) Wait() error {
	<-s.done
	m := s.m
	var errs []error
	for i := range s.chs {
		ch := &s.chs[i]
		if ch.parent >= 0 && s.chs[ch.parent].err != nil {
			continue // reported with its service
		}
		if ch.err != nil && !(ch.removes() && gone(ch.err)) {
			errs = append(errs, fmt.Errorf("kernel IPVS: %s: %w", ch.describe(), ch.err))
			continue
		}
		m.record(ch)
	}
	if len(m.table) != len(m.order) {
		m.order = slices.DeleteFunc(m.order, func(k svcKey) bool { return m.table[k] == nil })
	}
	for _, ks := range m.table {
		if len(ks.dests) != len(ks.order) {
			ks.order = slices.DeleteFunc(ks.order, func(dk destKey) bool { _, ok := ks.dests[dk]; return !ok })
		}
	}
	return errors.Join(errs...)
}

// record puts a change the kernel took into the table.
func (m *Mirror) record(ch *change) {
	dk := destKey{ch.dest.Address, ch.dest.Port}
	switch ch.cmd {
	case cmdDelService:
		delete(m.table, keyOf(&ch.svc))
	case cmdNewService:
		k := keyOf(&ch.svc)
		m.table[k] = ch.ks
		m.order = append(m.order, k)
	case cmdSetService:
		ch.ks.svc, ch.ks.pe = ch.svc, ch.pe
	case cmdDelDest:
		delete(ch.ks.dests, dk)
	case cmdNewDest:
		ch.ks.order = append(ch.ks.order, dk)
		ch.ks.dests[dk] = ch.dest
	case cmdSetDest:
		ch.ks.dests[dk] = ch.dest
	case cmdSetConfig:
		c := ch.cfg
		m.cfg = &c
	}
}

// removes reports whether the change is a removal: ESRCH or ENOENT (the
// entry is gone already) then counts as done.
func (o *op) removes() bool { return o.cmd == cmdDelService || o.cmd == cmdDelDest }

// takeover is, for a create, the update that takes over an entry another
// tool made (after EEXIST).
func (o *op) takeover() (op, bool) {
	switch o.cmd {
	case cmdNewService:
		s := o.svc
		if o.sched != "" {
			s.Scheduler = o.sched // not "none": the service may be serving
		}
		return op{cmd: cmdSetService, svc: s, pe: o.pe}, true
	case cmdNewDest:
		return op{cmd: cmdSetDest, svc: o.svc, dest: o.dest}, true
	}
	return op{}, false
}

// describe words the change for an error, as the mirror always has.
func (o *op) describe() string {
	switch o.cmd {
	case cmdDelService:
		return "remove service " + name(&o.svc)
	case cmdNewService:
		return "create service " + name(&o.svc)
	case cmdSetService:
		return "update service " + name(&o.svc)
	case cmdDelDest:
		return fmt.Sprintf("remove real %s from %s", o.dest.Address, name(&o.svc))
	case cmdNewDest:
		return fmt.Sprintf("add real %s to %s", o.dest.Address, name(&o.svc))
	case cmdSetDest:
		return fmt.Sprintf("edit real %s of %s", o.dest.Address, name(&o.svc))
	case cmdSetConfig:
		return "set timeouts"
	}
	return fmt.Sprintf("command %d", o.cmd)
}

// plan lists the changes that make the table equal cfg, in the order they
// must reach the kernel.
func (m *Mirror) plan(cfg *maps.Config) []change {
	var chs []change
	want := make(map[svcKey]bool, len(cfg.Services))
	for _, e := range cfg.Services {
		v := serviceOf(&e.Service)
		want[keyOf(&v)] = true
	}
	for _, k := range m.order {
		if !want[k] {
			chs = append(chs, change{op: op{cmd: cmdDelService, svc: m.table[k].svc}, parent: -1})
		}
	}
	for _, e := range cfg.Services {
		chs = m.planService(chs, e)
	}
	if m.cfg != nil {
		t := cfipvs.Config{TCPTimeout: cfg.Timeouts.TCP, TCPFinTimeout: cfg.Timeouts.TCPFin, UDPTimeout: cfg.Timeouts.UDP}
		if t != *m.cfg {
			chs = append(chs, change{op: op{cmd: cmdSetConfig, cfg: t}, parent: -1})
		}
	}
	return chs
}

// planService appends the changes that make one kernel service equal e.
func (m *Mirror) planService(chs []change, e *maps.ServiceEntry) []change {
	v := serviceOf(&e.Service)
	ks := m.table[keyOf(&v)]
	parent := -1
	deferred := "" // the scheduler a new service gets once its reals are in
	switch {
	case ks == nil:
		create := v
		if deferScheduler(v.Scheduler, len(e.Dests)) {
			create.Scheduler, deferred = schedNone, v.Scheduler
		}
		ks = &kService{svc: create, pe: e.PE, dests: make(map[destKey]cfipvs.Destination, len(e.Dests))}
		parent = len(chs)
		chs = append(chs, change{op: op{cmd: cmdNewService, svc: create, pe: e.PE, sched: deferred}, ks: ks, parent: -1})
	case !sameSettings(&ks.svc, &v) || ks.pe != e.PE:
		parent = len(chs)
		chs = append(chs, change{op: op{cmd: cmdSetService, svc: v, pe: e.PE}, ks: ks, parent: -1})
	}
	var want map[destKey]bool
	if len(ks.order) > 0 {
		want = make(map[destKey]bool, len(e.Dests))
		for _, d := range e.Dests {
			want[destKey{d.Addr.Unmap(), d.Port}] = true
		}
	}
	for _, dk := range ks.order {
		if !want[dk] {
			chs = append(chs, change{op: op{cmd: cmdDelDest, svc: v, dest: ks.dests[dk]}, ks: ks, parent: parent})
		}
	}
	for _, d := range e.Dests {
		dv := destOf(&d.Dest)
		old, ok := ks.dests[destKey{dv.Address, dv.Port}]
		switch {
		case !ok:
			chs = append(chs, change{op: op{cmd: cmdNewDest, svc: v, dest: dv}, ks: ks, parent: parent})
		case !sameDest(&old, &dv):
			chs = append(chs, change{op: op{cmd: cmdSetDest, svc: v, dest: dv}, ks: ks, parent: parent})
		}
	}
	if deferred != "" {
		chs = append(chs, change{op: op{cmd: cmdSetService, svc: v, pe: e.PE}, ks: ks, parent: parent})
	}
	return chs
}

// schedNone is the kernel's name for a service without a scheduler: it
// schedules no new connection (they are refused, as before the service
// existed), and the kernel keeps no table for it.
const schedNone = "none"

// deferScheduler reports whether a new service of scheduler sched with
// nreal reals is created without a scheduler and given sched after its
// reals are in. The table schedulers rebuild their whole table on every
// real added (ip_vs_mh.c's 4,093-slot Maglev table, ip_vs_sh.c's and
// ip_vs_dh.c's 256 buckets): added first, the reals cost one build instead
// of one each. A restore of 1,000 mh services x 10 reals makes the kernel
// build 1,000 Maglev tables instead of 10,000.
func deferScheduler(sched string, nreal int) bool {
	switch sched {
	case "mh", "sh", "dh":
		return nreal > 1
	}
	return false
}

// run sends the changes and records each one's result: pipelined where
// the client can (then the takeovers after EEXIST go in a second round),
// else one call at a time, skipping a change whose parent failed.
func (m *Mirror) run(chs []change) {
	b, ok := m.c.(batcher)
	if !ok {
		for i := range chs {
			ch := &chs[i]
			if ch.parent >= 0 && chs[ch.parent].err != nil {
				continue
			}
			ch.err = call(m.c, &ch.op)
			if t, ok := ch.takeover(); ok && errors.Is(ch.err, unix.EEXIST) {
				ch.err = call(m.c, &t)
			}
		}
		return
	}
	ops := make([]op, len(chs))
	for i := range chs {
		ops[i] = chs[i].op
	}
	for i, err := range b.do(ops) {
		chs[i].err = err
	}
	// Takeovers, where the parent is fine or is taken over too.
	var again []int
	ops = ops[:0]
	for i := range chs {
		ch := &chs[i]
		t, ok := ch.takeover()
		if !ok || !errors.Is(ch.err, unix.EEXIST) {
			continue
		}
		if p := ch.parent; p >= 0 && chs[p].err != nil && !(chs[p].cmd == cmdNewService && errors.Is(chs[p].err, unix.EEXIST)) {
			continue
		}
		again = append(again, i)
		ops = append(ops, t)
	}
	if len(ops) == 0 {
		return
	}
	for j, err := range b.do(ops) {
		chs[again[j]].err = err // recorded, and reported, as the create it stands for
	}
}

// call sends one op through the library's calls, which send no persistence
// engine (the kernel client is a batcher: its pipe sends o.pe).
func call(c Client, o *op) error {
	switch o.cmd {
	case cmdNewService:
		return c.CreateService(o.svc)
	case cmdSetService:
		return c.UpdateService(o.svc)
	case cmdDelService:
		return c.RemoveService(o.svc)
	case cmdNewDest:
		return c.CreateDestination(o.svc, o.dest)
	case cmdSetDest:
		return c.UpdateDestination(o.svc, o.dest)
	case cmdDelDest:
		return c.RemoveDestination(o.svc, o.dest)
	case cmdSetConfig:
		return c.SetConfig(o.cfg)
	}
	return fmt.Errorf("IPVS command %d: not a change", o.cmd)
}
