//go:build linux

package difftest

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/source"
)

// Builders of steps, named after the calls they make.

const ms = 1000 // µs

func addDefer(s int64) Step { return Step{Op: OpAddDefer, Src: s} }
func addPost(s int64) Step  { return Step{Op: OpAddPost, Src: s} }
func addExit(s int64) Step  { return Step{Op: OpAddExit, Src: s} }
func addExitNil(s int64) Step {
	return Step{Op: OpAddExitNil, Src: s}
}

// addTime adds a CLOCK_MONOTONIC time source.
func addTime(s, t, acc int64) Step { return addTimeClock(s, unix.CLOCK_MONOTONIC, t, acc) }
func addTimeClock(s, clock, t, acc int64) Step {
	return Step{Op: OpAddTime, Src: s, A: t, B: acc, C: clock}
}
func addIO(s, fd int64, ev uint32) Step { return Step{Op: OpAddIO, Src: s, A: fd, B: int64(ev)} }
func addIORawFd(s, fd int64) Step       { return Step{Op: OpAddIORawFd, Src: s, A: fd} }
func enable(s int64, m source.Enabled) Step {
	return Step{Op: OpSetEnabled, Src: s, A: int64(m)}
}
func enableRaw(s, m int64) Step            { return Step{Op: OpSetEnabled, Src: s, A: m} }
func getEnabled(s int64) Step              { return Step{Op: OpGetEnabled, Src: s} }
func setPriority(s, p int64) Step          { return Step{Op: OpSetPriority, Src: s, A: p} }
func getPending(s int64) Step              { return Step{Op: OpGetPending, Src: s} }
func setRatelimit(s, iv, burst int64) Step { return Step{Op: OpSetRatelimit, Src: s, A: iv, B: burst} }
func getRatelimit(s int64) Step            { return Step{Op: OpGetRatelimit, Src: s} }
func isRatelimited(s int64) Step           { return Step{Op: OpIsRatelimited, Src: s} }
func leaveRatelimit(s int64) Step          { return Step{Op: OpLeaveRatelimit, Src: s} }
func setExpireCallback(s int64) Step       { return Step{Op: OpSetExpireCallback, Src: s} }
func setPrepare(s int64) Step              { return Step{Op: OpSetPrepare, Src: s} }
func setTime(s, t int64) Step              { return Step{Op: OpSetTime, Src: s, A: t} }
func getTime(s int64) Step                 { return Step{Op: OpGetTime, Src: s} }
func setAccuracy(s, a int64) Step          { return Step{Op: OpSetTimeAccuracy, Src: s, A: a} }
func getAccuracy(s int64) Step             { return Step{Op: OpGetTimeAccuracy, Src: s} } //nolint:unparam // a step takes what its sd-event call takes
func setIOEvents(s int64, ev uint32) Step  { return Step{Op: OpSetIOEvents, Src: s, A: int64(ev)} }
func getRevents(s int64) Step              { return Step{Op: OpGetIORevents, Src: s} }
func setFloating(s int64, b bool) Step     { return Step{Op: OpSetFloating, Src: s, A: b2i(b)} }
func getFloating(s int64) Step             { return Step{Op: OpGetFloating, Src: s} }
func setExitOnFailure(s int64, b bool) Step {
	return Step{Op: OpSetExitOnFailure, Src: s, A: b2i(b)}
}
func unref(s int64) Step        { return Step{Op: OpUnref, Src: s} }
func disableUnref(s int64) Step { return Step{Op: OpDisableUnref, Src: s} }
func prepare() Step             { return Step{Op: OpPrepare} }
func wait(timeout int64) Step   { return Step{Op: OpWait, A: timeout} } //nolint:unparam // as getAccuracy
func dispatch() Step            { return Step{Op: OpDispatch} }
func run(timeout int64) Step    { return Step{Op: OpRun, A: timeout} }

