//go:build linux

package testutil

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent/internal/sys"
)

// Options tune the checks of RunWith. The zero value is what Run uses.
type Options struct {
	// Settle is how long the checks wait for stragglers (goroutines that
	// are returning, children being reaped) to go away. Default 5s.
	Settle time.Duration
	// IgnoreFd leaves out descriptors whose /proc/self/fd target it
	// accepts.
	IgnoreFd func(target string) bool
	// IgnoreGoroutine leaves out goroutines it accepts.
	IgnoreGoroutine func(Goroutine) bool
}

// Main runs the tests and exits with their status, or with 1 when they
// passed but left something behind. Use it as
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests with the hygiene checks and returns the exit status.
func Run(m *testing.M) int { return RunWith(m, Options{}) }

// RunWith is Run with options.
func RunWith(m *testing.M, o Options) int {
	warmUp()
	sys.TraceFds(true)
	defer sys.TraceFds(false)
	before, err := TakeSnapshot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testutil: %v\n", err)
		return 1
	}
	options = o
	code := m.Run()
	r, err := before.Settle(withTestingFiles(options))
	if err != nil {
		fmt.Fprintf(os.Stderr, "testutil: %v\n", err)
		return 1
	}
	if !r.Empty() {
		fmt.Fprint(os.Stderr, r.String())
		if code == 0 {
			code = 1
		}
	}
	return code
}

// warmUp makes the Go runtime open what it keeps open for good (the
// netpoller's epoll fd and its wakeup), so that a test that happens to be
// the first to use it is not blamed for it.
func warmUp() {
	if r, w, err := os.Pipe(); err == nil {
		_ = r.Close()
		_ = w.Close()
	}
}

// isTestingFile reports whether target is a file the testing package keeps
// open past the tests (the log that go test asks for with -test.testlogfile).
func isTestingFile(target string) bool {
	for _, name := range []string{"test.testlogfile"} {
		if f := flag.Lookup(name); f != nil && samePath(target, f.Value.String()) {
			return true
		}
	}
	return false
}

// Snapshot is the state of the process that the checks compare against.
type Snapshot struct {
	Fds        FdTable
	Goroutines []Goroutine
	Children   []int // pids of children that are not reported as left behind
}

// TakeSnapshot records the open descriptors and goroutines of the process.
func TakeSnapshot() (Snapshot, error) {
	fds, err := OpenFds()
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Fds: fds, Goroutines: Goroutines()}, nil
}

// Report lists what was left behind.
type Report struct {
	Fds        []Fd
	Goroutines []Goroutine
	Zombies    []Proc // exited children nobody reaped
	Running    []Proc // children still running
}

// Empty reports whether nothing was left behind.
func (r Report) Empty() bool {
	return len(r.Fds) == 0 && len(r.Goroutines) == 0 && len(r.Zombies) == 0 && len(r.Running) == 0
}

func (r Report) String() string {
	var b strings.Builder
	if len(r.Fds) > 0 {
		fmt.Fprintf(&b, "testutil: %d file descriptor(s) leaked:\n", len(r.Fds))
		for _, fd := range r.Fds {
			fmt.Fprintf(&b, "\t%v\n", fd)
			if stack, ok := sys.OpenedAt(fd.Num, fd.Target); ok {
				fmt.Fprintf(&b, "\topened at:\n%s\n", indent(indent(stack)))
			}
		}
	}
	if len(r.Goroutines) > 0 {
		fmt.Fprintf(&b, "testutil: %d goroutine(s) leaked:\n", len(r.Goroutines))
		for _, g := range r.Goroutines {
			fmt.Fprintf(&b, "\n%s\n", g.Stack)
		}
		b.WriteString("\n")
	}
	if len(r.Zombies) > 0 {
		fmt.Fprintf(&b, "testutil: %d zombie child process(es) not reaped:\n", len(r.Zombies))
		for _, p := range r.Zombies {
			fmt.Fprintf(&b, "\t%v\n", p)
		}
	}
	if len(r.Running) > 0 {
		fmt.Fprintf(&b, "testutil: %d child process(es) still running:\n", len(r.Running))
		for _, p := range r.Running {
			fmt.Fprintf(&b, "\t%v\n", p)
		}
	}
	return b.String()
}

// Check compares the process now with s, once.
func (s Snapshot) Check(o Options) (Report, error) {
	var r Report
	fds, err := OpenFds()
	if err != nil {
		return r, err
	}
	r.Fds = s.Fds.Leaked(fds, o.IgnoreFd)
	r.Goroutines = LeakedGoroutines(s.Goroutines, Goroutines(), o.IgnoreGoroutine)
	kids, err := ChildrenOfSelf()
	if err != nil {
		return r, err
	}
	for _, k := range kids {
		if slices.Contains(s.Children, k.Pid) {
			continue
		}
		if k.State == 'Z' {
			r.Zombies = append(r.Zombies, k)
		} else {
			r.Running = append(r.Running, k)
		}
	}
	return r, nil
}

// Settle checks the process against s until nothing is left behind or
// o.Settle has passed, and returns the last report.
func (s Snapshot) Settle(o Options) (Report, error) {
	if o.Settle <= 0 {
		o.Settle = 5 * time.Second
	}
	deadline := time.Now().Add(o.Settle)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		r, err := s.Check(o)
		if err != nil || r.Empty() || time.Now().After(deadline) {
			return r, err
		}
		time.Sleep(wait)
	}
}
