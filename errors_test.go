//go:build linux

package sdevent_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
	"golang.org/x/sys/unix"
)

// errCase is one bad call: prepare sets up what it needs on the fresh loop e
// and returns the call and a check that the call changed nothing.
type errCase struct {
	name    string
	op      string     // the *Error's Op
	detail  string     // what stands between the op and the errno, if anything
	errno   unix.Errno // the errno sd-event returns for that input
	prepare func(t *testing.T, e *sdevent.Event) (call func() error, unchanged func(t *testing.T))
}

// TestErrors: every exported function and method of the root package that
// can fail returns, for bad input, an *Error whose Op is the operation the
// caller called, wrapping the errno sd-event returns for that input (its
// assert_return lines, checked against libsystemd 252), with one "sdevent:"
// prefix and the errno last; and the failed call changes nothing: no fd is
// left open, no source added, the source keeps its settings, and a valid
// call works afterwards. AddSignal/SetSignalExit and
// AddListenFds/Notify/SetWatchdog are tested with their own files.
func TestErrors(t *testing.T) {
	testutil.Check(t)
	nop := func(*sdevent.Source) error { return nil }
	regularFd := regularFile(t)
	// An int that is not a C int but whose low 32 bits are regularFd: what
	// epoll_ctl would see if it were passed on.
	bigFd := int(uint64(1)<<32 | uint64(regularFd))
	reapedPidfd := reapedPidfd(t)
	const closedFd = 1000 // far above what the tests open
	if testutil.FdOpen(closedFd) {
		t.Fatalf("fd %d is open", closedFd)
	}
	const noSuchPid = 1 << 22 // pid_max can be no higher
	for _, tc := range []errCase{
		// The loop's own calls.
		{"Prepare nil", "prepare", "", unix.EINVAL, nilLoop(func(e *sdevent.Event) error { _, err := e.Prepare(); return err })},
		{"Prepare armed", "prepare", "", unix.EBUSY, armed(func(e *sdevent.Event) error { _, err := e.Prepare(); return err })},
		{"Prepare finished", "prepare", "", unix.ESTALE, finished(func(e *sdevent.Event) error { _, err := e.Prepare(); return err })},
		{"Wait initial", "wait", "", unix.EBUSY, idle(func(e *sdevent.Event) error { _, err := e.Wait(0); return err })},
		{"Wait negative", "wait", "", unix.EINVAL, armed(func(e *sdevent.Event) error { _, err := e.Wait(-1); return err })},
		{"Wait finished", "wait", "", unix.ESTALE, finished(func(e *sdevent.Event) error { _, err := e.Wait(0); return err })},
		{"Dispatch initial", "dispatch", "", unix.EBUSY, idle(func(e *sdevent.Event) error { _, err := e.Dispatch(); return err })},
		{"Dispatch nil", "dispatch", "", unix.EINVAL, nilLoop(func(e *sdevent.Event) error { _, err := e.Dispatch(); return err })},
		{"Run negative", "run", "", unix.EINVAL, idle(func(e *sdevent.Event) error { _, err := e.Run(-time.Second); return err })},
		{"Run finished", "run", "", unix.ESTALE, finished(func(e *sdevent.Event) error { _, err := e.Run(0); return err })},
		{"Run armed", "run", "", unix.EBUSY, armed(func(e *sdevent.Event) error { _, err := e.Run(0); return err })},
		{"Loop nil", "loop", "", unix.EINVAL, nilLoop(func(e *sdevent.Event) error { _, err := e.Loop(); return err })},
		{"Loop finished", "loop", "", unix.EBUSY, finished(func(e *sdevent.Event) error { _, err := e.Loop(); return err })},
		{"LoopContext armed", "loop", "", unix.EBUSY, armed(func(e *sdevent.Event) error { _, err := e.LoopContext(t.Context()); return err })},
		{"Exit nil", "exit", "", unix.EINVAL, nilLoop(func(e *sdevent.Event) error { return e.Exit(1) })},
		{"Exit zero Event", "exit", "", unix.EINVAL, zeroLoop(func(e *sdevent.Event) error { return e.Exit(1) })},
		{"Exit finished", "exit", "", unix.ESTALE, finished(func(e *sdevent.Event) error { return e.Exit(1) })},
		{"ExitCode not exiting", "exit code", "", unix.ENODATA, idle(func(e *sdevent.Event) error { _, err := e.ExitCode(); return err })},
		{"ExitCode zero Event", "exit code", "", unix.EINVAL, zeroLoop(func(e *sdevent.Event) error { _, err := e.ExitCode(); return err })},
		{"Now unknown clock", "now", "", unix.EOPNOTSUPP, idle(func(e *sdevent.Event) error { _, err := e.Now(unix.CLOCK_TAI); return err })},
		{"Now nil", "now", "", unix.EINVAL, nilLoop(func(e *sdevent.Event) error { _, err := e.Now(unix.CLOCK_MONOTONIC); return err })},
		{"Now zero Event", "now", "", unix.EINVAL, zeroLoop(func(e *sdevent.Event) error { _, err := e.Now(unix.CLOCK_MONOTONIC); return err })},
		{"SetExitOnIdle nil", "set exit on idle", "", unix.EINVAL, nilLoop(func(e *sdevent.Event) error { return e.SetExitOnIdle(true) })},
		{"SetExitOnIdle zero Event", "set exit on idle", "", unix.EINVAL, zeroLoop(func(e *sdevent.Event) error { return e.SetExitOnIdle(true) })},
		{"Invoke nil func", "invoke", "", unix.EINVAL, idle(func(e *sdevent.Event) error { return e.Invoke(nil) })},
		{"Invoke finished", "invoke", "", unix.ESTALE, finished(func(e *sdevent.Event) error { return e.Invoke(func() {}) })},

		// Adding sources.
		{"AddIO nil", "add io 0", "", unix.EINVAL, nilLoop(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddIO(0, unix.EPOLLIN, nil) }))},
		{"AddIO fd -1", "add io -1", "", unix.EBADF, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddIO(-1, unix.EPOLLIN, nil) }))},
		{"AddIO fd past a C int", "add io " + strconv.Itoa(bigFd), "", unix.EBADF, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddIO(bigFd, unix.EPOLLIN, nil) }))},
		{"AddIO unknown events", "add io 0", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddIO(0, 1<<20, nil) }))},
		{"AddIO EPOLLONESHOT", "add io 0", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddIO(0, unix.EPOLLONESHOT, nil) }))},
		{"AddIO finished", "add io 0", "", unix.ESTALE, finished(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddIO(0, unix.EPOLLIN, nil) }))},
		{"AddIO regular file", "add io " + strconv.Itoa(regularFd), "epoll_ctl: ", unix.EPERM, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddIO(regularFd, unix.EPOLLIN, nil)
		}))},
		{"AddTime accuracy Infinity", "add time 1", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddTime(unix.CLOCK_MONOTONIC, 0, sdevent.Infinity, nil)
		}))},
		{"AddTime negative time", "add time 1", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddTime(unix.CLOCK_MONOTONIC, -1, 0, nil)
		}))},
		{"AddTime unknown clock", "add time 11", "", unix.EOPNOTSUPP, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddTime(unix.CLOCK_TAI, 0, 0, nil)
		}))},
		{"AddTime finished", "add time 1", "", unix.ESTALE, finished(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddTime(unix.CLOCK_MONOTONIC, 0, 0, nil)
		}))},
		{"AddTimeRelative nil", "add time relative 1", "", unix.EINVAL, nilLoop(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Second, 0, nil)
		}))},
		{"AddTimeRelative negative", "add time relative 1", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_MONOTONIC, -time.Second, 0, nil)
		}))},
		{"AddTimeRelative overflow", "add time relative 1", "", unix.EOVERFLOW, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_MONOTONIC, sdevent.Infinity-1, 0, nil)
		}))},
		{"AddTimeRelative unknown clock", "add time relative 11", "", unix.EOPNOTSUPP, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_TAI, time.Second, 0, nil)
		}))},
		{"AddTimeRelative accuracy Infinity", "add time relative 7", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_BOOTTIME, time.Second, sdevent.Infinity, nil)
		}))},
		{"AddTimeRelative finished", "add time relative 0", "", unix.ESTALE, finished(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_REALTIME, time.Second, 0, nil)
		}))},
		{"AddDefer nil", "add defer", "", unix.EINVAL, nilLoop(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddDefer(nop) }))},
		{"AddDefer finished", "add defer", "", unix.ESTALE, finished(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddDefer(nop) }))},
		{"AddPost finished", "add post", "", unix.ESTALE, finished(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddPost(nop) }))},
		{"AddExit nil handler", "add exit", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddExit(nil) }))},
		{"AddExit finished", "add exit", "", unix.ESTALE, finished(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddExit(nop) }))},
		{"AddChild pid 1", "add child 1", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddChild(1, unix.WEXITED, nil) }))},
		{"AddChild options 0", "add child 2", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddChild(2, 0, nil) }))},
		{"AddChild finished", "add child 2", "", unix.ESTALE, finished(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddChild(2, unix.WEXITED, nil) }))},
		{"AddChild ourselves", "add child " + strconv.Itoa(os.Getpid()), "waitid: ", unix.ECHILD, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddChild(os.Getpid(), unix.WEXITED, nil)
		}))},
		{"AddChild no such process", "add child " + strconv.Itoa(noSuchPid), "pidfd_open: ", unix.ESRCH, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddChild(noSuchPid, unix.WEXITED, nil)
		}))},
		{"AddChildPidfd nil, fd -1", "add child pidfd -1", "", unix.EINVAL, nilLoop(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddChildPidfd(-1, unix.WEXITED, nil)
		}))},
		{"AddChildPidfd fd -1", "add child pidfd -1", "", unix.EBADF, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddChildPidfd(-1, 0, nil) // the fd before the options, as in C
		}))},
		{"AddChildPidfd closed fd", "add child pidfd " + strconv.Itoa(closedFd), "", unix.EBADF, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddChildPidfd(closedFd, unix.WEXITED, nil)
		}))},
		{"AddChildPidfd not a pidfd", "add child pidfd " + strconv.Itoa(regularFd), "", unix.ENOTTY, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddChildPidfd(regularFd, unix.WEXITED, nil)
		}))},
		{"AddChildPidfd reaped", "add child pidfd " + strconv.Itoa(reapedPidfd), "", unix.ESRCH, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddChildPidfd(reapedPidfd, unix.WEXITED, nil)
		}))},
		{"AddCommand nil", "add command", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddCommand(nil, unix.WEXITED, nil) }))},
		{"AddCommand options 0", "add command", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddCommand(exec.Command("true"), 0, nil)
		}))},
		{"AddCommand finished", "add command", "", unix.ESTALE, finished(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddCommand(exec.Command("true"), unix.WEXITED, nil)
		}))},
		{"AddInotify missing path", "add inotify /nonexistent", "open /nonexistent: ", unix.ENOENT, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddInotify("/nonexistent", unix.IN_CREATE, nil)
		}))},
		{"AddInotify nil, missing path", "add inotify /nonexistent", "open /nonexistent: ", unix.ENOENT, nilLoop(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddInotify("/nonexistent", unix.IN_CREATE, nil) // the path is opened first, as in C
		}))},
		{"AddInotify IN_MASK_ADD", "add inotify /", "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddInotify("/", unix.IN_CREATE|unix.IN_MASK_ADD, nil)
		}))},
		{"AddInotify finished", "add inotify /", "", unix.ESTALE, finished(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddInotify("/", unix.IN_CREATE, nil)
		}))},
		{"AddInotifyFd nil, fd -1", "add inotify fd -1", "", unix.EINVAL, nilLoop(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddInotifyFd(-1, unix.IN_CREATE, nil)
		}))},
		{"AddInotifyFd fd -1", "add inotify fd -1", "", unix.EBADF, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddInotifyFd(-1, unix.IN_CREATE, nil)
		}))},
		{"AddInotifyFd closed fd", "add inotify fd " + strconv.Itoa(closedFd), "fstat: ", unix.EBADF, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddInotifyFd(closedFd, unix.IN_CREATE, nil)
		}))},
		{"AddInotifyFd IN_MASK_ADD", "add inotify fd " + strconv.Itoa(regularFd), "", unix.EINVAL, idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) {
			return e.AddInotifyFd(regularFd, unix.IN_MODIFY|unix.IN_MASK_ADD, nil)
		}))},
		{"AddMemoryPressure watching off", "add memory pressure", `memory pressure watching is off ($MEMORY_PRESSURE_WATCH=""): `, unix.EHOSTDOWN, func(t *testing.T, e *sdevent.Event) (func() error, func(*testing.T)) {
			t.Setenv("MEMORY_PRESSURE_WATCH", "")
			return idle(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddMemoryPressure(nil) }))(t, e)
		}},
		{"AddMemoryPressure finished", "add memory pressure", "", unix.ESTALE, finished(addErr(func(e *sdevent.Event) (*sdevent.Source, error) { return e.AddMemoryPressure(nil) }))},

		// Sources of any kind.
		{"SetDescription nil", "set description", "", unix.EINVAL, nilSource(func(s *sdevent.Source) error { return s.SetDescription("x") })},
		{"Description unset", "description", "", unix.ENXIO, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.Description(); return err })},
		{"SetPrepare exit source", "set prepare", "", unix.EDOM, onSource(newExit, func(s *sdevent.Source) error { return s.SetPrepare(nop) })},
		{"SetPrepare finished", "set prepare", "", unix.ESTALE, onSource(thenFinished(newDefer), func(s *sdevent.Source) error { return s.SetPrepare(nop) })},
		{"Pending exit source", "pending", "", unix.EDOM, onSource(newExit, func(s *sdevent.Source) error { _, err := s.Pending(); return err })},
		{"Pending finished", "pending", "", unix.ESTALE, onSource(thenFinished(newDefer), func(s *sdevent.Source) error { _, err := s.Pending(); return err })},
		{"Priority nil", "priority", "", unix.EINVAL, nilSource(func(s *sdevent.Source) error { _, err := s.Priority(); return err })},
		{"SetPriority finished", "set priority", "", unix.ESTALE, onSource(thenFinished(newDefer), func(s *sdevent.Source) error { return s.SetPriority(priority.Important) })},
		{"SetPriority disconnected", "set priority", "", unix.ESTALE, disconnected(func(s *sdevent.Source) error { return s.SetPriority(priority.Important) })},
		{"SetPriority inotify after an iteration", "set priority", "", unix.EOPNOTSUPP, oldInotify},
		{"Enabled nil", "enabled", "", unix.EINVAL, nilSource(func(s *sdevent.Source) error { _, err := s.Enabled(); return err })},
		{"SetEnabled invalid", "set enabled", "", unix.EINVAL, onSource(newDefer, func(s *sdevent.Source) error { return s.SetEnabled(source.Enabled(7)) })},
		{"SetEnabled nil On", "set enabled", "", unix.EINVAL, nilSource(func(s *sdevent.Source) error { return s.SetEnabled(source.On) })},
		{"SetEnabled finished", "set enabled", "", unix.ESTALE, onSource(thenFinished(newDefer), func(s *sdevent.Source) error { return s.SetEnabled(source.On) })},
		{"SetFloating nil", "set floating", "", unix.EINVAL, nilSource(func(s *sdevent.Source) error { return s.SetFloating(true) })},
		{"SetFloating disconnected", "set floating", "", unix.ESTALE, disconnected(func(s *sdevent.Source) error { return s.SetFloating(false) })},
		{"SetExitOnFailure exit source", "set exit on failure", "", unix.EDOM, onSource(newExit, func(s *sdevent.Source) error { return s.SetExitOnFailure(true) })},
		{"SetDestroyCallback nil", "set destroy callback", "", unix.EINVAL, nilSource(func(s *sdevent.Source) error { return s.SetDestroyCallback(nil) })},
		{"SetDestroyCallback disconnected", "set destroy callback", "", unix.EINVAL, disconnected(func(s *sdevent.Source) error { return s.SetDestroyCallback(func(any) {}) })},
		{"SetRatelimit exit source", "set ratelimit", "", unix.EDOM, onSource(newExit, func(s *sdevent.Source) error { return s.SetRatelimit(time.Second, 1) })},
		{"SetRatelimit negative", "set ratelimit", "", unix.EINVAL, onSource(newDefer, func(s *sdevent.Source) error { return s.SetRatelimit(-time.Second, 1) })},
		{"Ratelimit unset", "ratelimit", "", unix.ENOEXEC, onSource(newDefer, func(s *sdevent.Source) error { _, _, err := s.Ratelimit(); return err })},
		{"Ratelimit exit source", "ratelimit", "", unix.EDOM, onSource(newExit, func(s *sdevent.Source) error { _, _, err := s.Ratelimit(); return err })},
		{"SetRatelimitExpireCallback nil", "set ratelimit expire callback", "", unix.EINVAL, nilSource(func(s *sdevent.Source) error { return s.SetRatelimitExpireCallback(nop) })},
		{"LeaveRatelimit nil", "leave ratelimit", "", unix.EINVAL, nilSource(func(s *sdevent.Source) error { _, err := s.LeaveRatelimit(); return err })},

		// IO sources.
		{"IOFd defer", "io fd", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.IOFd(); return err })},
		{"SetIOFd nil, fd -1", "set io fd", "", unix.EINVAL, nilSource(func(s *sdevent.Source) error { return s.SetIOFd(-1) })},
		{"SetIOFd defer, fd -1", "set io fd", "", unix.EBADF, onSource(newDefer, func(s *sdevent.Source) error { return s.SetIOFd(-1) })},
		{"SetIOFd defer", "set io fd", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { return s.SetIOFd(0) })},
		{"SetIOFd fd -1", "set io fd", "", unix.EBADF, onSource(newIO, func(s *sdevent.Source) error { return s.SetIOFd(-1) })},
		{"SetIOFd fd past a C int", "set io fd", "", unix.EBADF, onSource(newIO, func(s *sdevent.Source) error { return s.SetIOFd(bigFd) })},
		{"SetIOFd regular file", "set io fd", "epoll_ctl: ", unix.EPERM, onSource(newIO, func(s *sdevent.Source) error { return s.SetIOFd(regularFd) })},
		{"IOFdOwn defer", "io fd own", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.IOFdOwn(); return err })},
		{"SetIOFdOwn defer", "set io fd own", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { return s.SetIOFdOwn(true) })},
		{"IOEvents defer", "io events", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.IOEvents(); return err })},
		{"SetIOEvents unknown", "set io events", "", unix.EINVAL, onSource(newIO, func(s *sdevent.Source) error { return s.SetIOEvents(1 << 20) })},
		{"SetIOEvents finished", "set io events", "", unix.ESTALE, onSource(thenFinished(newIO), func(s *sdevent.Source) error { return s.SetIOEvents(unix.EPOLLOUT) })},
		{"IORevents not pending", "io revents", "", unix.ENODATA, onSource(newIO, func(s *sdevent.Source) error { _, err := s.IORevents(); return err })},

		// Time sources.
		{"Time defer", "time", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.Time(); return err })},
		{"SetTime negative", "set time", "", unix.EINVAL, onSource(newTimer, func(s *sdevent.Source) error { return s.SetTime(-1) })},
		{"SetTime finished", "set time", "", unix.ESTALE, onSource(thenFinished(newTimer), func(s *sdevent.Source) error { return s.SetTime(0) })},
		{"SetTimeRelative negative", "set time relative", "", unix.EINVAL, onSource(newTimer, func(s *sdevent.Source) error { return s.SetTimeRelative(-1) })},
		{"SetTimeRelative overflow", "set time relative", "", unix.EOVERFLOW, onSource(newTimer, func(s *sdevent.Source) error { return s.SetTimeRelative(sdevent.Infinity - 1) })},
		{"SetTimeRelative defer", "set time relative", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { return s.SetTimeRelative(time.Second) })},
		{"SetTimeRelative finished", "set time relative", "", unix.ESTALE, onSource(thenFinished(newTimer), func(s *sdevent.Source) error { return s.SetTimeRelative(time.Second) })},
		{"SetTimeRelative Infinity finished", "set time relative", "", unix.ESTALE, onSource(thenFinished(newTimer), func(s *sdevent.Source) error { return s.SetTimeRelative(sdevent.Infinity) })},
		{"TimeAccuracy defer", "time accuracy", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.TimeAccuracy(); return err })},
		{"SetTimeAccuracy Infinity", "set time accuracy", "", unix.EINVAL, onSource(newTimer, func(s *sdevent.Source) error { return s.SetTimeAccuracy(sdevent.Infinity) })},
		{"SetTimeAccuracy finished", "set time accuracy", "", unix.ESTALE, onSource(thenFinished(newTimer), func(s *sdevent.Source) error { return s.SetTimeAccuracy(time.Second) })},
		{"TimeClock defer", "time clock", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.TimeClock(); return err })},

		// Child sources.
		{"ChildPid defer", "child pid", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.ChildPid(); return err })},
		{"ChildPidfd defer", "child pidfd", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.ChildPidfd(); return err })},
		{"ChildPidfdOwn defer", "child pidfd own", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.ChildPidfdOwn(); return err })},
		{"SetChildPidfdOwn defer", "set child pidfd own", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { return s.SetChildPidfdOwn(true) })},
		{"ChildProcessOwn defer", "child process own", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.ChildProcessOwn(); return err })},
		{"SetChildProcessOwn defer", "set child process own", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { return s.SetChildProcessOwn(true) })},
		{"SendChildSignal defer", "send child signal", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { return s.SendChildSignal(unix.SIGTERM, nil, 0) })},
		{"SendChildSignal signal 0", "send child signal", "", unix.EINVAL, onSource(newChild, func(s *sdevent.Source) error { return s.SendChildSignal(0, nil, 0) })},
		{"SendChildSignal signal 65", "send child signal", "", unix.EINVAL, onSource(newChild, func(s *sdevent.Source) error { return s.SendChildSignal(65, nil, 0) })},

		// Inotify sources.
		{"InotifyMask defer", "inotify mask", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.InotifyMask(); return err })},
		{"InotifyPath defer", "inotify path", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.InotifyPath(); return err })},

		// Memory pressure sources: the arguments are checked before the lock.
		{"SetMemoryPressureType defer", "set memory pressure type", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error { _, err := s.SetMemoryPressureType("some"); return err })},
		{"SetMemoryPressureType unknown", "set memory pressure type", "", unix.EINVAL, onSource(newLockedPressure, func(s *sdevent.Source) error { _, err := s.SetMemoryPressureType("most"); return err })},
		{"SetMemoryPressureType locked", "set memory pressure type", "", unix.EBUSY, onSource(newLockedPressure, func(s *sdevent.Source) error { _, err := s.SetMemoryPressureType("full"); return err })},
		{"SetMemoryPressurePeriod defer", "set memory pressure period", "", unix.EDOM, onSource(newDefer, func(s *sdevent.Source) error {
			_, err := s.SetMemoryPressurePeriod(time.Millisecond, time.Second)
			return err
		})},
		{"SetMemoryPressurePeriod zero threshold", "set memory pressure period", "", unix.ERANGE, onSource(newLockedPressure, func(s *sdevent.Source) error {
			_, err := s.SetMemoryPressurePeriod(0, time.Second)
			return err
		})},
		{"SetMemoryPressurePeriod threshold past window", "set memory pressure period", "", unix.EINVAL, onSource(newLockedPressure, func(s *sdevent.Source) error {
			_, err := s.SetMemoryPressurePeriod(2*time.Second, time.Second)
			return err
		})},
		{"SetMemoryPressurePeriod locked", "set memory pressure period", "", unix.EBUSY, onSource(newLockedPressure, func(s *sdevent.Source) error {
			_, err := s.SetMemoryPressurePeriod(time.Millisecond, time.Second)
			return err
		})},
	} {
		t.Run(tc.name, tc.check)
	}
}

