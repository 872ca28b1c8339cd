package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xvs-lb/xvs/loader"
)

// upgradeReport is what xvsadm upgrade did.
type upgradeReport struct {
	State *loader.UpgradeResult `json:"state,omitempty"` // nil: no balancer state directory
	Decap []loader.UpgradedLink `json:"decap_links"`
}

// newUpgradeCmd: xvsadm upgrade [--force] [--decap-state DIR].
func newUpgradeCmd(o *rootOptions) *cobra.Command {
	var force bool
	var decapDir string
	c := &cobra.Command{
		Use:   "upgrade",
		Short: "Swap this build's XDP program into the attached interfaces, keeping every map (connections, counters, services)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var r upgradeReport
			if loader.StateExists(o.stateDir) {
				if err := withState(o, func(st *loader.State) (err error) {
					r.State, err = st.Upgrade(force)
					return err
				}); err != nil {
					return err
				}
			}
			var err error
			if r.Decap, err = loader.UpgradeDecap(decapDir, force); err != nil {
				return err
			}
			if o.format == "json" {
				enc := json.NewEncoder(o.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			printUpgrade(o, &r, decapDir)
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "load and swap the program even when it is already this build's")
	c.Flags().StringVar(&decapDir, "decap-state", loader.DefaultDecapDir, "directory of a real server's decapsulation links, upgraded too")
	return c
}

func printUpgrade(o *rootOptions, r *upgradeReport, decapDir string) {
	w := o.stdout
	switch s := r.State; {
	case s == nil:
		fmt.Fprintf(w, "no balancer state in %s\n", o.stateDir)
	case s.UpToDate:
		fmt.Fprintf(w, "program id %d is this build's already (%s): nothing to do (--force reloads it)\n", s.OldProg, s.Build)
	default:
		fmt.Fprintf(w, "upgraded %s: program id %d -> %d (build %s -> %s); every pinned map kept\n", o.stateDir, s.OldProg, s.NewProg, orNone(s.OldBuild), s.Build)
		for _, l := range s.Links {
			fmt.Fprintf(w, "  %s: link id %d runs program %d (was %d)\n", l.Iface, l.LinkID, l.NewProg, l.OldProg)
		}
		if len(s.Carried) > 0 {
			fmt.Fprintf(w, "  carried over from the old program: %v\n", s.Carried)
		}
		if !s.OldFreed {
			fmt.Fprintf(w, "  old program id %d still held by another process\n", s.OldProg)
		}
	}
	for _, l := range r.Decap {
		fmt.Fprintf(w, "decap %s: link id %d runs program %d (was %d; pinned in %s)\n", l.Iface, l.LinkID, l.NewProg, l.OldProg, decapDir)
	}
}

func orNone(s string) string {
	if s == "" {
		return "unrecorded"
	}
	return s
}

// buildNote says, for status, whether the attached program is this build's.
func buildNote(b *loader.ProgramBuild) string {
	switch {
	case b == nil:
		return "build unknown"
	case b.ThisBuild:
		return "this build"
	case len(b.Stale) > 0:
		return fmt.Sprintf("other build on %v, run xvsadm upgrade", b.Stale)
	}
	return "other build, run xvsadm upgrade"
}
