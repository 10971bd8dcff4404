//go:build linux

package testutil

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/sys"
)

// leakEnv makes TestLeaky, in a re-run of the test binary, leak what it
// names.
const leakEnv = "TESTUTIL_LEAK"

// TestLeaky leaks what $TESTUTIL_LEAK names when TestCheckNamesTheLeak
// re-runs the test binary; otherwise it does nothing.
func TestLeaky(t *testing.T) {
	what := os.Getenv(leakEnv)
	if what != "" {
		options.Settle = 200 * time.Millisecond // it leaks on purpose
	}
	Check(t)
	for _, w := range strings.Split(what, ",") {
		switch w {
		case "fd":
			leakTracedFd(t)
		case "untraced-fd":
			if _, err := unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
				t.Fatal(err)
			}
		case "cleaned-up":
			// Made after Check, gone in the test's own cleanups: no leak.
			fd, err := sys.Eventfd(0, unix.EFD_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			go func() { <-stop }()
			t.Cleanup(func() { close(stop); sys.Close(fd) })
		case "goroutine":
			go leakGoroutine()
		case "child":
			path, err := exec.LookPath("true")
			if err != nil {
				t.Fatal(err)
			}
			// ForkExec, not os/exec: a Process would hold a pidfd.
			if _, err := syscall.ForkExec(path, []string{"true"}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// leakTracedFd opens a timerfd the way the loop does and forgets it.
func leakTracedFd(t *testing.T) {
	if _, err := sys.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC); err != nil {
		t.Fatal(err)
	}
}

func leakGoroutine() { select {} }

// runLeaky re-runs the test binary for TestLeaky only, leaking what, and
// returns its output; the run must fail.
func runLeaky(t *testing.T, what string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeaky$", "-test.count=1")
	cmd.Env = append(os.Environ(), leakEnv+"="+what)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("a run of TestLeaky leaking %s passed:\n%s", what, out)
	}
	return string(out)
}

// TestCheckNamesTheLeak: a leaked descriptor, goroutine and child each fail
// the test that leaked them, by name, a descriptor of the loop with the
// stack that opened it, a goroutine with its stack.
func TestCheckNamesTheLeak(t *testing.T) {
	Check(t)
	out := runLeaky(t, "fd,goroutine,child")
	for _, re := range []string{
		// The test's own failure, then the check of the whole run.
		`--- FAIL: TestLeaky `,
		`TestLeaky leaked fd \d+ \(anon_inode:\[timerfd\]\), opened at:\n` +
			`\s+github\.com/go-sdevent/sdevent/internal/testutil\.leakTracedFd\(\)\n\s+\S+check_test\.go:\d+\n` +
			`\s+github\.com/go-sdevent/sdevent/internal/testutil\.TestLeaky\(\)`,
		`TestLeaky leaked goroutine \d+ \[select \(no cases\)\]:\n\s+github\.com/go-sdevent/sdevent/internal/testutil\.leakGoroutine\(\)`,
		`TestLeaky left child pid \d+ \(true\) state [RSZ]`,
		`testutil: 1 file descriptor\(s\) leaked:\n\tfd \d+ -> anon_inode:\[timerfd\]\n\topened at:\n\t\tgithub\.com/go-sdevent/sdevent/internal/testutil\.leakTracedFd\(\)`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("the output lacks %q:\n%s", re, out)
		}
	}
}

// TestCheckUntracedFd: a descriptor the loop did not open is reported
// without a stack, even when its number last belonged to a traced one.
func TestCheckUntracedFd(t *testing.T) {
	Check(t)
	out := runLeaky(t, "untraced-fd")
	if !regexp.MustCompile(`TestLeaky leaked fd \d+ \(anon_inode:\[eventfd\]\)\n`).MatchString(out) {
		t.Errorf("the output does not report the eventfd:\n%s", out)
	}
	if strings.Contains(out, "opened at") {
		t.Errorf("the output shows a stack for an untraced eventfd:\n%s", out)
	}
}

// TestCheckRunsAfterTheTestsCleanups: what a test's cleanups close (an fd,
// a goroutine that is then returning) is no leak: Check's cleanup runs
// after them and gives the goroutine time to end.
func TestCheckRunsAfterTheTestsCleanups(t *testing.T) {
	Check(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeaky$", "-test.count=1")
	cmd.Env = append(os.Environ(), leakEnv+"=cleaned-up")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("TestLeaky cleaning up in its cleanups: %v\n%s", err, out)
	}
}

// TestUncheckedFindsForgottenTests: a Test function reaching no Check,
// directly or through helpers (however deep, or passed to t.Run), is listed.
func TestUncheckedFindsForgottenTests(t *testing.T) {
	Check(t)
	dir := t.TempDir()
	src := `package x_test

import (
	"testing"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

func newLoop(t *testing.T) { testutil.Check(t) }
func helper(t *testing.T)  { newLoop(t) }
func sub(t *testing.T)     { helper(t) }
func unrelated(t *testing.T) {}

func TestDirect(t *testing.T)    { testutil.Check(t) }
func TestHelper(t *testing.T)    { helper(t) }
func TestSubtest(t *testing.T)   { t.Run("x", sub) }
func TestForgot(t *testing.T)    { unrelated(t) }
func TestEmpty(t *testing.T)     {}
func Testlower(t *testing.T)     {}
func TestBench(b *testing.B)     {}
func TestMain(m *testing.M)      {}
`
	if err := os.WriteFile(dir+"/x_test.go", []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Unchecked(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"TestEmpty", "TestForgot"}; !slices.Equal(got, want) {
		t.Errorf("Unchecked = %v, want %v", got, want)
	}
}
