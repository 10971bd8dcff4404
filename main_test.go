//go:build linux

package sdevent_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// Every test of the package runs under the hygiene checks: no descriptor,
// goroutine or child process may outlive the tests, nor any test (through
// testutil.Check, which newLoop calls).
func TestMain(m *testing.M) { testutil.Main(m) }

// TestEveryTestChecksLeaks: a test that calls neither testutil.Check nor a
// helper that does (newLoop) would leak unnamed.
func TestEveryTestChecksLeaks(t *testing.T) { testutil.CheckEveryTest(t) }

// fdCalls are the system calls that make or close descriptors. The loop
// makes them through internal/sys, which records where each descriptor was
// opened for the leak reports of the tests and forgets it at close; a
// direct call would leave a record behind for a number another object
// takes next, or a leak without its origin.
var fdCalls = map[string]bool{
	"Close": true, "EpollCreate": true, "EpollCreate1": true, "Eventfd": true,
	"TimerfdCreate": true, "InotifyInit": true, "InotifyInit1": true,
	"PidfdOpen": true, "PidfdGetfd": true, "Open": true, "Openat": true,
	"Openat2": true, "Creat": true, "Socket": true, "Socketpair": true,
	"Accept": true, "Accept4": true, "Dup": true, "Dup2": true, "Dup3": true,
	"Pipe": true, "Pipe2": true, "MemfdCreate": true, "Signalfd": true,
	"FanotifyInit": true, "Fcntl": true, "FcntlInt": true,
}

// TestLoopFdsGoThroughSys: no file of the package opens or closes a
// descriptor with x/sys/unix or syscall directly (as cilium/ebpf keeps raw
// system calls behind one internal package).
func TestLoopFdsGoThroughSys(t *testing.T) {
	testutil.Check(t)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && (pkg.Name == "unix" || pkg.Name == "syscall") && fdCalls[sel.Sel.Name] {
				t.Errorf("%s: %s.%s: open and close descriptors through internal/sys", fset.Position(call.Pos()), pkg.Name, sel.Sel.Name)
			}
			return true
		})
	}
}
