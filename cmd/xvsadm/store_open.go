package main

import (
	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/maps"
)

// defaultOpenStore opens the store kept under the state directory (the
// pinned BPF maps), creating and pinning the datapath on first use, and
// takes the directory's lock.
var defaultOpenStore = func(dir string) (maps.Store, error) {
	return loader.OpenStore(dir, loader.Options{})
}
