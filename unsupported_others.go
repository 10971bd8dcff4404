//go:build !linux

package sdevent

// The public API off Linux: every exported name of the Linux build, with the
// same signature, so that code written against the package compiles
// everywhere and finds out at run time. The constructors return an *Error
// wrapping errors.ErrUnsupported, and so does every method that returns an
// error; the others return zero values. internal/portable's test compares
// this file's API with the Linux build's and fails on any difference.
//
// Two types of x/sys/unix exist only on Linux: SignalHandler and
// SendChildSignal take the unexported stand-ins signalfdSiginfo and siginfo
// instead, which no code off Linux can name, so it can pass only nil. The
// stub uses syscall.Signal and syscall.Errno, which unix.Signal and
// unix.Errno are aliases of, so that the package also compiles where
// x/sys/unix does not (Windows).
//
// Error, State and ChildInfo carry no kernel object and live in files
// without a build tag (errors.go, state.go, childinfo.go), shared with Linux.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
)

// Infinity stands for sd-event's USEC_INFINITY: a time that never comes, a
// timeout that never ends.
const Infinity time.Duration = math.MaxInt64

// SignalProcmask is SD_EVENT_SIGNAL_PROCMASK, a flag ORed into AddSignal's
// signal number; see the Linux documentation.
const SignalProcmask syscall.Signal = 1 << 30

var errNeedLinux = fmt.Errorf("event loops need Linux: %w", errors.ErrUnsupported)

// unsupported is the error of every operation off Linux.
func unsupported(op string) error { return opErr(op, errNeedLinux) }

// Event is an event loop, the analogue of sd_event. It exists only on Linux:
// New and Default return an error here.
type Event struct{}

// Source is an event source, the analogue of sd_event_source. It exists
// only on Linux.
type Source struct{}

// New returns an error wrapping errors.ErrUnsupported on this platform.
func New() (*Event, error) { return nil, unsupported("new") }

// Default returns an error wrapping errors.ErrUnsupported on this platform.
func Default() (*Event, error) { return nil, unsupported("default") }

// Signal returns the signal that killed, stopped or trapped the child (or
// continued it: SIGCONT), else 0. Its type is unix.Signal's, which x/sys/unix
// does not have on every platform.
func (ci *ChildInfo) Signal() syscall.Signal { return syscall.Signal(ci.signal()) }

// signalName is "": the stub does without x/sys/unix and its signal names,
// so ChildInfo.String gives a signal by its number.
func signalName(syscall.Signal) string { return "" }

// InotifyEvent is one inotify event as the kernel reported it.
type InotifyEvent struct {
	Wd     int32
	Mask   uint32
	Cookie uint32
	Name   string
}

// signalfdSiginfo stands for unix.SignalfdSiginfo, which exists only on
// Linux.
type signalfdSiginfo struct{ Signo uint32 }

// siginfo stands for unix.Siginfo, which exists only on Linux.
type siginfo struct{ Signo int32 }

// The handler types, as on Linux.
type (
	Handler        func(s *Source) error
	IOHandler      func(s *Source, fd int, revents uint32) error
	TimeHandler    func(s *Source, t time.Duration) error
	SignalHandler  func(s *Source, si *signalfdSiginfo) error
	ChildHandler   func(s *Source, si *ChildInfo) error
	InotifyHandler func(s *Source, ev *InotifyEvent) error
)

// Notify reports false, and no error, when $NOTIFY_SOCKET is unset, as on
// Linux; a set $NOTIFY_SOCKET gives an error wrapping errors.ErrUnsupported.
func Notify(state string) (bool, error) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return false, nil
	}
	return false, unsupported("notify")
}

// NotifyReady is Notify("READY=1").
func NotifyReady() (bool, error) { return Notify("READY=1") }

// NotifyStopping is Notify("STOPPING=1").
func NotifyStopping() (bool, error) { return Notify("STOPPING=1") }

