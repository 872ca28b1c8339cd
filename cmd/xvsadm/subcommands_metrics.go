package main

import (
	"fmt"

	"github.com/prometheus/common/expfmt"
	"github.com/spf13/cobra"

	"github.com/xvs-lb/xvs/loader/metrics"
)

// newMetricsCmd: xvsadm metrics [--textfile DIR].
func newMetricsCmd(o *rootOptions) *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "metrics",
		Short: "Write the Prometheus metrics (node_ipvs_* as node_exporter's ipvs collector, and xvs_*) once",
		Long: "Write the Prometheus metrics once: to standard output, or with --textfile DIR atomically to DIR/" +
			metrics.TextfileName + " for node_exporter's textfile collector (run node_exporter with --no-collector.ipvs beside xvs).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := metrics.NewRegistry(metrics.StateSource{Dir: o.stateDir})
			if err != nil {
				return err
			}
			if dir != "" {
				return metrics.WriteTextfile(dir, reg)
			}
			mfs, err := reg.Gather()
			if err != nil {
				return err
			}
			for _, mf := range mfs {
				if _, err := expfmt.MetricFamilyToText(o.stdout, mf); err != nil {
					return fmt.Errorf("write metrics: %w", err)
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "textfile", "", "write DIR/"+metrics.TextfileName+" atomically instead of standard output")
	return c
}