// check makes the bad call on a fresh loop and checks its error and that it
// changed nothing.
func (tc errCase) check(t *testing.T) {
	e := newLoop(t)
	call, unchanged := tc.prepare(t, e)
	before := testutil.FdCount()
	err := call()
	if after := testutil.FdCount(); after != before {
		t.Errorf("%d fds open before the call, %d after", before, after)
	}
	if !errors.Is(err, tc.errno) {
		t.Fatalf("error %v, want one wrapping %s", err, unix.ErrnoName(tc.errno))
	}
	var se *sdevent.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %T %v is no *sdevent.Error", err, err)
	}
	if se.Op != tc.op {
		t.Errorf("Op %q, want %q", se.Op, tc.op)
	}
	var inner *sdevent.Error
	if errors.As(se.Err, &inner) {
		t.Errorf("an *Error wrapped in an *Error: %v", err)
	}
	if want := "sdevent: " + tc.op + ": " + tc.detail + tc.errno.Error(); err.Error() != want {
		t.Errorf("Error()\n got %q\nwant %q", err.Error(), want)
	}
	unchanged(t)
}

// reapedPidfd returns a pidfd of a child that has exited and been waited
// for; the test's cleanup closes it.
func reapedPidfd(t *testing.T) int {
	cmd := exec.Command("true")
	ok(t, "start", cmd.Start())
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		_ = cmd.Wait() // reaps it; the test fails below
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	ok(t, "wait", cmd.Wait())
	return fd
}

