// Package scan finds every program the repository's code runs (Go, shell
// scripts, the Makefile, go:generate lines) and every system header the
// datapath includes, so that scripts/check-deps.sh and TestEveryProgramListed
// can fail on one that tests/deps/programs.list does not name.
package scan

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/xvs-lb/xvs/tests/deps"
)

// Use is a place where the repository runs, or needs, something from
// outside it: a program (a name or a path, as written) or a file.
type Use struct {
	Program string
	Where   string // file:line, from the repository's root
}

// Violation is code the scan cannot vouch for: Go that runs a program
// without Command, or a shell command whose name is not a literal and is
// not one of DynamicCommands.
type Violation struct {
	Where, What string
}

// Report is what Scan found.
type Report struct {
	Uses       []Use
	Violations []Violation
}

// Unlisted is a program the code runs that the list does not cover.
type Unlisted struct {
	Program string
	Where   []string // file:line of every use
}

// Unlisted returns the programs the report found that list does not
// cover, in the order first found.
func (r *Report) Unlisted(list []deps.Program) []Unlisted {
	var out []Unlisted
	idx := map[string]int{}
	for _, u := range r.Uses {
		if _, ok := deps.Lookup(list, u.Program); ok {
			continue
		}
		i, ok := idx[u.Program]
		if !ok {
			i = len(out)
			idx[u.Program] = i
			out = append(out, Unlisted{Program: u.Program})
		}
		out[i].Where = append(out[i].Where, u.Where)
	}
	return out
}

// String says what runs the program and where it must be added.
func (u Unlisted) String() string {
	where := strings.Join(u.Where, ", ")
	if len(u.Where) > 3 {
		where = fmt.Sprintf("%s and %d more", strings.Join(u.Where[:3], ", "), len(u.Where)-3)
	}
	return fmt.Sprintf("%s: run by %s, but not in %s", u.Program, where, deps.ListFile)
}

// DynamicCommands are the shell command words, by script, that are not a
// literal name, each with the program it runs (a use of that program). A
// new one must be added here.
var DynamicCommands = map[string]map[string]string{
	"scripts/bench-control.sh": {
		`"$BIN"`: "xvsadm", // $XVSADM, else bin/xvsadm
		`"$@"`:   "xvsadm", // measure's command: "$BIN" ...
	},
	"scripts/vm/run.sh": {
		`"$ir/bin/busybox"`: "busybox", // the host's busybox, copied into the initramfs
	},
}

// skipDirs are not scanned: version control, caches, build outputs, test data.
var skipDirs = map[string]bool{".git": true, ".cache": true, "bin": true, "testdata": true, "node_modules": true}

