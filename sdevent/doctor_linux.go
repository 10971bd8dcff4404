//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const doctorAbout = `Checks what this kernel and process offer the event loop: one line per
kernel feature and per systemd variable. The exit status is 0 only when every
required feature is there; optional ones only lower what the loop can do.`

// probe is one line of the report.
type probe struct {
	name     string
	required bool
	what     string
	check    func() error
}

func probes() []probe {
	return []probe{
		{"epoll", true, "the loop itself", func() error { return closeFd(unix.EpollCreate1(unix.EPOLL_CLOEXEC)) }},
		{"epoll_pwait2", false, "timeouts finer than a millisecond (Linux 5.11)", probeEpollPwait2},
		{"eventfd", true, "Invoke, signal delivery", func() error { return closeFd(unix.Eventfd(0, unix.EFD_CLOEXEC)) }},
		{"pidfd_open", true, "child sources (Linux 5.3)", func() error { return closeFd(unix.PidfdOpen(os.Getpid(), 0)) }},
		{"pidfd_send_signal", true, "SendChildSignal, process-own kill (Linux 5.1)", probePidfdSendSignal},
		{"clone CLONE_PIDFD", true, "AddCommand (Linux 5.2)", probeClonePidfd},
		{"waitid P_PIDFD", true, "reading child exits (Linux 5.4)", nil}, // checked with CLONE_PIDFD
		{"timerfd CLOCK_MONOTONIC", true, "time sources", timerfdProbe(unix.CLOCK_MONOTONIC)},
		{"timerfd CLOCK_REALTIME", true, "time sources", timerfdProbe(unix.CLOCK_REALTIME)},
		{"timerfd CLOCK_BOOTTIME", true, "time sources", timerfdProbe(unix.CLOCK_BOOTTIME)},
		{"timerfd CLOCK_REALTIME_ALARM", false, "wake-up alarms (needs CAP_WAKE_ALARM)", timerfdProbe(unix.CLOCK_REALTIME_ALARM)},
		{"timerfd CLOCK_BOOTTIME_ALARM", false, "wake-up alarms (needs CAP_WAKE_ALARM)", timerfdProbe(unix.CLOCK_BOOTTIME_ALARM)},
		{"inotify", true, "inotify sources", func() error { return closeFd(unix.InotifyInit1(unix.IN_CLOEXEC)) }},
		{"PSI memory", false, "memory pressure sources (/proc/pressure/memory)", func() error {
			f, err := os.Open("/proc/pressure/memory")
			if err == nil {
				_ = f.Close() // a probe: the open was the question
			}
			return err
		}},
	}
}

// waitidErr is what the CLONE_PIDFD probe learned of waitid(P_PIDFD).
var waitidErr error

func doctor(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("doctor", "", doctorAbout, stderr)
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	status := exitOK
	for _, p := range probes() {
		var err error
		if p.check != nil {
			err = p.check()
		} else {
			err = waitidErr
		}
		verdict := "ok"
		switch {
		case err != nil && p.required:
			verdict, status = "MISSING", exitFailure
		case err != nil:
			verdict = "absent"
		}
		line := fmt.Sprintf("%-8s %-30s %s", verdict, p.name, p.what)
		if err != nil {
			line += ": " + err.Error()
		}
		sayln(stdout, line)
	}
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "MEMORY_PRESSURE_WATCH"} {
		if val, ok := os.LookupEnv(v); ok {
			sayf(stdout, "%-8s %-30s %s\n", "set", v, val)
		} else {
			sayf(stdout, "%-8s %s\n", "unset", v)
		}
	}
	return status
}

func closeFd(fd int, err error) error {
	if err == nil {
		_ = unix.Close(fd) // a probe: the create was the question
	}
	return err
}

func timerfdProbe(clock int) func() error {
	return func() error { return closeFd(unix.TimerfdCreate(clock, unix.TFD_CLOEXEC)) }
}

func probeEpollPwait2() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(epfd) }()
	var ev [1]unix.EpollEvent
	var ts unix.Timespec
	_, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(epfd), uintptr(unsafe.Pointer(&ev[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func probePidfdSendSignal() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(fd) }()
	return unix.PidfdSendSignal(fd, 0, nil, 0)
}

// probeClonePidfd starts /bin/true with CLONE_PIDFD and waits for it with
// waitid(P_PIDFD), which it also records for that line.
func probeClonePidfd() error {
	pidfd := -1
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{PidFD: &pidfd}
	if err := cmd.Start(); err != nil {
		waitidErr = err
		return err
	}
	defer func() { _ = cmd.Wait() }() // reaps /bin/true; its status is not the question
	if pidfd < 0 {
		waitidErr = unix.ENOSYS
		return unix.ENOSYS
	}
	defer func() { _ = unix.Close(pidfd) }()
	var si unix.Siginfo
	waitidErr = unix.Waitid(unix.P_PIDFD, pidfd, &si, unix.WEXITED|unix.WNOWAIT, nil)
	return nil
}