// regularFile returns an fd of a regular file, which epoll refuses and
// which is no pidfd; the test's cleanup closes it.
func regularFile(t *testing.T) int {
	fd, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

type prepareFunc = func(t *testing.T, e *sdevent.Event) (func() error, func(*testing.T))

// addErr turns an Add call into a call that must fail and add nothing.
func addErr(add func(e *sdevent.Event) (*sdevent.Source, error)) func(e *sdevent.Event) error {
	return func(e *sdevent.Event) error {
		s, err := add(e)
		if s != nil {
			s.Unref()
			return errors.New("a source was added")
		}
		return err
	}
}

// stillIdle checks that e has no enabled source: with exit-on-idle, one
// iteration exits it.
func stillIdle(e *sdevent.Event) func(t *testing.T) {
	return func(t *testing.T) {
		t.Helper()
		if e.State() != sdevent.Initial {
			t.Fatalf("state %v after the failed call, want initial", e.State())
		}
		ok(t, "SetExitOnIdle", e.SetExitOnIdle(true))
		run(t, e, 0)
		if _, err := e.ExitCode(); err != nil {
			t.Errorf("the loop did not exit on idle: the failed call left a source (%v)", err)
		}
	}
}

// idle: the call on a fresh loop.
func idle(call func(e *sdevent.Event) error) prepareFunc {
	return func(t *testing.T, e *sdevent.Event) (func() error, func(*testing.T)) {
		return func() error { return call(e) }, stillIdle(e)
	}
}

// armed: the call on a loop between Prepare and Wait; Wait still works.
func armed(call func(e *sdevent.Event) error) prepareFunc {
	return func(t *testing.T, e *sdevent.Event) (func() error, func(*testing.T)) {
		if p, err := e.Prepare(); p || err != nil {
			t.Fatalf("Prepare = %v, %v", p, err)
		}
		return func() error { return call(e) }, func(t *testing.T) {
			if e.State() != sdevent.Armed {
				t.Fatalf("state %v, want armed", e.State())
			}
			if _, err := e.Wait(0); err != nil {
				t.Fatalf("Wait after the failed call: %v", err)
			}
		}
	}
}

// finishLoop runs e to its end.
func finishLoop(t *testing.T, e *sdevent.Event) {
	t.Helper()
	ok(t, "Exit", e.Exit(0))
	loop(t, e)
}

// finished: the call on a loop that has finished; it stays finished.
func finished(call func(e *sdevent.Event) error) prepareFunc {
	return func(t *testing.T, e *sdevent.Event) (func() error, func(*testing.T)) {
		finishLoop(t, e)
		return func() error { return call(e) }, func(t *testing.T) {
			if e.State() != sdevent.Finished {
				t.Errorf("state %v, want finished", e.State())
			}
		}
	}
}

// nilLoop: the call on a nil *Event; the test's loop is untouched.
func nilLoop(call func(e *sdevent.Event) error) prepareFunc {
	return func(t *testing.T, e *sdevent.Event) (func() error, func(*testing.T)) {
		return func() error { return call(nil) }, stillIdle(e)
	}
}

// zeroLoop: the call on an Event not made by New.
func zeroLoop(call func(e *sdevent.Event) error) prepareFunc {
	return func(t *testing.T, e *sdevent.Event) (func() error, func(*testing.T)) {
		var z sdevent.Event
		return func() error { return call(&z) }, func(t *testing.T) {
			if z.ExitOnIdle() {
				t.Error("the zero Event was changed")
			}
			stillIdle(e)(t)
		}
	}
}

// sourceSettings is what a failed call on a source must leave as it was.
type sourceSettings struct {
	enabled  source.Enabled
	prio     priority.Priority
	floating bool
	time     time.Duration
	ioFd     int
	ioEvents uint32
}

func settingsOf(s *sdevent.Source) sourceSettings {
	var st sourceSettings
	st.enabled, _ = s.Enabled()
	st.prio, _ = s.Priority()
	st.floating = s.Floating()
	st.time, _ = s.Time()
	st.ioFd, _ = s.IOFd()
	st.ioEvents, _ = s.IOEvents()
	return st
}

// onSource: the call on the source that add makes; the source keeps its
// settings.
func onSource(add func(t *testing.T, e *sdevent.Event) *sdevent.Source, call func(s *sdevent.Source) error) prepareFunc {
	return func(t *testing.T, e *sdevent.Event) (func() error, func(*testing.T)) {
		s := add(t, e)
		was := settingsOf(s)
		return func() error { return call(s) }, func(t *testing.T) {
			if now := settingsOf(s); now != was {
				t.Errorf("the source changed: %+v, was %+v", now, was)
			}
		}
	}
}

func nilSource(call func(s *sdevent.Source) error) prepareFunc {
	return func(t *testing.T, e *sdevent.Event) (func() error, func(*testing.T)) {
		return func() error { return call(nil) }, stillIdle(e)
	}
}

// Sources for onSource, one of each kind a row needs.

func newDefer(t *testing.T, e *sdevent.Event) *sdevent.Source {
	return keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
}

func newExit(t *testing.T, e *sdevent.Event) *sdevent.Source {
	return keep(t)(e.AddExit(func(*sdevent.Source) error { return nil }))
}

func newIO(t *testing.T, e *sdevent.Event) *sdevent.Source {
	r, _ := testutil.Pipe(t)
	return keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { return nil }))
}