// NotifyStatus is Notify("STATUS=" + status).
func NotifyStatus(status string) (bool, error) { return Notify("STATUS=" + status) }

// NotifyReloading is Notify with RELOADING=1.
func NotifyReloading() (bool, error) { return Notify("RELOADING=1") }

// NotifyExtendTimeout is Notify with EXTEND_TIMEOUT_USEC=.
func NotifyExtendTimeout(d time.Duration) (bool, error) { return Notify("EXTEND_TIMEOUT_USEC=") }

// NotifyErrno is Notify with ERRNO=.
func NotifyErrno(errno syscall.Errno) (bool, error) { return Notify("ERRNO=") }

// NotifyExitStatus is Notify with EXIT_STATUS=.
func NotifyExitStatus(status int) (bool, error) { return Notify("EXIT_STATUS=") }

// The methods of Event: see the Linux documentation.

func (e *Event) Ref() *Event                                  { return e }
func (e *Event) Unref()                                       {}
func (e *Event) Prepare() (bool, error)                       { return false, unsupported("prepare") }
func (e *Event) Wait(timeout time.Duration) (bool, error)     { return false, unsupported("wait") }
func (e *Event) Dispatch() (bool, error)                      { return false, unsupported("dispatch") }
func (e *Event) Run(timeout time.Duration) (bool, error)      { return false, unsupported("run") }
func (e *Event) Loop() (int, error)                           { return 0, unsupported("loop") }
func (e *Event) LoopContext(ctx context.Context) (int, error) { return 0, unsupported("loop") }
func (e *Event) Exit(code int) error                          { return unsupported("exit") }
func (e *Event) ExitCode() (int, error)                       { return 0, unsupported("get exit code") }
func (e *Event) Now(clock int) (time.Duration, error)         { return 0, unsupported("now") }
func (e *Event) Fd() int                                      { return -1 }
func (e *Event) State() State                                 { return Finished }
func (e *Event) Iteration() uint64                            { return 0 }
func (e *Event) SetWatchdog(on bool) (bool, error)            { return false, unsupported("set watchdog") }
func (e *Event) Watchdog() bool                               { return false }
func (e *Event) SetSignalExit(on bool) (bool, error)          { return false, unsupported("set signal exit") }
func (e *Event) SetExitOnIdle(on bool) error                  { return unsupported("set exit on idle") }
func (e *Event) ExitOnIdle() bool                             { return false }
func (e *Event) Invoke(fn func()) error                       { return unsupported("invoke") }

// SetLogger does nothing and Logger returns nil: a loop that cannot be
// made has nothing to log.
func (e *Event) SetLogger(l *slog.Logger) {}
func (e *Event) Logger() *slog.Logger     { return nil }

// The statistics and profiles of a loop (stats.go, profile.go) are not
// kept: the setters fail, the getters report nothing on.
func (e *Event) SetStatistics(on bool) error { return unsupported("set statistics") }
func (e *Event) Statistics() bool            { return false }
func (e *Event) SetSlowHandlerThreshold(d time.Duration) error {
	return unsupported("set slow handler threshold")
}
func (e *Event) SlowHandlerThreshold() time.Duration { return 0 }
func (e *Event) SetProfileDelays(on bool) error      { return unsupported("set profile delays") }
func (e *Event) ProfileDelays() bool                 { return false }
func (e *Event) SetProfileLabels(base context.Context, on bool) error {
	return unsupported("set profile labels")
}
func (e *Event) ProfileLabels() bool         { return false }
func (e *Event) Snapshot() (Snapshot, error) { return Snapshot{}, unsupported("snapshot") }

func (e *Event) AddIO(fd int, events uint32, h IOHandler) (*Source, error) {
	return nil, unsupported("add io")
}

func (e *Event) AddTime(clock int, t, accuracy time.Duration, h TimeHandler) (*Source, error) {
	return nil, unsupported("add time")
}

