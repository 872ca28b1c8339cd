// Package ipvs mirrors xvs's configuration (a maps.Config) into kernel
// IPVS through github.com/cloudflare/ipvs, reads the kernel's table back
// (import), and reports where the two differ (drift).
//
// The kernel's table is read once per Mirror and then kept in step with
// what the Mirror writes, so a change costs only the netlink messages it
// needs (-R of 10,000 lines reads the table once).
package ipvs