func newTimer(t *testing.T, e *sdevent.Event) *sdevent.Source {
	return keep(t)(e.AddTime(unix.CLOCK_MONOTONIC, sdevent.Infinity, 0, nil))
}

// newChild watches a child that the source kills and reaps when freed.
func newChild(t *testing.T, e *sdevent.Event) *sdevent.Source {
	s := keep(t)(e.AddCommand(exec.Command("sleep", "1000"), unix.WEXITED, nil))
	ok(t, "SetChildProcessOwn", s.SetChildProcessOwn(true))
	return s
}

// newLockedPressure watches a FIFO named by the environment, so the caller
// may not change the trigger.
func newLockedPressure(t *testing.T, e *sdevent.Event) *sdevent.Source {
	memoryPressureFifo(t)
	return keep(t)(e.AddMemoryPressure(nil))
}

// thenFinished: the source of add, on a loop that has since finished.
func thenFinished(add func(t *testing.T, e *sdevent.Event) *sdevent.Source) func(t *testing.T, e *sdevent.Event) *sdevent.Source {
	return func(t *testing.T, e *sdevent.Event) *sdevent.Source {
		s := add(t, e)
		finishLoop(t, e)
		return s
	}
}

// disconnected: the call on a source whose loop was freed while the caller
// held a reference to it (a floating source outlives its loop so).
func disconnected(call func(s *sdevent.Source) error) prepareFunc {
	return func(t *testing.T, _ *sdevent.Event) (func() error, func(*testing.T)) {
		e, err := sdevent.New()
		ok(t, "New", err)
		s := must(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
		ok(t, "SetFloating", s.SetFloating(true))
		e.Unref() // frees the loop, which drops its reference; ours stays
		t.Cleanup(s.Unref)
		if s.Event() != nil {
			t.Fatal("the source is still connected")
		}
		was := settingsOf(s)
		return func() error { return call(s) }, func(t *testing.T) {
			if now := settingsOf(s); now != was || s.Event() != nil {
				t.Errorf("the source changed: %+v, was %+v", now, was)
			}
		}
	}
}

// oldInotify: an inotify source after an iteration, whose inode fd is
// closed: its priority can no longer move (EOPNOTSUPP, as in C).
func oldInotify(t *testing.T, e *sdevent.Event) (func() error, func(*testing.T)) {
	dir := t.TempDir()
	s := keep(t)(e.AddInotify(dir, unix.IN_CREATE, func(*sdevent.Source, *sdevent.InotifyEvent) error { return nil }))
	run(t, e, 0)
	was := settingsOf(s)
	return func() error { return s.SetPriority(priority.Idle) }, func(t *testing.T) {
		if now := settingsOf(s); now != was {
			t.Errorf("the source changed: %+v, was %+v", now, was)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			if i == 10 {
				t.Fatal("the source no longer dispatches")
			}
			if run(t, e, long) {
				break
			}
		}
	}
}

// TestAddErrors: the argument checks of the Add* calls and of Now.
//
// From SEMANTICS.md, "Kinds": the argument checks of each kind.
func TestAddErrors(t *testing.T) {
	e := newLoop(t)
	r, _ := testutil.Pipe(t)
	nopIO := func(*sdevent.Source, int, uint32) error { return nil }
	nopTime := func(*sdevent.Source, time.Duration) error { return nil }
	file, err := os.CreateTemp(t.TempDir(), "regular")
	ok(t, "temp file", err)
	t.Cleanup(func() { file.Close() })
	regular := int(file.Fd())

	for _, tc := range []struct {
		name string
		add  func() (*sdevent.Source, error)
		want unix.Errno
	}{
		{"io fd -1", func() (*sdevent.Source, error) { return e.AddIO(-1, unix.EPOLLIN, nopIO) }, unix.EBADF},
		{"io EPOLLONESHOT", func() (*sdevent.Source, error) { return e.AddIO(r, unix.EPOLLIN|unix.EPOLLONESHOT, nopIO) }, unix.EINVAL},
		{"io EPOLLEXCLUSIVE", func() (*sdevent.Source, error) { return e.AddIO(r, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, nopIO) }, unix.EINVAL},
		{"io EPOLLWAKEUP", func() (*sdevent.Source, error) { return e.AddIO(r, unix.EPOLLWAKEUP, nopIO) }, unix.EINVAL},
		{"io unknown bit", func() (*sdevent.Source, error) { return e.AddIO(r, 1<<20, nopIO) }, unix.EINVAL},
		{"io regular file", func() (*sdevent.Source, error) { return e.AddIO(regular, unix.EPOLLIN, nopIO) }, unix.EPERM},
		{"time unknown clock", func() (*sdevent.Source, error) { return e.AddTime(900, 0, 0, nopTime) }, unix.EOPNOTSUPP},
		{"time clock -1", func() (*sdevent.Source, error) { return e.AddTime(-1, 0, 0, nopTime) }, unix.EOPNOTSUPP},
		{"time CPU clock", func() (*sdevent.Source, error) { return e.AddTime(unix.CLOCK_PROCESS_CPUTIME_ID, 0, 0, nopTime) }, unix.EOPNOTSUPP},
		{"relative unknown clock", func() (*sdevent.Source, error) { return e.AddTimeRelative(900, 0, 0, nopTime) }, unix.EOPNOTSUPP},
		{"time accuracy Infinity", func() (*sdevent.Source, error) {
			return e.AddTime(unix.CLOCK_MONOTONIC, 0, sdevent.Infinity, nopTime)
		}, unix.EINVAL},
		{"relative accuracy Infinity", func() (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_MONOTONIC, 0, sdevent.Infinity, nopTime)
		}, unix.EINVAL},
		{"relative overflow", func() (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_MONOTONIC, sdevent.Infinity-1, 0, nopTime)
		}, unix.EOVERFLOW},
		{"relative Infinity", func() (*sdevent.Source, error) {
			return e.AddTimeRelative(unix.CLOCK_MONOTONIC, sdevent.Infinity, 0, nopTime)
		}, unix.EOVERFLOW},
		{"exit nil handler", func() (*sdevent.Source, error) { return e.AddExit(nil) }, unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.add()
			if s != nil {
				s.Unref()
				t.Errorf("got a source, want an error")
			}
			wantErrno(t, tc.name, err, tc.want)
		})
	}

	// The same fd twice in one loop: the error epoll_ctl gives (EEXIST).
	s := keep(t)(e.AddIO(r, unix.EPOLLIN, nopIO))
	_ = s
	s2, err := e.AddIO(r, unix.EPOLLIN, nopIO)
	if s2 != nil {
		s2.Unref()
	}
	wantErrno(t, "same fd twice", err, unix.EEXIST)
}

