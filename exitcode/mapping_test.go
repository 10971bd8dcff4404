package exitcode_test

import (
	"errors"
	"fmt"
	"math"
	"syscall"
	"testing"

	"github.com/go-sdevent/sdevent/exitcode"
)

// The si_code values of <asm-generic/siginfo.h>, written out again so that a
// wrong value in the package fails here.
const (
	cldExited    = 1
	cldKilled    = 2
	cldDumped    = 3
	cldTrapped   = 4
	cldStopped   = 5
	cldContinued = 6
)

func TestFromLoop(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int
		err  error
		want exitcode.Code
	}{
		{"zero", 0, nil, exitcode.Success},
		{"one", 1, nil, exitcode.Failure},
		{"lsb", 6, nil, exitcode.NotConfigured},
		{"systemd", 203, nil, exitcode.Exec},
		{"unnamed", 100, nil, 100},
		{"highest", 255, nil, exitcode.Exception},
		{"just above", 256, nil, exitcode.Failure}, // exit(256) in C: 0
		{"far above", 1000, nil, exitcode.Failure},
		{"max int", math.MaxInt, nil, exitcode.Failure},
		{"minus one", -1, nil, exitcode.Failure}, // exit(-1) in C: 255
		{"negative errno", -int(syscall.EIO), nil, exitcode.Failure},
		{"min int", math.MinInt, nil, exitcode.Failure},
		{"error wins over zero", 0, syscall.EIO, exitcode.Failure},
		{"error wins over code", 42, errors.New("boom"), exitcode.Failure},
		{"wrapped EPERM", 0, fmt.Errorf("sdevent: loop: %w", syscall.EPERM), exitcode.Failure},
		{"wrapped EINVAL", 0, fmt.Errorf("sdevent: loop: %w", syscall.EINVAL), exitcode.Failure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitcode.FromLoop(tc.code, tc.err); got != tc.want {
				t.Errorf("FromLoop(%d, %v) = %d (%v), want %d (%v)", tc.code, tc.err, int(got), got, int(tc.want), tc.want)
			}
		})
	}
}

// TestFromError also pins down that no errno is translated into an LSB code,
// which systemd does not do either.
func TestFromError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want exitcode.Code
	}{
		{"nil", nil, exitcode.Success},
		{"plain", errors.New("boom"), exitcode.Failure},
		{"EPERM", syscall.EPERM, exitcode.Failure},
		{"wrapped EPERM", fmt.Errorf("open config: %w", syscall.EPERM), exitcode.Failure},
		{"wrapped EACCES", fmt.Errorf("open config: %w", syscall.EACCES), exitcode.Failure},
		{"wrapped EINVAL", fmt.Errorf("parse: %w", syscall.EINVAL), exitcode.Failure},
		{"wrapped ENOSYS", fmt.Errorf("pidfd_open: %w", syscall.ENOSYS), exitcode.Failure},
		{"wrapped ENOENT", fmt.Errorf("stat: %w", syscall.ENOENT), exitcode.Failure},
		{"joined", errors.Join(syscall.EPERM, syscall.EINVAL), exitcode.Failure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitcode.FromError(tc.err); got != tc.want {
				t.Errorf("FromError(%v) = %d (%v), want %d (%v)", tc.err, int(got), got, int(tc.want), tc.want)
			}
		})
	}
}

func TestFromChild(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   int
		status int
		want   exitcode.Code
		ok     bool
	}{
		{"exited 0", cldExited, 0, exitcode.Success, true},
		{"exited 1", cldExited, 1, exitcode.Failure, true},
		{"exited EXEC", cldExited, 203, exitcode.Exec, true},
		{"exited 255", cldExited, 255, exitcode.Exception, true},
		{"exited 256 keeps low byte", cldExited, 256, exitcode.Success, true},
		{"exited -1 keeps low byte", cldExited, -1, exitcode.Exception, true},
		{"killed SIGTERM", cldKilled, int(syscall.SIGTERM), 143, true},
		{"killed SIGKILL", cldKilled, int(syscall.SIGKILL), 137, true},
		{"killed SIGHUP", cldKilled, int(syscall.SIGHUP), 129, true},
		{"killed SIGRTMAX", cldKilled, 64, 192, true},
		{"killed 127", cldKilled, 127, exitcode.Exception, true},
		{"killed 128", cldKilled, 128, exitcode.Exception, true},
		{"killed 0", cldKilled, 0, exitcode.Exception, true},
		{"killed -9", cldKilled, -9, exitcode.Exception, true},
		{"dumped SIGSEGV", cldDumped, int(syscall.SIGSEGV), 139, true},
		{"dumped SIGABRT", cldDumped, int(syscall.SIGABRT), 134, true},
		{"dumped 200", cldDumped, 200, exitcode.Exception, true},
		{"stopped", cldStopped, int(syscall.SIGSTOP), 0, false},
		{"trapped", cldTrapped, int(syscall.SIGTRAP), 0, false},
		{"continued", cldContinued, int(syscall.SIGCONT), 0, false},
		{"code 0", 0, 0, 0, false},
		{"code 7", 7, 1, 0, false},
		{"code -1", -1, 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := exitcode.FromChild(tc.code, tc.status)
			if got != tc.want || ok != tc.ok {
				t.Errorf("FromChild(%d, %d) = %d, %v; want %d, %v", tc.code, tc.status, int(got), ok, int(tc.want), tc.ok)
			}
		})
	}
}
