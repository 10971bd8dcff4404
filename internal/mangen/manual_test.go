package main

// The manual and the code must agree. These tests read the manual's Markdown
// sources and the Go sources of the packages it documents (parsed, not
// compiled, so that they hold while the root package is being edited) and
// check the conventions written down in man/README.md:
//
//   - every name of package sdevent that the manual writes in `code` exists;
//   - every exported function, type, constant, variable and method of package
//     sdevent (for GOOS=linux) is named on some page;
//   - every func and type line of a SYNOPSIS is the declaration in the code;
//   - the per-function pages have the sections in the usual order, and their
//     HISTORY sections name every function of sd-event.h;
//   - every EXAMPLE is a gofmt'ed program that compiles against the module.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/build"
	"go/format"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const modulePath = "github.com/go-sdevent/sdevent"

// root is the repository root, seen from this package's directory.
var root = filepath.Join("..", "..")

// goPackage is what the manual may refer to in one package: its exported
// names and, per exported type, its exported methods and fields.
type goPackage struct {
	top     map[string]bool            // functions, types, constants, variables
	members map[string]map[string]bool // type -> methods and fields
	methods map[string]bool            // "Type.Method", exported types only
	decls   map[string]string          // "Func", "Type.Method" or "type T" -> the declaration's first line
}

// loadPackage parses the non-test Go files of the package in dir that build
// on linux/amd64.
func loadPackage(t *testing.T, dir string) *goPackage {
	t.Helper()
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = "linux", "amd64", false
	bp, err := ctx.ImportDir(dir, 0)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	p := &goPackage{top: map[string]bool{}, members: map[string]map[string]bool{},
		methods: map[string]bool{}, decls: map[string]string{}}
	fset := token.NewFileSet()
	member := func(typ, name string) {
		if p.members[typ] == nil {
			p.members[typ] = map[string]bool{}
		}
		p.members[typ][name] = true
	}
	show := func(node any) string {
		var b bytes.Buffer
		if err := (&printer.Config{Mode: printer.UseSpaces, Tabwidth: 8}).Fprint(&b, fset, node); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				sig := show(&ast.FuncDecl{Recv: d.Recv, Name: d.Name, Type: d.Type})
				if d.Recv == nil {
					p.top[d.Name.Name] = true
					p.decls[d.Name.Name] = sig
					continue
				}
				typ := d.Recv.List[0].Type
				if star, ok := typ.(*ast.StarExpr); ok {
					typ = star.X
				}
				if id, ok := typ.(*ast.Ident); ok && id.IsExported() {
					member(id.Name, d.Name.Name)
					p.methods[id.Name+"."+d.Name.Name] = true
					p.decls[id.Name+"."+d.Name.Name] = sig
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						p.top[s.Name.Name] = true
						decl := "type " + show(&ast.TypeSpec{Name: s.Name, Assign: s.Assign, Type: s.Type})
						p.decls["type "+s.Name.Name], _, _ = strings.Cut(decl, "\n")
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, fld := range st.Fields.List {
								for _, n := range fld.Names {
									if n.IsExported() {
										member(s.Name.Name, n.Name)
									}
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								p.top[n.Name] = true
							}
						}
					}
				}
			}
		}
	}
	return p
}

// manual is the parsed Markdown of man/: pages and README.
type manual struct {
	files []*mdFile
}

type mdFile struct {
	name     string // "sd_event_add_io.3.md"
	page     bool   // a NAME.SECTION.md page, not README.md
	spans    []span // inline code, outside code blocks
	blocks   []block
	sections []string // the ## headings, in order
	oddLines []int    // lines with an unpaired backtick
}

type span struct {
	text, section string
	line          int
}