// TestSourceSetterErrors: the argument checks of the setters.
//
// From SEMANTICS.md, "Sources, in general": the argument checks of the setters.
func TestSourceSetterErrors(t *testing.T) {
	e := newLoop(t)
	r, _ := testutil.Pipe(t)
	io := keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { return nil }))
	tm := keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Hour, 0, func(*sdevent.Source, time.Duration) error { return nil }))
	def := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	post := keep(t)(e.AddPost(func(*sdevent.Source) error { return nil }))
	exit := keep(t)(e.AddExit(func(*sdevent.Source) error { return nil }))

	for _, tc := range []struct {
		name string
		call func() error
		want unix.Errno
	}{
		{"SetEnabled(2)", func() error { return def.SetEnabled(2) }, unix.EINVAL},
		{"SetEnabled(-2)", func() error { return io.SetEnabled(-2) }, unix.EINVAL},
		{"SetIOEvents(EPOLLONESHOT)", func() error { return io.SetIOEvents(unix.EPOLLIN | unix.EPOLLONESHOT) }, unix.EINVAL},
		{"SetIOEvents(1<<20)", func() error { return io.SetIOEvents(1 << 20) }, unix.EINVAL},
		{"SetIOFd(-1)", func() error { return io.SetIOFd(-1) }, unix.EBADF},
		{"SetTimeAccuracy(Infinity)", func() error { return tm.SetTimeAccuracy(sdevent.Infinity) }, unix.EINVAL},
		{"SetTimeRelative overflow", func() error { return tm.SetTimeRelative(sdevent.Infinity - 1) }, unix.EOVERFLOW},
		{"SetRatelimit(-1s, 5)", func() error { return io.SetRatelimit(-time.Second, 5) }, unix.EINVAL},
		{"SetRatelimit on post", func() error { return post.SetRatelimit(time.Second, 5) }, unix.EDOM},
		{"SetRatelimit on exit", func() error { return exit.SetRatelimit(time.Second, 5) }, unix.EDOM},
	} {
		wantErrno(t, tc.name, tc.call(), tc.want)
	}
	// A zero interval or burst is no limit, as in C (sd_event_source_set_ratelimit
	// accepts it; sd_event_source_get_ratelimit then gives ENOEXEC).
	for _, l := range []struct {
		interval time.Duration
		burst    uint
	}{{0, 5}, {time.Second, 0}} {
		ok(t, "set a limit", io.SetRatelimit(time.Second, 5))
		ok(t, "SetRatelimit(half zero)", io.SetRatelimit(l.interval, l.burst))
		if _, _, err := io.Ratelimit(); !errors.Is(err, unix.ENOEXEC) {
			t.Errorf("Ratelimit after SetRatelimit(%v, %d): %v, want ENOEXEC", l.interval, l.burst, err)
		}
	}
	ok(t, "SetRatelimit(0, 0)", io.SetRatelimit(0, 0))
	ok(t, "SetRatelimit on defer", def.SetRatelimit(time.Second, 5))
	ok(t, "SetRatelimit on time", tm.SetRatelimit(time.Second, 5))

	_, _, err := io.Ratelimit()
	wantErrno(t, "Ratelimit() unset", err, unix.ENOEXEC)
	if iv, b, err := def.Ratelimit(); err != nil || iv != time.Second || b != 5 {
		t.Errorf("Ratelimit() = %v, %d, %v; want 1s, 5", iv, b, err)
	}
	ok(t, "clear", def.SetRatelimit(0, 0))
	_, _, err = def.Ratelimit()
	wantErrno(t, "Ratelimit() after (0, 0)", err, unix.ENOEXEC)

	_, err = io.Description()
	wantErrno(t, "Description unset", err, unix.ENXIO)
	ok(t, "SetDescription", io.SetDescription("pipe"))
	if d, err := io.Description(); err != nil || d != "pipe" {
		t.Errorf("Description = %q, %v; want pipe", d, err)
	}

	_, err = io.IORevents()
	wantErrno(t, "IORevents when not pending", err, unix.ENODATA)

	// Defaults: IO and post start ON, time, defer and exit ONESHOT.
	for _, d := range []struct {
		name string
		s    *sdevent.Source
		want source.Enabled
	}{{"io", io, source.On}, {"post", post, source.On}, {"time", tm, source.OneShot}, {"defer", def, source.OneShot}, {"exit", exit, source.OneShot}} {
		if m, err := d.s.Enabled(); err != nil || m != d.want {
			t.Errorf("%s source starts %v, %v; want %v", d.name, m, err, d.want)
		}
	}
}

