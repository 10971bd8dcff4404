//go:build linux

package testutil

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"testing"
)

// CheckEveryTest fails t for each Test function of the package in the
// current directory (where go test runs a package's tests) that does not
// call Check, directly or through functions of its package that do, so
// that a new test cannot forget the per-test checks. It checks t too.
func CheckEveryTest(t *testing.T) {
	Check(t)
	missing, err := Unchecked(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range missing {
		t.Errorf("%s does not call testutil.Check, nor a helper that does: call it first in the test", name)
	}
}

// Unchecked returns the Test functions of the *_test.go files in dir (of
// every build configuration) that reach no call of Check: neither directly
// nor through the package-level functions of those files that call it or
// each other. A function counts as reached when it is called or named
// anywhere in the body (passed to t.Run, say).
func Unchecked(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	funcs := map[string]*ast.FuncDecl{}
	checks := map[string]bool{} // functions that call Check themselves
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Body == nil {
				continue
			}
			funcs[fn.Name.Name] = fn
			if callsCheck(fn.Body, f.Name.Name == "testutil") {
				checks[fn.Name.Name] = true
			}
		}
	}
	for grew := true; grew; {
		grew = false
		for name, fn := range funcs {
			if !checks[name] && names(fn.Body, checks) {
				checks[name], grew = true, true
			}
		}
	}
	var missing []string
	for name, fn := range funcs {
		if isTest(fn) && !checks[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	return missing, nil
}

// callsCheck reports whether body calls testutil.Check (Check, inside
// package testutil).
func callsCheck(body ast.Node, inTestutil bool) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return !found
		}
		switch fun := call.Fun.(type) {
		case *ast.SelectorExpr:
			if x, ok := fun.X.(*ast.Ident); ok && x.Name == "testutil" && (fun.Sel.Name == "Check" || fun.Sel.Name == "CheckEveryTest") {
				found = true
			}
		case *ast.Ident:
			if inTestutil && (fun.Name == "Check" || fun.Name == "CheckEveryTest") {
				found = true
			}
		}
		return !found
	})
	return found
}

// names reports whether body names one of set.
func names(body ast.Node, set map[string]bool) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && set[id.Name] {
			found = true
		}
		return !found
	})
	return found
}

// isTest reports whether fn is a test go test runs: TestXxx(t *testing.T).
func isTest(fn *ast.FuncDecl) bool {
	name := fn.Name.Name
	if name == "TestMain" || len(name) < 4 || name[:4] != "Test" {
		return false
	}
	if len(name) > 4 && 'a' <= name[4] && name[4] <= 'z' {
		return false
	}
	params := fn.Type.Params.List
	if len(params) != 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}