type block struct {
	lines   []string
	section string
	line    int // of the first line inside the fence
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

func readManual(t *testing.T) *manual {
	t.Helper()
	dir := filepath.Join(root, "man")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := &manual{}
	for _, ent := range entries {
		page := sourceName.MatchString(ent.Name())
		if !page && ent.Name() != "README.md" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		f := &mdFile{name: ent.Name(), page: page}
		lines := strings.Split(string(b), "\n")
		section := ""
		for i := 0; i < len(lines); i++ {
			line := lines[i]
			if strings.HasPrefix(line, "```") {
				end := i + 1
				for end < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[end]), "```") {
					end++
				}
				f.blocks = append(f.blocks, block{lines: lines[i+1 : min(end, len(lines))], section: section, line: i + 2})
				i = end
				continue
			}
			if h, ok := strings.CutPrefix(line, "## "); ok {
				section = strings.TrimSpace(h)
				f.sections = append(f.sections, section)
			}
			if strings.Count(line, "`")%2 != 0 {
				f.oddLines = append(f.oddLines, i+1)
			}
			for _, sm := range codeSpan.FindAllStringSubmatch(line, -1) {
				f.spans = append(f.spans, span{text: sm[1], section: section, line: i + 1})
			}
		}
		m.files = append(m.files, f)
	}
	if len(m.files) < 2 {
		t.Fatalf("no pages in %s", dir)
	}
	return m
}

// The parts of a reference: a dotted chain of identifiers such as
// "Source.SetEnabled", "source.On" or "AddIO".
var (
	chainRE   = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*`)
	goNameRE  = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$`) // mixed case, no underscore
	qualified = regexp.MustCompile(`\b(sdevent|source|priority|exitcode)\.([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?`)
)

// checker resolves references against the packages.
type checker struct {
	root *goPackage
	pkgs map[string]*goPackage // "sdevent", "source", "priority", "exitcode"
	seen map[string]bool       // names of package sdevent the manual documents
}

func newChecker(t *testing.T) *checker {
	c := &checker{pkgs: map[string]*goPackage{}, seen: map[string]bool{}}
	c.root = loadPackage(t, root)
	c.pkgs["sdevent"] = c.root
	for _, p := range []string{"source", "priority", "exitcode"} {
		c.pkgs[p] = loadPackage(t, filepath.Join(root, p))
	}
	return c
}

// isMember reports whether name is a method or field of some type of the
// root package.
func (c *checker) isMember(name string) bool {
	for _, ms := range c.root.members {
		if ms[name] {
			return true
		}
	}
	return false
}

// qualifiedRef checks pkg.Name[.Member]; it returns "" or the problem.
func (c *checker) qualifiedRef(pkg, name, member string) string {
	p := c.pkgs[pkg]
	if !p.top[name] {
		return fmt.Sprintf("%s.%s does not exist", pkg, name)
	}
	if member != "" && p.members[name] != nil && !p.members[name][member] {
		return fmt.Sprintf("%s.%s.%s does not exist", pkg, name, member)
	}
	if pkg == "sdevent" {
		c.seen[name] = true
		if member != "" {
			c.seen[name+"."+member] = true
		}
	}
	return ""
}

// inlineRefs checks the references in one inline code span.
func (c *checker) inlineRefs(text string) []string {
	var problems []string
	for _, loc := range chainRE.FindAllStringIndex(text, -1) {
		chain := text[loc[0]:loc[1]]
		if strings.HasPrefix(text[loc[1]:], "=") {
			continue // a unit setting or an environment variable: WatchdogSec=, FOO=1
		}
		parts := strings.Split(chain, ".")
		head := parts[0]
		switch {
		case c.pkgs[head] != nil && len(parts) > 1:
			member := ""
			if len(parts) > 2 {
				member = parts[2]
			}
			if p := c.qualifiedRef(head, parts[1], member); p != "" {
				problems = append(problems, p)
			}
		case !goNameRE.MatchString(head):
			// A C name, an errno, a flag, a variable: not ours.
		case len(parts) == 1:
			if c.root.top[head] {
				c.seen[head] = true
			} else if !c.isMember(head) {
				problems = append(problems, fmt.Sprintf("%s is neither a name nor a method or field of package sdevent", head))
			}
		case c.root.top[head]:
			c.seen[head] = true
			if ms := c.root.members[head]; !ms[parts[1]] {
				problems = append(problems, fmt.Sprintf("%s.%s does not exist", head, parts[1]))
			} else {
				c.seen[head+"."+parts[1]] = true
			}
		default:
			problems = append(problems, fmt.Sprintf("%s is not a type of package sdevent (write other packages' names qualified)", chain))
		}
	}
	return problems
}

