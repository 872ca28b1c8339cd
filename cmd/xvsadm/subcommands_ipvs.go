package main

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/loader/ipvs"
	"github.com/xvs-lb/xvs/maps"
)

// withMirrorStore runs f on the opened store and its kernel IPVS mirror,
// failing when the kernel has no IPVS.
func withMirrorStore(o *rootOptions, f func(*loader.Store) error) error {
	s, err := loader.OpenStore(o.stateDir, loader.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	if s.Mirror == nil {
		return fmt.Errorf("kernel IPVS: %s", s.MirrorOff)
	}
	return f(s)
}

// newImportCmd: xvsadm import [--follow INTERVAL].
func newImportCmd(o *rootOptions) *cobra.Command {
	var follow time.Duration
	c := &cobra.Command{
		Use:   "import",
		Short: "Copy the kernel IPVS table (as ipvsadm, keepalived or kube-proxy set it) into the XDP maps",
		Long: "Copy the kernel IPVS table into the XDP maps: services and reals the kernel lacks are\n" +
			"removed from the maps, the others added or changed. With --follow, check the kernel\n" +
			"every INTERVAL and import again when it changed, until interrupted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if follow <= 0 {
				n, err := importOnce(o)
				if err == nil {
					fmt.Fprintf(o.stdout, "imported %d changes from kernel IPVS\n", n)
				}
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			t := time.NewTicker(follow)
			defer t.Stop()
			for {
				n, err := importOnce(o)
				if err != nil {
					return err
				}
				if n > 0 {
					fmt.Fprintf(o.stdout, "%s imported %d changes from kernel IPVS\n", time.Now().Format(time.RFC3339), n)
				}
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
		},
	}
	c.Flags().DurationVar(&follow, "follow", 0, "import again every INTERVAL (e.g. 1s) when the kernel's table changed")
	return c
}

// importOnce makes the maps hold the kernel's table; it returns how many
// differences it found (0: nothing written).
func importOnce(o *rootOptions) (int, error) {
	n := 0
	err := withMirrorStore(o, func(s *loader.Store) error {
		kernel, err := s.Mirror.Read()
		if err != nil {
			return err
		}
		cur, err := s.Load()
		if err != nil {
			return err
		}
		n = len(ipvs.Diff(cur, kernel))
		if n == 0 {
			return nil
		}
		next, err := ipvs.Merge(cur, kernel)
		if err != nil {
			return err
		}
		// The kernel already holds next: seed the mirror with it so the
		// commit sends it nothing.
		s.Mirror.Seed(kernel)
		return s.Commit(next)
	})
	return n, err
}

// newSyncCmd: xvsadm sync.
func newSyncCmd(o *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "sync",
		Short: "Make kernel IPVS hold exactly the XDP maps' configuration (re-apply after drift)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withMirrorStore(o, func(s *loader.Store) error {
				cfg, err := s.Load()
				if err != nil {
					return err
				}
				drift, err := s.Mirror.Drift(cfg)
				if err != nil {
					return err
				}
				if err := s.Mirror.Sync(cfg); err != nil {
					return err
				}
				fmt.Fprintf(o.stdout, "kernel IPVS synced to the maps (%d differences fixed)\n", len(drift))
				return nil
			})
		},
	}
}

// kernelIPVSReport is status's kernel IPVS line and its drift.
func kernelIPVSReport(cfg *maps.Config) (string, []string) {
	m, off := loader.OpenMirror()
	if m == nil {
		return off, nil
	}
	defer m.Close()
	drift, err := m.Drift(cfg)
	if err != nil {
		return fmt.Sprintf("present, mirrored; drift unknown (%v)", err), nil
	}
	if len(drift) == 0 {
		return "present, mirrored, in step with the maps", nil
	}
	return fmt.Sprintf("present, mirrored; %d differences from the maps (xvsadm sync re-applies the maps, xvsadm import takes the kernel's)", len(drift)), drift
}

// newDriftCmd: xvsadm drift. The kernel IPVS part of status alone (status
// also counts every map, which is slow on a slow machine).
func newDriftCmd(o *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "drift",
		Short: "Show whether kernel IPVS holds the XDP maps' configuration, and every difference",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loader.OpenStore(o.stateDir, loader.Options{})
			if err != nil {
				return err
			}
			defer s.Close()
			cfg, err := s.Load()
			if err != nil {
				return err
			}
			line, drift := kernelIPVSReport(cfg)
			fmt.Fprintf(o.stdout, "kernel IPVS: %s\n", line)
			for _, d := range drift {
				fmt.Fprintf(o.stdout, "  drift: %s\n", d)
			}
			return nil
		},
	}
}