// faultHelperEnv makes TestFaultEMFILE run its body in the process that
// TestFaultEMFILE started (the re-exec pattern of os/signal's tests): the
// descriptor limit is the whole process's, so it is lowered in a child.
const faultHelperEnv = "SDEVENT_FAULT_TEST_HELPER"

// faultResult is how the helper process reports a case that passed.
const faultResult = "EMFILE-CASE-OK "

// faultEMFILECases are the cases the helper must report, in order.
var faultEMFILECases = []string{
	"New/0", "New/1", "AddTime", "AddChild", "AddCommand", "AddInotify/0", "AddInotify/1", "AddSignal",
}

// TestFaultEMFILE: when the process runs out of descriptors, each call
// that needs a new one (New: an epoll fd and an eventfd; AddTime on a new
// clock: a timerfd; AddChild: a pidfd; AddCommand: os/exec's; AddInotify:
// an O_PATH fd and an inotify fd; the first AddSignal: an eventfd) returns
// an error wrapping EMFILE, changes nothing (no descriptor kept, no source,
// no iteration, nothing pending) and leaves the loop usable: with
// descriptors to spare again, the same call works and its source is
// dispatched.
//
// Fault test of issue 5.
func TestFaultEMFILE(t *testing.T) {
	if os.Getenv(faultHelperEnv) == "emfile" {
		faultEMFILEHelper(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultEMFILE$", "-test.count=1", "-test.v")
	// Under -race, a process that exits 0 sleeps 1s at exit unless told not to.
	cmd.Env = append(os.Environ(), faultHelperEnv+"=emfile",
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	passed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if name, found := strings.CutPrefix(line, faultResult); found {
			passed[strings.TrimSpace(name)] = true
		}
	}
	for _, name := range faultEMFILECases {
		if !passed[name] {
			t.Errorf("the helper did not report case %s as passed", name)
		}
	}
	if t.Failed() {
		t.Logf("helper output:\n%s", out)
	}
}

// exhaustFds leaves the process with exactly free descriptors to spare:
// it lowers the soft RLIMIT_NOFILE to a little above the highest open
// descriptor and fills every free number below it with duplicates of
// /dev/null. The returned function closes them and restores the limit.
func exhaustFds(t *testing.T, free int) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	ok(t, "getrlimit", syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old))
	fds, err := testutil.OpenFds()
	ok(t, "list fds", err)
	highest := 0
	for fd := range fds {
		highest = max(highest, fd)
	}
	null, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	ok(t, "open /dev/null", err)
	lim := syscall.Rlimit{Cur: uint64(max(highest, null)) + 1 + 16, Max: old.Max}
	ok(t, "setrlimit", syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	fillers := []int{null}
	restore = func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
		fillers = nil
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	}
	for {
		fd, err := unix.FcntlInt(uintptr(null), unix.F_DUPFD_CLOEXEC, 0)
		if errors.Is(err, unix.EMFILE) {
			break
		}
		if err != nil || len(fillers) > int(lim.Cur) {
			restore()
			t.Fatalf("filling the descriptor table: %d fillers, %v", len(fillers), err)
		}
		fillers = append(fillers, fd)
	}
	if len(fillers) < free {
		restore()
		t.Fatalf("only %d fillers", len(fillers))
	}
	for range free {
		unix.Close(fillers[len(fillers)-1])
		fillers = fillers[:len(fillers)-1]
	}
	return restore
}