func (e *Event) AddTimeRelative(clock int, d, accuracy time.Duration, h TimeHandler) (*Source, error) {
	return nil, unsupported("add time")
}

func (e *Event) AddTimer(clock int, accuracy time.Duration, h TimeHandler) (*Source, error) {
	return nil, unsupported("add timer")
}

func (e *Event) AddPeriodic(clock int, period, accuracy time.Duration, h TimeHandler) (*Source, error) {
	return nil, unsupported("add periodic")
}

// Float returns err when it is not nil, as on Linux, else an error wrapping
// errors.ErrUnsupported.
func Float(s *Source, err error) error {
	if err != nil {
		return err
	}
	return unsupported("float")
}

func (e *Event) AddSignal(sig syscall.Signal, h SignalHandler) (*Source, error) {
	return nil, unsupported("add signal")
}

func (e *Event) AddChild(pid int, options int, h ChildHandler) (*Source, error) {
	return nil, unsupported("add child")
}

func (e *Event) AddChildPidfd(pidfd int, options int, h ChildHandler) (*Source, error) {
	return nil, unsupported("add child")
}

func (e *Event) AddCommand(cmd *exec.Cmd, options int, h ChildHandler) (*Source, error) {
	return nil, unsupported("add child")
}

func (e *Event) AddInotify(path string, mask uint32, h InotifyHandler) (*Source, error) {
	return nil, unsupported("add inotify")
}

func (e *Event) AddInotifyFd(fd int, mask uint32, h InotifyHandler) (*Source, error) {
	return nil, unsupported("add inotify")
}

func (e *Event) AddDefer(h Handler) (*Source, error) { return nil, unsupported("add defer") }
func (e *Event) AddPost(h Handler) (*Source, error)  { return nil, unsupported("add post") }
func (e *Event) AddExit(h Handler) (*Source, error)  { return nil, unsupported("add exit") }

func (e *Event) AddMemoryPressure(h Handler) (*Source, error) {
	return nil, unsupported("add memory pressure")
}

func (e *Event) AddCPUPressure(h Handler) (*Source, error) {
	return nil, unsupported("add cpu pressure")
}

func (e *Event) AddIOPressure(h Handler) (*Source, error) {
	return nil, unsupported("add io pressure")
}

func (e *Event) AddListenFds(events uint32, h IOHandler) ([]*Source, error) {
	return nil, unsupported("add listen fds")
}

func (e *Event) AddListenFiles(events uint32, h IOHandler) ([]*Source, []*os.File, error) {
	return nil, nil, unsupported("add listen fds")
}

// The methods of Source: see the Linux documentation.

func (s *Source) Ref() *Source                          { return s }
func (s *Source) Unref()                                {}
func (s *Source) DisableUnref()                         {}
func (s *Source) Event() *Event                         { return nil }
func (s *Source) Userdata() any                         { return nil }
func (s *Source) SetUserdata(v any) (old any)           { return nil }
func (s *Source) SetDescription(d string) error         { return unsupported("set description") }
func (s *Source) Description() (string, error)          { return "", unsupported("get description") }
func (s *Source) SetPrepare(h Handler) error            { return unsupported("set prepare") }
func (s *Source) Pending() (bool, error)                { return false, unsupported("get pending") }
func (s *Source) Priority() (priority.Priority, error)  { return 0, unsupported("get priority") }
func (s *Source) SetPriority(p priority.Priority) error { return unsupported("set priority") }
func (s *Source) Enabled() (source.Enabled, error)      { return source.Off, unsupported("get enabled") }
func (s *Source) SetEnabled(m source.Enabled) error     { return unsupported("set enabled") }
func (s *Source) Floating() bool                        { return false }
func (s *Source) SetFloating(b bool) error              { return unsupported("set floating") }
func (s *Source) ExitOnFailure() bool                   { return false }
func (s *Source) SetExitOnFailure(b bool) error         { return unsupported("set exit on failure") }
func (s *Source) SetDestroyCallback(cb func(userdata any)) error {
	return unsupported("set destroy callback")
}

