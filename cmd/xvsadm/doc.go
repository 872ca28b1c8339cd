// xvsadm is a drop-in for ipvsadm 1.31: the same grammar (popt's, with
// ipvsadm's option table), the same listings, rule files, messages and exit
// codes, driving the xvs XDP datapath through a maps.Store instead of kernel
// IPVS. Beyond ipvsadm it has the global options --state DIR (where the
// pinned maps live), --format json (machine-readable listings) and
// -R --atomic (a whole rule file or nothing), and the subcommands attach,
// detach and status.
//
// One file per concept: popt.go is the option scanner, optable.go the
// option table, parse.go ipvsadm's parse_options, check.go its legality
// tables, process.go the checks and dispatch of one command line, ops.go the
// kernel's rules for each change, list.go/conns.go/daemon.go the listings,
// restore.go the -R reader, sort.go ipvsadm's and the kernel's orders.
package main