// noFdKept fails the test unless the process has the same descriptors
// as in before.
func noFdKept(t *testing.T, what string, before testutil.FdTable) {
	t.Helper()
	after, err := testutil.OpenFds()
	ok(t, "list fds", err)
	if leaked := before.Leaked(after, nil); len(leaked) > 0 || len(after) != len(before) {
		t.Errorf("%s: failed with EMFILE but changed the descriptors: %d before, %d after, new %v", what, len(before), len(after), leaked)
	}
}

// wantUnchanged checks that a loop on which a call failed is as it was:
// between iterations, in the same iteration, nothing pending.
func wantUnchanged(t *testing.T, what string, e *sdevent.Event, iter uint64) {
	t.Helper()
	if st := e.State(); st != sdevent.Initial {
		t.Errorf("%s: state %v after the failure, want initial", what, st)
	}
	if it := e.Iteration(); it != iter {
		t.Errorf("%s: iteration %d after the failure, want %d", what, it, iter)
	}
	if run(t, e, 0) {
		t.Errorf("%s: a Run after the failure dispatched something", what)
	}
}

// wantEMFILE fails the test unless s is nil and err wraps EMFILE and
// says what failed.
func wantEMFILE(t *testing.T, what string, s *sdevent.Source, err error) {
	t.Helper()
	if s != nil {
		t.Errorf("%s: returned a source along with error %v", what, err)
		s.Unref()
	}
	if !errors.Is(err, unix.EMFILE) {
		t.Errorf("%s with no descriptor to spare: got %v, want an error wrapping EMFILE", what, err)
		return
	}
	t.Logf("%s: %v", what, err)
}