// synopsisDecl matches the lines of a SYNOPSIS that declare something.
var (
	funcLine  = regexp.MustCompile(`^func (?:\([a-z]+ \*?([A-Z][A-Za-z0-9]*)\) )?([A-Z][A-Za-z0-9]*)\(`)
	typeLine  = regexp.MustCompile(`^type ([A-Z][A-Za-z0-9]*) `)
	constLine = regexp.MustCompile(`^([A-Z][A-Za-z0-9]*)(?:\s+[A-Za-z][A-Za-z0-9.]*)?\s*=`) // in a const ( ... ) block
)

// blockPackage matches the first line of a SYNOPSIS block that declares
// names of another package than sdevent: "// package source".
var blockPackage = regexp.MustCompile(`^// package ([a-z]+)\b`)

// blockRefs checks a code block: declarations in a SYNOPSIS against the
// code, and qualified names anywhere.
func (c *checker) blockRefs(b block) []string {
	var problems []string
	pkg, pkgName := c.root, "sdevent"
	if len(b.lines) > 0 {
		if m := blockPackage.FindStringSubmatch(strings.TrimSpace(b.lines[0])); m != nil {
			if pkg = c.pkgs[m[1]]; pkg == nil {
				return []string{fmt.Sprintf("package %s is not one the manual documents", m[1])}
			}
			pkgName = m[1]
		}
	}
	seen := func(name string) {
		if pkgName == "sdevent" {
			c.seen[name] = true
		}
	}
	for _, line := range b.lines {
		line = strings.TrimSpace(line)
		if b.section == "SYNOPSIS" {
			if m := funcLine.FindStringSubmatch(line); m != nil {
				key := m[2]
				if m[1] != "" {
					key = m[1] + "." + m[2]
				}
				if want, ok := pkg.decls[key]; !ok {
					problems = append(problems, fmt.Sprintf("%s.%s does not exist", pkgName, key))
				} else if got := stripComment(line); got != want {
					problems = append(problems, fmt.Sprintf("synopsis %q, code %q", got, want))
				} else {
					seen(key)
				}
				continue
			}
			if m := typeLine.FindStringSubmatch(line); m != nil {
				want, ok := pkg.decls["type "+m[1]]
				switch got := stripComment(line); {
				case !ok:
					problems = append(problems, fmt.Sprintf("type %s.%s does not exist", pkgName, m[1]))
				case strings.HasSuffix(want, "{") && strings.HasPrefix(got, strings.TrimSpace(strings.TrimSuffix(want, "{"))):
					// A struct or interface: its fields are not checked.
					seen(m[1])
				case got != want:
					problems = append(problems, fmt.Sprintf("synopsis %q, code %q", got, want))
				default:
					seen(m[1])
				}
				continue
			}
			if m := constLine.FindStringSubmatch(line); m != nil {
				if !pkg.top[m[1]] {
					problems = append(problems, fmt.Sprintf("%s.%s does not exist", pkgName, m[1]))
				} else {
					seen(m[1])
				}
				continue
			}
		}
		for _, m := range qualified.FindAllStringSubmatch(stripComment(line), -1) {
			if p := c.qualifiedRef(m[1], m[2], m[3]); p != "" {
				problems = append(problems, p)
			}
		}
	}
	return problems
}

