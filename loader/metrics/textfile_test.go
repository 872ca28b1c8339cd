package metrics

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteTextfile: the file holds every family once, is readable by
// node_exporter's user, and a failed write leaves the previous file and
// no temporary one.
func TestWriteTextfile(t *testing.T) {
	dir := t.TempDir()
	ok, err := NewRegistry(fixed(mixedSnapshot()))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTextfile(dir, ok); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, TextfileName)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := render(t, fixed(mixedSnapshot()), ""); string(got) != want {
		t.Errorf("%s:\n%s\nwant:\n%s", path, got, want)
	}
	parse(t, string(got))
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("%s: mode %v (%v), want 0644", path, fi.Mode(), err)
	}

	bad, err := NewRegistry(SourceFunc(func() (*Snapshot, error) { return nil, errors.New("state unreadable") }))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTextfile(dir, bad); err == nil {
		t.Fatal("WriteTextfile of a failed snapshot: no error")
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(got) {
		t.Errorf("a failed write changed %s", path)
	}
	if err := WriteTextfile(filepath.Join(dir, "missing"), ok); err == nil {
		t.Error("WriteTextfile into a missing directory: no error")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want only %s", names, TextfileName)
	}
}