// Scan reads the repository at root: every Go file (see scanGo), every
// shell script (*.sh, .ci/run), the Makefile's recipes, the //go:generate
// lines and the C sources' system headers.
func Scan(root string) (*Report, error) {
	r := &Report{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && skipDirs[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(rel, ".go"):
			return r.scanGo(p, rel)
		case strings.HasSuffix(rel, ".sh") || rel == ".ci/run":
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return r.scanShell(rel, src, 0)
		case rel == "Makefile":
			return r.scanMakefile(p, rel)
		case strings.HasPrefix(rel, "bpf/") && (strings.HasSuffix(rel, ".c") || strings.HasSuffix(rel, ".h")):
			return r.scanC(p, rel)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(r.Uses, func(i, j int) bool {
		if r.Uses[i].Where != r.Uses[j].Where {
			return r.Uses[i].Where < r.Uses[j].Where
		}
		return r.Uses[i].Program < r.Uses[j].Program
	})
	r.Uses = slices.Compact(r.Uses) // a command word that is also a literal path
	return r, nil
}

func (r *Report) use(prog, where string) { r.Uses = append(r.Uses, Use{Program: prog, Where: where}) }

func (r *Report) violation(where, format string, a ...any) {
	r.Violations = append(r.Violations, Violation{Where: where, What: fmt.Sprintf(format, a...)})
}

// binPath is a literal that names a program by its absolute path.
var binPath = regexp.MustCompile(`^/(usr/)?s?bin/[A-Za-z0-9._+-]+$`)

// scanGo checks one Go file. Anywhere: exec.Command, exec.CommandContext,
// exec.Cmd literals, os.StartProcess, syscall.Exec/ForkExec/StartProcess
// and unix.Exec are violations outside this package's command.go; the
// literal program of deps.Command, LookPath and Check is a use. In the
// test trees (tests/), where programs run through wrappers of Command
// (topo's Netns.Command and Run, the VM tests' box.run...), the literal
// second argument of a Command or Run method whose first is not a literal
// (n.Run(ctx, "iperf3", ...); subtests, with a function argument, are not
// runs) and every literal absolute path into a bin directory are uses
// too. Wrappers that take the program elsewhere are covered at run time:
// Command refuses what the list does not cover.
func (r *Report) scanGo(p, rel string) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, p, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return err
	}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "//go:generate ") {
				r.scanGenerate(strings.TrimPrefix(c.Text, "//go:generate "), fmt.Sprintf("%s:%d", rel, fset.Position(c.Pos()).Line))
			}
		}
	}
	names := map[string]string{} // import path -> local name
	for _, im := range f.Imports {
		ip, _ := strconv.Unquote(im.Path.Value)
		local := ip[strings.LastIndex(ip, "/")+1:]
		if im.Name != nil {
			local = im.Name.Name
		}
		names[ip] = local
	}
	forbidden := map[string]map[string]bool{}
	add := func(ip string, fns ...string) {
		if local, ok := names[ip]; ok {
			forbidden[local] = map[string]bool{}
			for _, fn := range fns {
				forbidden[local][fn] = true
			}
		}
	}
	add("os/exec", "Command", "CommandContext")
	add("os", "StartProcess")
	add("syscall", "Exec", "ForkExec", "StartProcess")
	add("golang.org/x/sys/unix", "Exec")
	helper := rel == "tests/deps/command.go"
	depsName, inDeps := names["github.com/xvs-lb/xvs/tests/deps"]
	execName, hasExec := names["os/exec"]
	// The test trees, but not the scanner's own tests, whose literals are
	// sources to scan.
	tests := strings.HasPrefix(rel, "tests/") && !strings.HasPrefix(rel, "tests/deps/")
	at := func(n ast.Node) string { return fmt.Sprintf("%s:%d", rel, fset.Position(n.Pos()).Line) }
	lit := func(e ast.Expr) (string, bool) {
		b, ok := e.(*ast.BasicLit)
		if !ok || b.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(b.Value)
		return s, err == nil
	}
	counted := map[token.Pos]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if sel, ok := n.Type.(*ast.SelectorExpr); ok && hasExec && !helper {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == execName && sel.Sel.Name == "Cmd" {
					r.violation(at(n), "an exec.Cmd literal runs a program outside deps.Command")
				}
			}
		case *ast.BasicLit:
			if s, ok := lit(n); ok && tests && binPath.MatchString(s) && !counted[n.Pos()] {
				counted[n.Pos()] = true
				r.use(s, at(n))
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok {
				if forbidden[x.Name][sel.Sel.Name] {
					if !helper {
						r.violation(at(n), "%s.%s runs a program outside deps.Command (tests/deps): use deps.Command, which checks the program against %s", x.Name, sel.Sel.Name, deps.ListFile)
					}
					return true
				}
				if inDeps && x.Name == depsName {
					i := -1
					switch sel.Sel.Name {
					case "Command":
						i = 1
					case "LookPath", "Check":
						i = 0
					}
					if i >= 0 && i < len(n.Args) {
						if s, ok := lit(n.Args[i]); ok {
							counted[n.Args[i].Pos()] = true
							r.use(s, at(n))
						}
					}
					return true
				}
			}
			if !tests || (sel.Sel.Name != "Command" && sel.Sel.Name != "Run") || len(n.Args) < 2 {
				return true
			}
			if _, ok := lit(n.Args[0]); ok {
				return true
			}
			for _, a := range n.Args {
				if _, ok := a.(*ast.FuncLit); ok {
					return true
				}
			}
			if s, ok := lit(n.Args[1]); ok && !counted[n.Args[1].Pos()] {
				counted[n.Args[1].Pos()] = true
				r.use(s, at(n))
			}
		}
		return true
	})
	return nil
}

