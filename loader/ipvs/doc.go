// Package ipvs mirrors xvs's configuration (a maps.Config) into kernel
// IPVS, reads the kernel's table back (import), and reports where the two
// differ (drift). Reads go through github.com/cloudflare/ipvs; changes are
// encoded here (encode.go) and pipelined on one netlink socket (pipe.go).
//
// The kernel's table is read once per Mirror and then kept in step with
// what the Mirror writes, so a change costs only the netlink messages it
// needs (-R of 10,000 lines reads the table once and sends 10,000
// requests in 79 writes).
package ipvs
