package metrics

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// TextfileName is the file WriteTextfile writes in its directory: a
// name node_exporter's textfile collector reads (*.prom).
const TextfileName = "xvs.prom"

// WriteTextfile gathers g once and writes it to dir/xvs.prom atomically
// for node_exporter's textfile collector: into a temporary file in dir
// whose name it does not read (not *.prom), synced, then renamed over
// xvs.prom, and the directory synced, so a reader sees the old file or
// the new one, whole, even across a crash. On error the old file stays.
func WriteTextfile(dir string, g prometheus.Gatherer) (err error) {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+TextfileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriter(tmp)
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	// CreateTemp makes it 0600; node_exporter often runs as another user.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write metrics: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, TextfileName)); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write metrics: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write metrics: sync %s: %w", dir, err)
	}
	return nil
}
