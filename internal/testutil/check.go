//go:build linux

package testutil

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-sdevent/sdevent/internal/sys"
)

var (
	// options are those RunWith was given, for the checks of each test.
	options   Options
	checkMu   sync.Mutex
	checkedTB = map[testing.TB]bool{}
)

// Check runs the hygiene checks around the test t: it records the
// descriptors, goroutines and children there are now and, in a cleanup that
// runs after every cleanup the test registers later, fails t by name for
// each one it left behind, printing where a leaked descriptor of the loop
// was opened (when Run turned tracing on). Like Settle, the cleanup gives
// goroutines that are returning and children being reaped a bounded time
// to go away.
//
// Call it first in a test, or from a helper that every test calls before it
// makes anything (newLoop, say); calls after the first for the same t do
// nothing. Tests that use Check must not run in parallel with other tests
// of their process. While fuzzing, Check does nothing (it would double the
// cost of each input); the check of the whole run remains.
func Check(t testing.TB) {
	t.Helper()
	if fuzzWorker() {
		return
	}
	checkMu.Lock()
	done := checkedTB[t]
	checkedTB[t] = true
	checkMu.Unlock()
	if done {
		return
	}
	before, err := TakeSnapshot()
	if err != nil {
		t.Fatalf("testutil.Check: %v", err)
	}
	sys.ForgetClosed(before.Fds)
	kids, err := ChildrenOfSelf()
	if err != nil {
		t.Fatalf("testutil.Check: %v", err)
	}
	for _, k := range kids {
		before.Children = append(before.Children, k.Pid)
	}
	t.Cleanup(func() {
		checkMu.Lock()
		delete(checkedTB, t)
		checkMu.Unlock()
		r, err := before.Settle(withTestingFiles(options))
		if err != nil {
			t.Errorf("testutil.Check: %v", err)
			return
		}
		for _, line := range r.Lines(t.Name()) {
			t.Error(line)
		}
	})
}

func fuzzWorker() bool {
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
}

// withTestingFiles makes o ignore the files the testing package opens.
func withTestingFiles(o Options) Options {
	ignore := o.IgnoreFd
	o.IgnoreFd = func(target string) bool { return isTestingFile(target) || ignore != nil && ignore(target) }
	return o
}

// Lines says what r lists, one entry a line (a stack takes several),
// each entry beginning with who (a test's name, or "the tests").
func (r Report) Lines(who string) []string {
	var lines []string
	for _, fd := range r.Fds {
		line := fmt.Sprintf("%s leaked fd %d (%s)", who, fd.Num, fd.Target)
		if stack, ok := sys.OpenedAt(fd.Num, fd.Target); ok {
			line += ", opened at:\n" + indent(stack)
		}
		lines = append(lines, line)
	}
	for _, g := range r.Goroutines {
		_, stack, _ := strings.Cut(g.Stack, "\n") // the header is in the line
		lines = append(lines, fmt.Sprintf("%s leaked goroutine %d [%s]:\n%s", who, g.ID, g.State, indent(stack)))
	}
	for _, p := range r.Zombies {
		lines = append(lines, fmt.Sprintf("%s left child %v unreaped", who, p))
	}
	for _, p := range r.Running {
		lines = append(lines, fmt.Sprintf("%s left child %v running", who, p))
	}
	return lines
}

func indent(s string) string {
	return "\t" + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n\t")
}

// ChildrenOfSelf returns the children of this process. It reads the
// children lists of its threads (/proc/self/task/*/children, Linux 3.5 with
// CONFIG_PROC_CHILDREN), which costs a few reads where scanning all of
// /proc costs one per process of the machine; without them it scans /proc.
func ChildrenOfSelf() ([]Proc, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var kids []Proc
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		if os.IsNotExist(err) && task.Name() == tasks[0].Name() {
			return Children(os.Getpid())
		}
		if err != nil {
			continue // the thread exited meanwhile
		}
		for _, pid := range strings.Fields(string(b)) {
			st, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil {
				continue // reaped meanwhile
			}
			p, err := ParseStat(strings.TrimSpace(string(st)))
			if err != nil {
				return nil, err
			}
			if !slices.ContainsFunc(kids, func(k Proc) bool { return k.Pid == p.Pid }) {
				kids = append(kids, p)
			}
		}
	}
	return kids, nil
}