// scanGenerate reads a //go:generate line: the Go toolchain runs it, and
// bpf2go runs its -cc compiler and the matching llvm-strip (its default:
// llvm-strip with the compiler's version suffix, or -strip).
func (r *Report) scanGenerate(line, where string) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return
	}
	r.use(f[0], where)
	if !strings.Contains(line, "bpf2go") {
		return
	}
	cc, strip := "clang", ""
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "-cc":
			cc = f[i+1]
		case "-strip":
			strip = f[i+1]
		}
	}
	if strip == "" {
		strip = "llvm-strip" + strings.TrimPrefix(cc, "clang")
	}
	r.use(cc, where)
	r.use(strip, where)
}

// include is a C system header.
var include = regexp.MustCompile(`^\s*#\s*include\s*<([^>]+)>`)

// scanC reads the system headers a BPF source includes: each is looked up
// in /usr/include and the multiarch directory bpf2go is given (-I), and
// the use is that file's path, which a list entry must cover.
func (r *Report) scanC(p, rel string) error {
	src, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		m := include.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		h := "/usr/include/" + m[1]
		if _, err := os.Stat(h); err != nil {
			if _, err := os.Stat("/usr/include/x86_64-linux-gnu/" + m[1]); err == nil {
				h = "/usr/include/x86_64-linux-gnu/" + m[1]
			}
		}
		r.use(h, fmt.Sprintf("%s:%d", rel, n))
	}
	return sc.Err()
}

