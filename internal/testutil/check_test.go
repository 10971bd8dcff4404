//go:build linux

package testutil

import (
	"os"
	"os/exec"
	"regexp"
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

// TestCheckPassesCleanTest: the helper run leaking nothing passes.
func TestCheckPassesCleanTest(t *testing.T) {
	Check(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeaky$", "-test.count=1")
	cmd.Env = append(os.Environ(), leakEnv+"=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("TestLeaky leaking nothing: %v\n%s", err, out)
	}
}
