package loader

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/xvs-lb/xvs/loader/ipvs"
)

// The state directory's record of the sync daemons xvsadm started where
// it does not use kernel IPVS: a symlink whose target is the record as
// JSON, since bpffs holds only pins, directories and symlinks (and no names
// with dots). A new record replaces the old by rename, so a reader never
// sees half of one.
const (
	daemonsLink    = "sync_daemons"
	daemonsLinkNew = "sync_daemons_new"
)

// Daemons returns the sync daemons recorded in the state directory dir:
// none when it has no record (or no directory).
func Daemons(dir string) ([]ipvs.Daemon, error) {
	rec, err := os.Readlink(filepath.Join(dir, daemonsLink))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sync daemon record: %w", err)
	}
	var ds []ipvs.Daemon
	if err := json.Unmarshal([]byte(rec), &ds); err != nil {
		return nil, fmt.Errorf("read sync daemon record %s: %w", filepath.Join(dir, daemonsLink), err)
	}
	return ds, nil
}

// UpdateDaemons changes the record of the state directory dir under its
// lock (the one the store takes; a process that holds the store must close
// it first): f gets the recorded daemons and returns the next ones, or an
// error, returned as is, that leaves the record unchanged.
func UpdateDaemons(dir string, f func([]ipvs.Daemon) ([]ipvs.Daemon, error)) error {
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	cur, err := Daemons(dir)
	if err != nil {
		return err
	}
	next, err := f(cur)
	if err != nil {
		return err
	}
	link := filepath.Join(dir, daemonsLink)
	if len(next) == 0 {
		if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("write sync daemon record: %w", err)
		}
		return nil
	}
	rec, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("write sync daemon record: %w", err)
	}
	tmp := filepath.Join(dir, daemonsLinkNew)
	os.Remove(tmp) // left by a process that died between the two steps
	if err := os.Symlink(string(rec), tmp); err != nil {
		return fmt.Errorf("write sync daemon record: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write sync daemon record: %w", err)
	}
	return nil
}
