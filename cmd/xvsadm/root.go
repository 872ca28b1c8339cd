package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// subcommands are xvs's commands beyond ipvsadm, each built by its own
// constructor (newAttachCmd, newDetachCmd, newStatusCmd: subcommands_xdp.go;
// newUpgradeCmd: subcommands_upgrade.go;
// newImportCmd, newSyncCmd, newDriftCmd: subcommands_ipvs.go; newRealserverCmd:
// realserver.go; newMetricsCmd: subcommands_metrics.go).
// The words that select them are their names: adding one here is enough.
func subcommands(o *rootOptions) []*cobra.Command {
	return []*cobra.Command{newAttachCmd(o), newDetachCmd(o), newStatusCmd(o), newUpgradeCmd(o), newImportCmd(o), newSyncCmd(o), newDriftCmd(o), newRealserverCmd(o), newMetricsCmd(o)}
}

// subcommandNames are the words that select a subcommand.
func subcommandNames() []string {
	var names []string
	for _, c := range subcommands(&rootOptions{}) {
		names = append(names, c.Name())
		names = append(names, c.Aliases...)
	}
	return names
}

// newRootCmd is the cobra root of the subcommands, with the global
// options as persistent flags.
func newRootCmd(o *rootOptions, prog string) *cobra.Command {
	root := &cobra.Command{
		Use:           prog,
		Short:         "administer the xvs XDP load balancer (ipvsadm grammar, plus these subcommands)",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return setFormat(o, o.format)
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().StringVar(&o.stateDir, "state", o.stateDir, "directory of the pinned maps")
	root.PersistentFlags().StringVar(&o.format, "format", "text", "output format: text or json")
	root.SetIn(o.stdin)
	root.SetOut(o.stdout)
	root.SetErr(o.stderr)
	root.AddCommand(subcommands(o)...)
	return root
}

// runSubcommand runs an xvs subcommand through cobra.
func runSubcommand(o *rootOptions, args []string) int {
	root := newRootCmd(o, args[0])
	root.SetArgs(args[1:])
	if err := root.Execute(); err != nil {
		fmt.Fprintf(o.stderr, "%s: %v\n", args[0], err)
		return 1
	}
	return 0
}