func (s *Source) SetRatelimit(interval time.Duration, burst uint) error {
	return unsupported("set ratelimit")
}

func (s *Source) Ratelimit() (interval time.Duration, burst uint, err error) {
	return 0, 0, unsupported("get ratelimit")
}

func (s *Source) IsRatelimited() bool { return false }

func (s *Source) SetRatelimitExpireCallback(h Handler) error {
	return unsupported("set ratelimit expire callback")
}

func (s *Source) LeaveRatelimit() (bool, error) { return false, unsupported("leave ratelimit") }

func (s *Source) IOFd() (int, error)              { return -1, unsupported("get io fd") }
func (s *Source) SetIOFd(fd int) error            { return unsupported("set io fd") }
func (s *Source) IOFdOwn() (bool, error)          { return false, unsupported("get io fd own") }
func (s *Source) SetIOFdOwn(own bool) error       { return unsupported("set io fd own") }
func (s *Source) IOEvents() (uint32, error)       { return 0, unsupported("get io events") }
func (s *Source) SetIOEvents(events uint32) error { return unsupported("set io events") }
func (s *Source) IORevents() (uint32, error)      { return 0, unsupported("get io revents") }
func (s *Source) Time() (time.Duration, error)    { return 0, unsupported("get time") }
func (s *Source) SetTime(t time.Duration) error   { return unsupported("set time") }
func (s *Source) SetTimeRelative(d time.Duration) error {
	return unsupported("set time relative")
}
func (s *Source) TimeAccuracy() (time.Duration, error)  { return 0, unsupported("get time accuracy") }
func (s *Source) SetTimeAccuracy(a time.Duration) error { return unsupported("set time accuracy") }
func (s *Source) TimeClock() (int, error)               { return 0, unsupported("get time clock") }
func (s *Source) Reset(d time.Duration) error           { return unsupported("reset") }
func (s *Source) Stop() error                           { return unsupported("stop") }
func (s *Source) Signal() (syscall.Signal, error)       { return 0, unsupported("get signal") }
func (s *Source) ChildPid() (int, error)                { return 0, unsupported("get child pid") }
func (s *Source) ChildPidfd() (int, error)              { return -1, unsupported("get child pidfd") }
func (s *Source) ChildPidfdOwn() (bool, error)          { return false, unsupported("get child pidfd own") }
func (s *Source) SetChildPidfdOwn(own bool) error       { return unsupported("set child pidfd own") }
func (s *Source) ChildProcessOwn() (bool, error)        { return false, unsupported("get child process own") }
func (s *Source) SetChildProcessOwn(own bool) error     { return unsupported("set child process own") }
func (s *Source) InotifyMask() (uint32, error)          { return 0, unsupported("get inotify mask") }
func (s *Source) InotifyPath() (string, error)          { return "", unsupported("get inotify path") }

func (s *Source) SendChildSignal(sig syscall.Signal, si *siginfo, flags uint) error {
	return unsupported("send child signal")
}

func (s *Source) SetMemoryPressureType(ty string) (bool, error) {
	return false, unsupported("set memory pressure type")
}

func (s *Source) SetMemoryPressurePeriod(threshold, window time.Duration) (bool, error) {
	return false, unsupported("set memory pressure period")
}

func (s *Source) SetCPUPressureType(ty string) error {
	return unsupported("set cpu pressure type")
}

func (s *Source) SetCPUPressurePeriod(threshold, window time.Duration) error {
	return unsupported("set cpu pressure period")
}

func (s *Source) SetIOPressureType(ty string) error {
	return unsupported("set io pressure type")
}

func (s *Source) SetIOPressurePeriod(threshold, window time.Duration) error {
	return unsupported("set io pressure period")
}