// makeVar is a Makefile variable assignment.
var makeVar = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*(?::=|\?=|=)\s*(.*)$`)

// makeRef is a $(NAME) reference.
var makeRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// scanMakefile reads the recipes of a Makefile as shell, with the
// Makefile's own variables expanded ($(GO) is go) and $$ as $.
func (r *Report) scanMakefile(p, rel string) error {
	src, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	vars := map[string]string{}
	lines := strings.Split(string(src), "\n")
	for _, l := range lines {
		if m := makeVar.FindStringSubmatch(l); m != nil {
			vars[m[1]] = m[2]
		}
	}
	expand := func(s string) string {
		for range 4 {
			s = makeRef.ReplaceAllStringFunc(s, func(ref string) string {
				if v, ok := vars[ref[2:len(ref)-1]]; ok {
					return v
				}
				return "MAKEVAR" // $(CURDIR) and the like: a word, never a command
			})
		}
		return strings.ReplaceAll(s, "$$", "$")
	}
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "\t") {
			continue
		}
		start, cmd := i, strings.TrimSpace(lines[i])
		for strings.HasSuffix(cmd, "\\") && i+1 < len(lines) {
			i++
			cmd = strings.TrimSuffix(cmd, "\\") + " " + strings.TrimSpace(lines[i])
		}
		cmd = strings.TrimLeft(cmd, "@-+")
		if err := r.scanShell(rel, []byte(expand(cmd)+"\n"), start); err != nil {
			return err
		}
	}
	return nil
}

// shellBuiltins are commands bash and dash run themselves.
var shellBuiltins = map[string]bool{
	".": true, ":": true, "[": true, "alias": true, "bg": true, "break": true, "builtin": true,
	"cd": true, "command": true, "continue": true, "declare": true, "echo": true, "eval": true,
	"exec": true, "exit": true, "export": true, "false": true, "fg": true, "getopts": true,
	"hash": true, "jobs": true, "kill": true, "let": true, "local": true, "mapfile": true,
	"printf": true, "pwd": true, "read": true, "readarray": true, "readonly": true, "return": true,
	"set": true, "shift": true, "source": true, "test": true, "times": true, "trap": true,
	"true": true, "type": true, "typeset": true, "ulimit": true, "umask": true, "unset": true, "wait": true,
}

// scanShell parses one script (bash) and records the program of every
// simple command, looking through the wrappers that run another program
// (exec, command, env, nsenter, time, timeout, xargs) and skipping
// builtins and the script's own functions; a command word that is not a
// literal must be in DynamicCommands. Literal absolute paths of programs
// and files (/usr/bin/time, /etc/services) are uses too. Here-documents
// are data (run.sh's init runs in the VM, on busybox and the copied
// binaries), not commands of the script. line0 offsets the line numbers
// (a Makefile recipe).
func (r *Report) scanShell(rel string, src []byte, line0 int) error {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(bytes.NewReader(src), rel)
	if err != nil {
		return fmt.Errorf("parse %s: %w", rel, err)
	}
	funcs := map[string]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		if fd, ok := n.(*syntax.FuncDecl); ok {
			funcs[fd.Name.Value] = true
		}
		return true
	})
	at := func(n syntax.Node) string { return fmt.Sprintf("%s:%d", rel, int(n.Pos().Line())+line0) }
	if line, _, _ := bytes.Cut(src, []byte("\n")); line0 == 0 && bytes.HasPrefix(line, []byte("#!")) {
		// The interpreter, and the one env runs.
		f := strings.Fields(string(line[2:]))
		if len(f) > 0 {
			r.use(f[0], rel+":1")
			if filepath.Base(f[0]) == "env" && len(f) > 1 {
				r.use(f[1], rel+":1")
			}
		}
	}
	text := func(w *syntax.Word) string {
		var b bytes.Buffer
		syntax.NewPrinter().Print(&b, w)
		return b.String()
	}
	var command func(words []*syntax.Word)
	command = func(words []*syntax.Word) {
		if len(words) == 0 {
			return
		}
		name := words[0].Lit()
		if name == "" {
			t := text(words[0])
			prog, ok := DynamicCommands[rel][t]
			if !ok {
				r.violation(at(words[0]), "command %s is not a literal name: run a listed program by name, or add it to scan.DynamicCommands with the program it runs", t)
				return
			}
			r.use(prog, at(words[0]))
			return
		}
		rest := words[1:]
		switch {
		case name == "exec":
			command(rest)
			return
		case name == "command":
			if len(rest) > 0 && (rest[0].Lit() == "-v" || rest[0].Lit() == "-V") {
				return // a lookup, not a run
			}
			command(rest)
			return
		case shellBuiltins[name] || funcs[name]:
			return
		}
		r.use(name, at(words[0]))
		switch filepath.Base(name) {
		case "env":
			for len(rest) > 0 && (strings.Contains(rest[0].Lit(), "=") || strings.HasPrefix(rest[0].Lit(), "-")) {
				rest = rest[1:]
			}
		case "nsenter", "xargs":
			for len(rest) > 0 && strings.HasPrefix(rest[0].Lit(), "-") {
				dd := rest[0].Lit() == "--"
				rest = rest[1:]
				if dd {
					break
				}
			}
		case "time":
			for len(rest) > 0 && strings.HasPrefix(rest[0].Lit(), "-") {
				o := rest[0].Lit()
				rest = rest[1:]
				if (o == "-f" || o == "-o") && len(rest) > 0 {
					rest = rest[1:]
				}
			}
		case "timeout":
			for len(rest) > 0 && strings.HasPrefix(rest[0].Lit(), "-") {
				o := rest[0].Lit()
				rest = rest[1:]
				if (o == "-s" || o == "-k") && len(rest) > 0 {
					rest = rest[1:]
				}
			}
			if len(rest) > 0 {
				rest = rest[1:] // the duration
			}
		default:
			return
		}
		command(rest)
	}
	var walk func(n syntax.Node) bool
	walk = func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Redirect:
			if n.Word != nil {
				syntax.Walk(n.Word, walk)
			}
			return false // a here-document's body is data
		case *syntax.CallExpr:
			command(n.Args)
		case *syntax.Word:
			if s := n.Lit(); binPath.MatchString(s) || sysFile.MatchString(s) {
				r.use(s, at(n))
			}
		}
		return true
	}
	syntax.Walk(f, walk)
	return nil
}

// sysFile is a literal that names a system file a script reads.
var sysFile = regexp.MustCompile(`^/(etc|lib|lib64|usr/lib|usr/share|usr/include)/[^/ *?[]+(/[^/ *?[]+)*$`)