// stripComment drops a trailing // comment and spaces.
func stripComment(line string) string {
	if i := strings.Index(line, "//"); i >= 0 && !strings.Contains(line[:i], `"`) {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}

// checkManual returns the problems of the manual against the code: names
// that do not exist, and names of package sdevent that no page documents.
func checkManual(c *checker, m *manual) (wrong, missing []string) {
	for _, f := range m.files {
		for _, n := range f.oddLines {
			wrong = append(wrong, fmt.Sprintf("man/%s:%d: a code span must not run over the end of the line", f.name, n))
		}
		for _, s := range f.spans {
			for _, p := range c.inlineRefs(s.text) {
				wrong = append(wrong, fmt.Sprintf("man/%s:%d: `%s`: %s", f.name, s.line, s.text, p))
			}
		}
		for _, b := range f.blocks {
			for _, p := range c.blockRefs(b) {
				wrong = append(wrong, fmt.Sprintf("man/%s:%d: %s", f.name, b.line, p))
			}
		}
		if !f.page {
			// README.md must name only what exists, but does not count
			// as documentation: a reader of man(1) never sees it.
			clear(c.seen)
		}
	}
	var want []string
	for name := range c.root.top {
		want = append(want, name)
	}
	for name := range c.root.methods {
		want = append(want, name)
	}
	sort.Strings(want)
	for _, name := range want {
		if !c.seen[name] {
			missing = append(missing, name)
		}
	}
	return wrong, missing
}

// TestManualMatchesCode fails when the manual names something package
// sdevent lacks, or when an exported name of package sdevent is on no page.
func TestManualMatchesCode(t *testing.T) {
	m := readManual(t)
	// README.md comes first so that what it names is forgotten before the
	// pages are read.
	sort.SliceStable(m.files, func(i, j int) bool { return !m.files[i].page && m.files[j].page })
	wrong, missing := checkManual(newChecker(t), m)
	for _, w := range wrong {
		t.Error(w)
	}
	for _, name := range missing {
		t.Errorf("%s is exported by package sdevent but no page in man/ names it: add it to the page of its C counterpart (see man/README.md)", name)
	}
}

// TestManualChecksCatch shows that the checks above fail when they should: a
// method added to the code without a page, a page naming a method that does
// not exist, a synopsis that differs from the code.
func TestManualChecksCatch(t *testing.T) {
	m := readManual(t)
	sort.SliceStable(m.files, func(i, j int) bool { return !m.files[i].page && m.files[j].page })

	c := newChecker(t)
	c.root.methods["Source.Frobnicate"] = true
	c.root.members["Source"]["Frobnicate"] = true
	if _, missing := checkManual(c, m); !contains(missing, "Source.Frobnicate") {
		t.Errorf("an undocumented method went unnoticed; missing = %v", missing)
	}

	c = newChecker(t)
	bogus := &mdFile{name: "x.3.md", page: true,
		spans:  []span{{text: "Source.Frobnicate(true)", line: 1}, {text: "Frobnicate", line: 2}, {text: "source.Sometimes", line: 3}, {text: "Evnt.AddIO", line: 4}},
		blocks: []block{{section: "SYNOPSIS", lines: []string{"func (e *Event) AddIO(fd int) error"}, line: 5}}}
	all, _ := checkManual(c, &manual{files: append(m.files, bogus)})
	var wrong []string
	for _, w := range all {
		if strings.HasPrefix(w, "man/x.3.md:") {
			wrong = append(wrong, w)
		}
	}
	if len(wrong) != 5 {
		t.Errorf("want 5 problems with a bogus page, got %d: %q", len(wrong), wrong)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The sections of a page on a group of C functions, in order; NOTES may come
// anywhere after DESCRIPTION. HISTORY says, as the C pages of systemd 262
// do, in which systemd version each C function came.
var pageSections = []string{"NAME", "SYNOPSIS", "DESCRIPTION", "ERRORS", "DIFFERENCES FROM C", "EXAMPLE", "HISTORY", "SEE ALSO"}

func TestPageSections(t *testing.T) {
	for _, f := range readManual(t).files {
		if !f.page || !strings.HasPrefix(f.name, "sd_event_") {
			continue
		}
		var got []string
		for _, s := range f.sections {
			if s != "NOTES" {
				got = append(got, s)
			}
		}
		if strings.Join(got, "|") != strings.Join(pageSections, "|") {
			t.Errorf("man/%s: sections %q, want %q (and NOTES, if any)", f.name, f.sections, pageSections)
		}
	}
}

// TestExamplesCompile builds every EXAMPLE of every page as a program of
// its own inside the module, through an overlay (nothing is written to the
// tree), and checks that it is gofmt'ed.
func TestExamplesCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	overlay := map[string]string{}
	var pkgs []string
	where := map[string]string{}
	for _, f := range readManual(t).files {
		n := 0
		for _, b := range f.blocks {
			if b.section != "EXAMPLE" {
				continue
			}
			n++
			src := strings.Join(b.lines, "\n") + "\n"
			if !strings.HasPrefix(src, "package main\n") {
				t.Errorf("man/%s:%d: an EXAMPLE must be a whole program, starting with \"package main\"", f.name, b.line)
				continue
			}
			if formatted, err := format.Source([]byte(src)); err != nil {
				t.Errorf("man/%s:%d: %v", f.name, b.line, err)
				continue
			} else if !bytes.Equal(formatted, []byte(src)) {
				t.Errorf("man/%s:%d: the example is not gofmt'ed", f.name, b.line)
			}
			dir := fmt.Sprintf("manexample_%s_%d", strings.NewReplacer(".", "_", "-", "_").Replace(strings.TrimSuffix(f.name, ".md")), n)
			file := filepath.Join(tmp, dir+".go")
			if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			overlay[filepath.Join(abs, "internal", "mangen", dir, "main.go")] = file
			pkg := modulePath + "/internal/mangen/" + dir
			pkgs = append(pkgs, pkg)
			where[pkg] = fmt.Sprintf("man/%s:%d", f.name, b.line)
		}
		if f.page && strings.HasPrefix(f.name, "sd_event_") && n == 0 {
			t.Errorf("man/%s has no example", f.name)
		}
	}
	if len(pkgs) == 0 {
		return
	}
	js, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		t.Fatal(err)
	}
	ovFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovFile, js, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"build", "-overlay=" + ovFile, "-o", filepath.Join(tmp, "bin") + string(filepath.Separator)}, pkgs...)
	cmd := exec.Command(goCmd, args...)
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	// Name the page of each error instead of the overlay's file.
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		for pkg, page := range where {
			dir := pkg[strings.LastIndex(pkg, "/")+1:]
			line = strings.ReplaceAll(line, pkg, page)
			line = strings.ReplaceAll(line, filepath.Join(tmp, dir+".go"), page+" (example line)")
		}
		t.Error(line)
	}
	t.Errorf("go build of the examples: %v", err)
}

