package main

import (
	"fmt"

	"github.com/xvs-lb/xvs/maps"
)

// session is one run of the ipvsadm grammar: the store, opened on first
// use and held (locked) until close, and, during -R --atomic, the
// configuration the lines change.
type session struct {
	o       *rootOptions
	prog    string
	store   maps.Store
	pending *maps.Config // -R --atomic: changes collect here, committed once
	// cur is the configuration last loaded or committed by change: while
	// the store is open it is locked, so -R need not reload it per line.
	cur *maps.Config
	// deferred (plain -R): changes collect in cur and are committed by
	// flush, before any command that reads the store and at the end, so a
	// rule file costs one commit, not one per line. (ipvsadm commits each
	// line; the datapath sees the same final state, sooner.)
	deferred, dirty bool
}

// flush commits the changes deferred so far.
func (s *session) flush() error {
	if !s.dirty {
		return nil
	}
	s.dirty = false
	if err := s.store.Commit(s.cur); err != nil {
		s.cur = nil
		return &opError{msg: ipvsStrerror(opOther, fmt.Errorf("commit: %w", err))}
	}
	return nil
}

// open returns the store, opening it on first use.
func (s *session) open() (maps.Store, error) {
	if s.store != nil {
		return s.store, nil
	}
	st, err := s.o.openStore(s.o.stateDir)
	if err != nil {
		return nil, failf(2, "Can't initialize ipvs: open store %s: %v\n"+
			"Is the xvs datapath loaded (xvsadm attach IFACE)?", s.o.stateDir, err)
	}
	s.store = st
	return st, nil
}

// close releases the store's lock.
func (s *session) close() error {
	if s.store == nil {
		return nil
	}
	err := s.store.Close()
	s.store, s.cur = nil, nil
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// load returns the current configuration (with the changes of an atomic
// restore so far).
func (s *session) load() (*maps.Config, error) {
	if s.pending != nil {
		return s.pending, nil
	}
	st, err := s.open()
	if err != nil {
		return nil, err
	}
	cfg, err := st.Load()
	if err != nil {
		return nil, &exitError{code: 1, msg: fmt.Sprintf("load configuration: %v", err)}
	}
	return cfg, nil
}

// change applies f to the configuration and commits it; f's error,
// worded for op, leaves the store untouched. During an atomic restore the
// change only goes to the pending configuration.
func (s *session) change(op ipvsOp, f func(cfg *maps.Config) error) error {
	// f changes nothing when it fails (the model's rules), so it may work
	// on the configuration in place.
	if s.pending != nil {
		if err := f(s.pending); err != nil {
			return &opError{msg: ipvsStrerror(op, err)}
		}
		return nil
	}
	st, err := s.open()
	if err != nil {
		return err
	}
	if s.cur == nil {
		if s.cur, err = st.Load(); err != nil {
			s.cur = nil
			return &opError{msg: fmt.Sprintf("load configuration: %v", err)}
		}
	}
	if err := f(s.cur); err != nil {
		return &opError{msg: ipvsStrerror(op, err)}
	}
	if s.deferred {
		s.dirty = true
		return nil
	}
	if err := st.Commit(s.cur); err != nil {
		s.cur = nil // reload what the store holds
		return &opError{msg: ipvsStrerror(op, fmt.Errorf("commit: %w", err))}
	}
	return nil
}
