// Package loader loads the xvs datapath, pins its maps and program under a
// state directory on bpffs, attaches it to interfaces through pinned
// bpf_links, and serialises xvsadm processes with a lock on that directory.
package loader
