// Package metrics exports the balancer's counters to Prometheus: the
// eight node_ipvs_* families exactly as node_exporter's ipvs collector
// writes them (so dashboards built on kernel IPVS keep reading once XDP
// carries the traffic), counting what XDP carried plus what kernel IPVS
// carried, and native xvs_* families (per service and real by datapath,
// verdicts, the connection table, attachments, kernel IPVS drift).
//
// A Collector reads one Snapshot per scrape from a Source: StateSource
// reads a pinned state directory (through the same store xvsadm -L reads
// and the status xvsadm status shows) and kernel IPVS; tests give a fixed
// Snapshot. WriteTextfile writes the families once for node_exporter's
// textfile collector (xvsadm metrics --textfile); a daemon registers the
// Collector with an HTTP handler instead.
//
// Exposition goes through github.com/prometheus/client_golang: it is the
// reference implementation of the Prometheus exposition format, and the
// registry and text encoder node_exporter itself uses, so names, HELP and
// TYPE lines, label escaping, ordering and number formatting come out as
// node_exporter's do.
package metrics
