//go:build linux

package portable

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

const root = "github.com/go-sdevent/sdevent"

// packages are the packages whose API must be the same everywhere: the
// root package and the toolkit packages beside it (their stubs off Linux
// are *_others.go).
var packages = []string{root, root + "/sdnet", root + "/filewatch", root + "/supervise"}

// standIns are the only differences allowed between the Linux API and the
// API elsewhere: a type of x/sys/unix in a Linux signature may be replaced
// off Linux by the type named here. The test checks that each one has a
// reason: an alias of the replacement, or a type x/sys/unix has only on
// Linux.
var standIns = map[string]string{
	"golang.org/x/sys/unix.Signal":          "syscall.Signal",  // an alias: the stub then needs no x/sys/unix
	"golang.org/x/sys/unix.Errno":           "syscall.Errno",   // an alias, as Signal (NotifyErrno)
	"golang.org/x/sys/unix.SignalfdSiginfo": "signalfdSiginfo", // Linux only
	"golang.org/x/sys/unix.Siginfo":         "siginfo",         // Linux only
}

// TestOthersAPIMatchesLinux compares the exported API of each of packages
// built for Linux with the one built for other platforms, from the
// compiler's export data, so that the *_others.go stubs cannot drift: a
// name, a signature, a constant's value, a struct field or a method missing
// or different on either side fails.
func TestOthersAPIMatchesLinux(t *testing.T) {
	testutil.Check(t)
	for _, path := range packages {
		t.Run(strings.TrimPrefix(path, root+"/"), func(t *testing.T) {
			linux := exportedAPI(t, path, "linux")
			for _, goos := range []string{"darwin", "freebsd", "windows"} {
				t.Run(goos, func(t *testing.T) {
					other := exportedAPI(t, path, goos)
					var diff []string
					for name, want := range linux.decls {
						if got, ok := other.decls[name]; !ok {
							diff = append(diff, fmt.Sprintf("missing on %s: %s", goos, want))
						} else if got != want {
							diff = append(diff, fmt.Sprintf("differs on %s:\n\t%s\n\tlinux: %s", goos, got, want))
						}
					}
					for name, got := range other.decls {
						if _, ok := linux.decls[name]; !ok {
							diff = append(diff, fmt.Sprintf("only on %s: %s", goos, got))
						}
					}
					sort.Strings(diff)
					for _, d := range diff {
						t.Error(d)
					}
					if path == root {
						checkStandIns(t, linux.pkg, other.pkg)
					}
				})
			}
		})
	}
}

// checkStandIns fails when a stand-in is not needed: the Linux type is not
// an alias of its replacement and exists in x/sys/unix for the other
// platform too.
func checkStandIns(t *testing.T, linux, other *types.Package) {
	t.Helper()
	linuxUnix := imported(linux, "golang.org/x/sys/unix")
	otherUnix := imported(other, "golang.org/x/sys/unix") // nil where the stub does without it
	for from, to := range standIns {
		name := from[strings.LastIndex(from, ".")+1:]
		obj := linuxUnix.Scope().Lookup(name)
		if obj == nil {
			t.Errorf("stand-in for %s: no such type on Linux", from)
			continue
		}
		if obj.(*types.TypeName).IsAlias() && types.TypeString(types.Unalias(obj.Type()), nil) == to {
			continue
		}
		if otherUnix != nil && otherUnix.Scope().Lookup(name) != nil {
			t.Errorf("stand-in %s for %s: the type exists off Linux too; use it", to, from)
		}
	}
}

func imported(pkg *types.Package, path string) *types.Package {
	for _, p := range pkg.Imports() {
		if p.Path() == path {
			return p
		}
	}
	return nil
}

type api struct {
	pkg   *types.Package
	decls map[string]string // exported name (or Type.Method, Type.Field) → declaration
}

// exportedAPI type-checks nothing itself: go list -export compiles the
// package path for goos without cgo, and the gc importer reads its export
// data.
func exportedAPI(t *testing.T, path, goos string) api {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command on PATH: %v", err)
	}
	cmd := exec.Command(goTool, "list", "-export", "-deps", "-json=ImportPath,Export,Error", path)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("GOOS=%s go list -export %s: %v\n%s", goos, path, err, stderr.String())
	}
	exports := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath, Export string
			Error              *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("GOOS=%s go list: %v", goos, err)
		}
		if p.Error != nil {
			t.Fatalf("GOOS=%s go list %s: %s", goos, p.ImportPath, p.Error.Err)
		}
		exports[p.ImportPath] = p.Export
	}
	imp := importer.ForCompiler(token.NewFileSet(), "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	pkg, err := imp.Import(path)
	if err != nil {
		t.Fatalf("GOOS=%s: import %s: %v", goos, path, err)
	}
	return api{pkg: pkg, decls: describe(pkg)}
}

// describe lists the exported API of pkg, one entry per name, field and
// method, with types written out and stand-ins applied.
func describe(pkg *types.Package) map[string]string {
	qual := func(p *types.Package) string {
		if p == pkg {
			return ""
		}
		return p.Path()
	}
	str := func(typ types.Type) string {
		s := types.TypeString(typ, qual)
		for from, to := range standIns {
			s = replaceIdent(s, from, to)
		}
		return s
	}
	decls := map[string]string{}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch obj := obj.(type) {
		case *types.Const:
			decls[name] = fmt.Sprintf("const %s %s = %s", name, str(obj.Type()), obj.Val().ExactString())
		case *types.Var:
			decls[name] = fmt.Sprintf("var %s %s", name, str(obj.Type()))
		case *types.Func:
			decls[name] = fmt.Sprintf("func %s%s", name, strings.TrimPrefix(str(obj.Type()), "func"))
		case *types.TypeName:
			if obj.IsAlias() {
				decls[name] = fmt.Sprintf("type %s = %s", name, str(obj.Type()))
				continue
			}
			under := obj.Type().Underlying()
			if st, ok := under.(*types.Struct); ok {
				decls[name] = fmt.Sprintf("type %s struct", name)
				for i := range st.NumFields() {
					if f := st.Field(i); f.Exported() {
						decls[name+"."+f.Name()] = fmt.Sprintf("field %s.%s %s `%s`", name, f.Name(), str(f.Type()), st.Tag(i))
					}
				}
			} else {
				decls[name] = fmt.Sprintf("type %s %s", name, str(under))
			}
			mset := types.NewMethodSet(types.NewPointer(obj.Type()))
			for i := range mset.Len() {
				m := mset.At(i).Obj()
				if !m.Exported() {
					continue
				}
				sig := m.Type().(*types.Signature)
				recv := "*" + name
				if _, ptr := sig.Recv().Type().(*types.Pointer); !ptr {
					recv = name
				}
				decls[name+"."+m.Name()] = fmt.Sprintf("func (%s) %s%s", recv, m.Name(), strings.TrimPrefix(str(sig), "func"))
			}
		}
	}
	return decls
}

// replaceIdent replaces the qualified identifier from in s by to, where it
// is not the prefix of a longer identifier.
func replaceIdent(s, from, to string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, from)
		if i < 0 {
			return b.String() + s
		}
		end := i + len(from)
		b.WriteString(s[:i])
		if end < len(s) && isIdentByte(s[end]) {
			b.WriteString(from)
		} else {
			b.WriteString(to)
		}
		s = s[end:]
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
