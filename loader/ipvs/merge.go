package ipvs

import (
	"fmt"

	"github.com/xvs-lb/xvs/maps"
)

// Merge returns cur changed, with IPVS's edit rules, to hold what kernel
// holds (import): services and reals missing from kernel are deleted, new
// ones added in the kernel's order, the others edited. Entries kept keep
// their IDs, so their established flows keep their reals.
func Merge(cur, kernel *maps.Config) (*maps.Config, error) {
	next := cur.Clone()
	next.Timeouts = kernel.Timeouts
	want := map[svcKey]*maps.ServiceEntry{}
	for _, e := range kernel.Services {
		v := serviceOf(&e.Service)
		want[keyOf(&v)] = e
	}
	for _, e := range cur.Services {
		v := serviceOf(&e.Service)
		if want[keyOf(&v)] == nil {
			if err := next.DelService(&e.Service); err != nil {
				return nil, fmt.Errorf("import: delete %s: %w", name(&v), err)
			}
		}
	}
	for _, ke := range kernel.Services {
		v := serviceOf(&ke.Service)
		e := next.Service(&ke.Service)
		var err error
		if e == nil {
			e, err = next.AddService(ke.Service)
		} else {
			err = next.EditService(ke.Service)
		}
		if err != nil {
			return nil, fmt.Errorf("import: %s: %w", name(&v), err)
		}
		keep := map[destKey]bool{}
		for _, d := range ke.Dests {
			keep[destKey{d.Addr.Unmap(), d.Port}] = true
		}
		for _, d := range append([]*maps.DestEntry(nil), e.Dests...) {
			if !keep[destKey{d.Addr.Unmap(), d.Port}] {
				if err := next.DelDest(&ke.Service, &d.Dest); err != nil {
					return nil, fmt.Errorf("import: %s: delete real %s: %w", name(&v), d.Addr, err)
				}
			}
		}
		for _, d := range ke.Dests {
			if e.Dest(&d.Dest) == nil {
				_, err = next.AddDest(&ke.Service, d.Dest)
			} else {
				err = next.EditDest(&ke.Service, d.Dest)
			}
			if err != nil {
				return nil, fmt.Errorf("import: %s: real %s: %w", name(&v), d.Addr, err)
			}
		}
	}
	return next, nil
}