// runTook is run that also records whether it took at least atLeast µs
// (when > 0) and less than under µs (when > 0).
func runTook(timeout, atLeast, under int64) Step {
	return Step{Op: OpRun, A: timeout, B: atLeast, C: under}
}
func loop() Step                { return Step{Op: OpLoop} }
func exit(code int64) Step      { return Step{Op: OpExit, A: code} }
func getExitCode() Step         { return Step{Op: OpGetExitCode} }
func getState() Step            { return Step{Op: OpGetState} }
func getIteration() Step        { return Step{Op: OpGetIteration} }
func setExitOnIdle(b bool) Step { return Step{Op: OpSetExitOnIdle, A: b2i(b)} }
func eventfd(fd int64) Step     { return Step{Op: OpEventfd, A: fd} }
func write(fd, n int64) Step    { return Step{Op: OpWrite, A: fd, B: n} }
func read(fd int64) Step        { return Step{Op: OpRead, A: fd} }
func sleep(us int64) Step       { return Step{Op: OpSleep, A: us} }
func returns(r unix.Errno) Step { return Step{Op: OpReturn, A: -int64(r)} }
func repeat(n int, s Step) []Step {
	ss := make([]Step, n)
	for i := range ss {
		ss[i] = s
	}
	return ss
}

// in places steps inside a callback of owner: on its call-th call, or on
// every call when call is 0.
func in(where, owner, call int64, ss ...Step) []Step {
	for i := range ss {
		ss[i].In, ss[i].Owner, ss[i].Call = where, owner, call
	}
	return ss
}

// handler places steps in owner's handler (see in).
func handler(owner, call int64, ss ...Step) []Step { return in(InHandler, owner, call, ss...) }

// script flattens Steps and []Steps into one list.
func script(parts ...any) []Step {
	var ss []Step
	for _, p := range parts {
		switch p := p.(type) {
		case Step:
			ss = append(ss, p)
		case []Step:
			ss = append(ss, p...)
		default:
			panic(fmt.Sprintf("script: %T", p))
		}
	}
	return ss
}

// An expected trace is a list of lines. A line seen only on one side starts
// with "go[name] " or "c[name] ", name being one of exceptions.

func goOnly(exc, line string) string { return "go[" + exc + "] " + line }
func cOnly(exc, line string) string  { return "c[" + exc + "] " + line }

// splitLine returns the side and exception of an expected line ("" for
// lines of both sides) and the line itself.
func splitLine(l string) (side, exc, line string) {
	for _, sd := range []string{"go", "c"} {
		if rest, ok := strings.CutPrefix(l, sd+"["); ok {
			if name, line, ok := strings.Cut(rest, "] "); ok {
				return sd, name, line
			}
		}
	}
	return "", "", l
}

// expected returns the lines side ("go" or "c") should trace; version is
// the libsystemd the C side runs on (0 for the Go side alone). Where a
// difference does not hold for that version (exception.versions), the C
// side must trace what go-sdevent traces: its "go[...]" lines, not its
// "c[...]" ones.
func expected(want []string, side string, version int) []string {
	var out []string
	for _, l := range want {
		sd, exc, line := splitLine(l)
		switch {
		case sd == "" || sd == side && exceptions[exc].holdsFor(side, version):
			out = append(out, line)
		case side == "c" && sd == "go" && !exceptions[exc].holdsFor(side, version):
			out = append(out, line)
		}
	}
	return out
}

// diffLines describes how got differs from want, or returns "".
func diffLines(got, want []string) string {
	n := max(len(got), len(want))
	var b strings.Builder
	bad := false
	for i := 0; i < n; i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		mark := "   "
		if g != w {
			mark = "!= "
			bad = true
		}
		fmt.Fprintf(&b, "%s%3d got  %s\n", mark, i, g)
		if g != w {
			fmt.Fprintf(&b, "%s%3d want %s\n", mark, i, w)
		}
	}
	if !bad {
		return ""
	}
	return b.String()
}
