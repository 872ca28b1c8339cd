package deps

import (
	_ "embed"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
)

// ListFile is the list's path from the repository's root.
const ListFile = "tests/deps/programs.list"

// The package column's values for programs that no Debian package of the
// list provides.
const (
	// Project marks the repository's own programs and scripts (xvsadm,
	// test binaries, scripts/*.sh): built or checked out, never installed.
	Project = "=project"
	// Operator marks the Go toolchain, installed by hand by the operator
	// before anything else (README): the one exemption from the list.
	Operator = "=operator"
)

//go:embed programs.list
var listText string

// Program is one line of the list.
type Program struct {
	// Name is a command name, looked up in PATH; or an absolute path, a
	// file the build or a test needs (a header, /etc/services); or, for
	// the project's own, a path relative to the repository (with a /) or
	// the base name of a binary it builds.
	Name string
	// Package is the Debian package that owns the file, Project or Operator.
	Package string
	// Use says what runs or reads it.
	Use string
}

// ErrUnlisted is the error of a program the list does not name.
var ErrUnlisted = errors.New("not in " + ListFile + ": add it there with the Debian package that provides it")

// Parse reads a list: one program a line, NAME PACKAGE [what uses it],
// separated by blanks; # starts a comment line; blank lines are ignored.
func Parse(text string) ([]Program, error) {
	var list []Program
	seen := map[string]int{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("line %d: %q: want NAME PACKAGE [use]", i+1, line)
		}
		p := Program{Name: f[0], Package: f[1], Use: strings.Join(f[2:], " ")}
		if strings.HasPrefix(p.Package, "=") && p.Package != Project && p.Package != Operator {
			return nil, fmt.Errorf("line %d: package %q: want a Debian package, %s or %s", i+1, p.Package, Project, Operator)
		}
		if path.IsAbs(p.Name) && p.Package == Project {
			return nil, fmt.Errorf("line %d: %s: a project file is named from the repository's root, not by an absolute path", i+1, p.Name)
		}
		if prev, ok := seen[p.Name]; ok {
			return nil, fmt.Errorf("line %d: %s listed twice (first on line %d)", i+1, p.Name, prev)
		}
		seen[p.Name] = i + 1
		list = append(list, p)
	}
	if len(list) == 0 {
		return nil, errors.New("empty list")
	}
	return list, nil
}

// List returns the embedded list, or why it does not parse.
var List = sync.OnceValues(func() ([]Program, error) {
	l, err := Parse(listText)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ListFile, err)
	}
	return l, nil
})

// Lookup finds the entry that covers name, a program as code runs it: a
// bare name, or a path. A bare entry covers the name and any path ending
// in /name (/usr/sbin/ip, a copy in the test VM, a binary the tests built
// in a temporary directory); an entry with a / covers exactly that path or
// a path ending in /entry (scripts/vm/run.sh from any checkout).
func Lookup(list []Program, name string) (Program, bool) {
	for _, p := range list {
		if name == p.Name {
			return p, true
		}
		if strings.Contains(p.Name, "/") {
			if !path.IsAbs(p.Name) && strings.HasSuffix(name, "/"+p.Name) {
				return p, true
			}
			continue
		}
		if strings.Contains(name, "/") && path.Base(name) == p.Name {
			return p, true
		}
	}
	return Program{}, false
}

// Check says whether code may run name: nil when the list covers it.
func Check(name string) error {
	list, err := List()
	if err != nil {
		return err
	}
	if _, ok := Lookup(list, name); !ok {
		return fmt.Errorf("program %q: %w", name, ErrUnlisted)
	}
	return nil
}
