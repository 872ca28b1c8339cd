// Command depscan prints every program the repository runs (and every
// system header it includes) that a list does not name, and every place
// Go code runs a program without deps.Command; it exits 1 when there is
// any. scripts/check-deps.sh runs it before the tests.
//
//	go run ./tests/deps/cmd/depscan [-list FILE] [-root DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/xvs-lb/xvs/tests/deps"
	"github.com/xvs-lb/xvs/tests/deps/scan"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("depscan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listFile := fs.String("list", deps.ListFile, "the list of programs")
	root := fs.String("root", ".", "the repository's root")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	text, err := os.ReadFile(*listFile)
	if err != nil {
		fmt.Fprintf(stderr, "depscan: %v\n", err)
		return 2
	}
	list, err := deps.Parse(string(text))
	if err != nil {
		fmt.Fprintf(stderr, "depscan: %s: %v\n", *listFile, err)
		return 2
	}
	r, err := scan.Scan(*root)
	if err != nil {
		fmt.Fprintf(stderr, "depscan: %v\n", err)
		return 2
	}
	bad := 0
	for _, v := range r.Violations {
		fmt.Fprintf(stdout, "%s: %s\n", v.Where, v.What)
		bad++
	}
	for _, u := range r.Unlisted(list) {
		msg := strings.Replace(u.String(), deps.ListFile, *listFile, 1)
		fmt.Fprintf(stdout, "%s; %s\n", msg, provider(u.Program))
		bad++
	}
	if bad > 0 {
		return 1
	}
	fmt.Fprintf(stdout, "depscan: every program the code runs is in %s (%d uses)\n", *listFile, len(r.Uses))
	return 0
}

// provider says which package provides prog on this machine, if any, for
// the line to add to the list.
func provider(prog string) string {
	p := prog
	if !filepath.IsAbs(prog) {
		var err error
		if p, err = exec.LookPath(filepath.Base(prog)); err != nil {
			return "not installed here: add it with the Debian package that provides it"
		}
	} else if _, err := os.Stat(p); err != nil {
		return "not on this machine: add it with the Debian package that provides it"
	}
	cands := []string{p}
	if real, err := filepath.EvalSymlinks(p); err == nil && real != p {
		cands = append(cands, real)
	}
	out, _ := deps.Command(context.Background(), "dpkg-query", append([]string{"-S"}, cands...)...).Output()
	for _, line := range strings.Split(string(out), "\n") {
		if pkgs, _, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, "diversion ") {
			pkg, _, _ := strings.Cut(strings.Split(pkgs, ",")[0], ":")
			name := prog
			if strings.Contains(filepath.Dir(prog), "bin") {
				name = filepath.Base(prog) // a program, looked up in PATH
			}
			return fmt.Sprintf("here %s comes from package %s: add `%s %s` to the list", p, pkg, name, pkg)
		}
	}
	return fmt.Sprintf("here %s belongs to no package: add it with the Debian package that provides it", p)
}