// faultEMFILEHelper is the body of TestFaultEMFILE in the helper process.
func faultEMFILEHelper(t *testing.T) {
	pass := func(t *testing.T, name string) {
		if !t.Failed() {
			fmt.Printf("%s%s\n", faultResult, name)
		}
	}

	for _, free := range []int{0, 1} { // epoll_create1 fails; eventfd fails
		name := fmt.Sprintf("New/%d", free)
		t.Run(name, func(t *testing.T) {
			before, err := testutil.OpenFds()
			ok(t, "list fds", err)
			restore := exhaustFds(t, free)
			e, err := sdevent.New()
			restore()
			if e != nil {
				t.Errorf("New returned a loop along with %v", err)
				e.Unref()
			}
			if !errors.Is(err, unix.EMFILE) {
				t.Fatalf("New with %d descriptors to spare: got %v, want an error wrapping EMFILE", free, err)
			}
			t.Logf("New: %v", err)
			noFdKept(t, "New", before)
			e = newLoop(t)
			ran := false
			keep(t)(e.AddDefer(func(*sdevent.Source) error { ran = true; return nil }))
			if !run(t, e, 0) || !ran {
				t.Error("the loop made once descriptors were back did not dispatch")
			}
			pass(t, name)
		})
	}

	t.Run("AddTime", func(t *testing.T) {
		e := newLoop(t)
		var fired []string
		h := func(name string) sdevent.TimeHandler {
			return func(*sdevent.Source, time.Duration) error { fired = append(fired, name); return nil }
		}
		// The monotonic clock has its timerfd already.
		keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Hour, 0, h("hour")))
		iter := e.Iteration()
		before, err := testutil.OpenFds()
		ok(t, "list fds", err)
		restore := exhaustFds(t, 0)
		now := live(t, unix.CLOCK_BOOTTIME)
		boot, bootErr := e.AddTime(unix.CLOCK_BOOTTIME, now, time.Microsecond, h("boottime"))
		mono, monoErr := e.AddTimeRelative(unix.CLOCK_MONOTONIC, time.Millisecond, time.Microsecond, h("monotonic"))
		restore()
		wantEMFILE(t, "AddTime(CLOCK_BOOTTIME)", boot, bootErr)
		// A clock that has its timerfd needs no descriptor.
		if monoErr != nil {
			t.Errorf("AddTime on the monotonic clock, whose timerfd exists, failed: %v", monoErr)
		} else {
			t.Cleanup(mono.Unref)
			ok(t, "SetEnabled(Off)", mono.SetEnabled(source.Off))
		}
		noFdKept(t, "AddTime", before)
		wantUnchanged(t, "AddTime", e, iter)
		keep(t)(e.AddTime(unix.CLOCK_BOOTTIME, live(t, unix.CLOCK_BOOTTIME)+time.Millisecond, time.Microsecond, h("boottime")))
		if !run(t, e, long) || strings.Join(fired, " ") != "boottime" {
			t.Errorf("after AddTime(CLOCK_BOOTTIME) worked, the loop ran %v, want [boottime]", fired)
		}
		pass(t, "AddTime")
	})

	t.Run("AddChild", func(t *testing.T) {
		e := newLoop(t)
		kids := spawnBlockedChildren(t, 1, func(int) int { return 7 })
		pid := kids.pids[0]
		var got []*sdevent.ChildInfo
		h := func(_ *sdevent.Source, ci *sdevent.ChildInfo) error { c := *ci; got = append(got, &c); return nil }
		iter := e.Iteration()
		before, err := testutil.OpenFds()
		ok(t, "list fds", err)
		restore := exhaustFds(t, 0)
		s, err := e.AddChild(pid, unix.WEXITED, h)
		restore()
		wantEMFILE(t, "AddChild", s, err)
		noFdKept(t, "AddChild", before)
		wantUnchanged(t, "AddChild", e, iter)
		s = keep(t)(e.AddChild(pid, unix.WEXITED, h)) // not EBUSY: nothing was kept
		kids.take(0)
		ok(t, "SetChildProcessOwn", s.SetChildProcessOwn(true))
		kids.release()
		if !run(t, e, long) || len(got) != 1 || got[0].Pid != pid || got[0].ExitStatus() != 7 {
			t.Errorf("after AddChild worked: handler got %v, want exit 7 of pid %d", got, pid)
		}
		pass(t, "AddChild")
	})

	t.Run("AddCommand", func(t *testing.T) {
		e := newLoop(t)
		var got []string
		h := func(_ *sdevent.Source, ci *sdevent.ChildInfo) error { got = append(got, ci.String()); return nil }
		iter := e.Iteration()
		before, err := testutil.OpenFds()
		ok(t, "list fds", err)
		restore := exhaustFds(t, 0)
		s, err := e.AddCommand(exec.Command("/bin/sh", "-c", "exit 9"), unix.WEXITED, h)
		restore()
		wantEMFILE(t, "AddCommand", s, err)
		noFdKept(t, "AddCommand", before)
		wantUnchanged(t, "AddCommand", e, iter)
		if kids, err := testutil.Children(os.Getpid()); err != nil || len(kids) > 0 {
			t.Errorf("children after the failed AddCommand: %v (%v)", kids, err)
		}
		keep(t)(e.AddCommand(exec.Command("/bin/sh", "-c", "exit 9"), unix.WEXITED, h))
		if !run(t, e, long) || strings.Join(got, " ") != "exited 9" {
			t.Errorf("after AddCommand worked: handler got %v, want [exited 9]", got)
		}
		pass(t, "AddCommand")
	})

	for _, free := range []int{0, 1} { // opening the path fails; inotify_init1 fails
		name := fmt.Sprintf("AddInotify/%d", free)
		t.Run(name, func(t *testing.T) {
			e := newLoop(t)
			dir := t.TempDir()
			var got []string
			h := func(_ *sdevent.Source, ev *sdevent.InotifyEvent) error { got = append(got, ev.Name); return nil }
			iter := e.Iteration()
			before, err := testutil.OpenFds()
			ok(t, "list fds", err)
			restore := exhaustFds(t, free)
			s, err := e.AddInotify(dir, unix.IN_CREATE, h)
			restore()
			wantEMFILE(t, "AddInotify", s, err)
			noFdKept(t, "AddInotify", before)
			wantUnchanged(t, "AddInotify", e, iter)
			keep(t)(e.AddInotify(dir, unix.IN_CREATE, h))
			f, err := os.Create(filepath.Join(dir, "new"))
			ok(t, "create", err)
			f.Close()
			if !run(t, e, long) || strings.Join(got, " ") != "new" {
				t.Errorf("after AddInotify worked: handler got %q, want [new]", got)
			}
			pass(t, name)
		})
	}

	t.Run("AddSignal", func(t *testing.T) {
		e := newLoop(t)
		var got []unix.Signal
		h := func(_ *sdevent.Source, si *unix.SignalfdSiginfo) error {
			got = append(got, unix.Signal(si.Signo))
			return nil
		}
		iter := e.Iteration()
		before, err := testutil.OpenFds()
		ok(t, "list fds", err)
		restore := exhaustFds(t, 0)
		s, err := e.AddSignal(unix.SIGUSR1, h)
		restore()
		wantEMFILE(t, "AddSignal", s, err)
		noFdKept(t, "AddSignal", before)
		wantUnchanged(t, "AddSignal", e, iter)
		keep(t)(e.AddSignal(unix.SIGUSR1, h)) // not EBUSY: nothing was kept
		ok(t, "kill", unix.Kill(os.Getpid(), unix.SIGUSR1))
		if !run(t, e, long) || len(got) != 1 || got[0] != unix.SIGUSR1 {
			t.Errorf("after AddSignal worked: handler got %v, want [SIGUSR1]", got)
		}
		pass(t, "AddSignal")
	})
}
