// Package e2e holds the end-to-end tests of xvs: they build xvsadm, set up
// the direct-routing topology of tests/topo in network namespaces, drive
// the balancer with xvsadm commands run inside its namespace and send real
// HTTP requests through it. They need root; without it they skip, or fail
// when CI=true.
package e2e
