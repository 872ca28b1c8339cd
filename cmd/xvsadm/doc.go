// xvsadm is a drop-in for ipvsadm 1.31: the same grammar (popt's, with
// ipvsadm's option table), the same listings, rule files, messages and exit
// codes, driving the xvs XDP datapath through a maps.Store instead of kernel
// IPVS. Beyond ipvsadm it has the global options --state DIR (where the
// pinned maps live), --format json (machine-readable listings) and
// -R --atomic (a whole rule file or nothing), and the subcommands attach,
// detach and status.
//
// One file per concept: run.go picks the grammar and takes the global
// options, root.go registers the cobra subcommands, popt.go is the option
// scanner, optable.go ipvsadm's option table, parse.go its parse_options,
// check.go its legality tables, process.go the checks and dispatch of one
// command line, ops.go kernel IPVS's rules for each change, errors.go the
// messages and exit codes, list.go/conns.go/daemon.go/jsonfmt.go the
// listings, restore.go -R, sort.go ipvsadm's and the kernel's orders,
// names.go host and service names, store_open.go the store hook.
//
// ipvsadm_ref_test.go replays testdata/ipvsadm-ref, the captured output of
// the real ipvsadm, byte for byte.
package main