// TestHistoryNamesEveryFunction fails when a function of sd-event.h, as of
// systemd 262, is named in the HISTORY section of no page, which would leave
// a reader without the systemd version that added it.
func TestHistoryNamesEveryFunction(t *testing.T) {
	inHistory := map[string]bool{}
	for _, f := range readManual(t).files {
		for _, s := range f.spans {
			if s.section == "HISTORY" {
				inHistory[s.text] = true
			}
		}
	}
	for _, name := range headerFunctions(t) {
		if !inHistory[name] {
			t.Errorf("%s (sd-event.h, systemd 262) is in no HISTORY section of man/: say which systemd version added it", name)
		}
	}
}

// headerFunctions returns the names of testdata/sd-event-262.functions.
func headerFunctions(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sd-event-262.functions"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, name := range strings.Split(string(b), "\n") {
		if name = strings.TrimSpace(name); name != "" && !strings.HasPrefix(name, "#") {
			names = append(names, name)
		}
	}
	if len(names) < 90 {
		t.Fatalf("testdata/sd-event-262.functions lists %d functions; sd-event.h of 262 declares 93", len(names))
	}
	return names
}

// TestHeaderFunctionsInReadme fails when a function of sd-event.h, as of
// systemd 262 (testdata/sd-event-262.functions, the names only, taken from
// the header of libsystemd-dev 262.1), has no row in the sd-event.h tables of
// man/README.md, which give its Go counterpart or why there is none.
func TestHeaderFunctionsInReadme(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "man", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// A function is in a table when a row's first cell names it in code.
	inTable := map[string]bool{}
	cell := regexp.MustCompile("`(sd_event[a-z_]*)`")
	for _, line := range strings.Split(string(readme), "\n") {
		if !strings.HasPrefix(line, "| `sd_event") {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "|"), "|")
		for _, m := range cell.FindAllStringSubmatch(first, -1) {
			inTable[m[1]] = true
		}
	}
	for _, name := range headerFunctions(t) {
		if !inTable[name] {
			t.Errorf("%s (sd-event.h, systemd 262) has no row in man/README.md's sd-event.h tables: add its Go counterpart or why it has none", name)
		}
	}
}
