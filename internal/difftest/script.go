//go:build linux

package difftest

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Op is what a step does. Each is one sd-event call or one test action; the
// comment says which arguments it takes. The values are shared with
// libsystemd.c (its enum op), which checks them at compile time.
type Op int64

const (
	OpAddDefer          Op = iota + 1 // Src
	OpAddPost                         // Src
	OpAddExit                         // Src
	OpAddExitNil                      // sd_event_add_exit without a handler
	OpAddTime                         // Src, A time, B accuracy, C clock
	OpAddIO                           // Src, A fd slot, B events
	OpAddIORawFd                      // A a raw fd number (for EBADF)
	OpSetEnabled                      // Src, A enablement
	OpGetEnabled                      // Src
	OpSetPriority                     // Src, A priority
	OpGetPending                      // Src
	OpSetRatelimit                    // Src, A interval µs, B burst
	OpGetRatelimit                    // Src
	OpIsRatelimited                   // Src
	OpLeaveRatelimit                  // Src
	OpSetExpireCallback               // Src: the ratelimit expire callback
	OpSetPrepare                      // Src: a prepare callback
	OpSetTime                         // Src, A time
	OpGetTime                         // Src
	OpSetTimeAccuracy                 // Src, A accuracy
	OpGetTimeAccuracy                 // Src
	OpSetIOEvents                     // Src, A events
	OpGetIORevents                    // Src
	OpSetFloating                     // Src, A bool
	OpGetFloating                     // Src
	OpSetExitOnFailure                // Src, A bool
	OpUnref                           // Src (the slot is cleared)
	OpDisableUnref                    // Src (the slot is cleared)
	OpPrepare                         //
	OpWait                            // A timeout
	OpDispatch                        //
	OpRun                             // A timeout; B, C: see Run
	OpLoop                            //
	OpExit                            // A code
	OpGetExitCode                     //
	OpGetState                        //
	OpGetIteration                    //
	OpSetExitOnIdle                   // A bool
	OpEventfd                         // A fd slot: a new non-blocking eventfd
	OpWrite                           // A fd slot, B value added to the counter
	OpRead                            // A fd slot
	OpSleep                           // A µs
	OpReturn                          // A: the callback returns A (a negative errno)
	OpPipe                            // A, B fd slots: the read and the write end of a new non-blocking pipe
	OpClose                           // A fd slot (the slot is cleared)
	opEnd
)

// Where a step runs: from the top of the scenario, or inside a callback of
// the source Owner.
const (
	InMain    = 0
	InHandler = 1 // the source's handler
	InExpire  = 2 // its ratelimit expire callback
	InPrepare = 3 // its prepare callback
)

// Special values of time, accuracy and timeout arguments. Other times are
// µs after the origin (the loop's Now(MONOTONIC) when it was created);
// other accuracies and timeouts are µs.
const (
	Inf  = -1 // USEC_INFINITY, sdevent.Infinity
	Zero = -2 // a time of 0 (long past), not the origin
)

// Step is one step of a scenario.
type Step struct {
	Op      Op
	Src     int64 // the source slot the call is about
	A, B, C int64 // arguments, by Op
	In      int64 // InMain, or the callback of Owner it runs in
	Owner   int64
	Call    int64 // inside a callback: 0 every call, n only the n-th
}

// stepWords is the number of int64 an encoded step takes.
const stepWords = 8

// Scenario is a script run on both libraries.
type Scenario struct {
	Name  string
	Srcs  []string // the names of the source slots, by index
	Steps []Step
	// Observe makes both interpreters record the state of every source
	// (RecState) after each step and on entering and leaving each
	// callback, whenever it changed. FuzzDifferential compares these lines
	// too, and reads from them the keys of sd-event's dispatch order
	// (ties_test.go).
	Observe bool
}

// Limits of both interpreters.
const (
	MaxSrcs  = 16
	MaxFds   = 4
	MaxRecs  = 1024
	recWords = 5
)

// Encode lays the steps out as int64s, stepWords per step, for the C
// interpreter.
func (sc *Scenario) Encode() []int64 {
	w := make([]int64, 0, len(sc.Steps)*stepWords)
	for _, st := range sc.Steps {
		w = append(w, int64(st.Op), st.Src, st.A, st.B, st.C, st.In, st.Owner, st.Call)
	}
	return w
}

// Validate reports a malformed scenario.
func (sc *Scenario) Validate() error {
	if len(sc.Srcs) > MaxSrcs {
		return fmt.Errorf("%s: %d sources, at most %d", sc.Name, len(sc.Srcs), MaxSrcs)
	}
	for i, st := range sc.Steps {
		if st.Op <= 0 || st.Op >= opEnd {
			return fmt.Errorf("%s: step %d: bad op %d", sc.Name, i, st.Op)
		}
		if st.Src < 0 || st.Src >= int64(len(sc.Srcs)) || st.Owner < 0 || st.Owner >= int64(len(sc.Srcs)) {
			return fmt.Errorf("%s: step %d: source out of range", sc.Name, i)
		}
		if st.In < InMain || st.In > InPrepare {
			return fmt.Errorf("%s: step %d: bad In %d", sc.Name, i, st.In)
		}
		switch st.Op {
		case OpAddIO, OpEventfd, OpWrite, OpRead, OpClose:
			if st.A < 0 || st.A >= MaxFds {
				return fmt.Errorf("%s: step %d: fd slot %d out of range", sc.Name, i, st.A)
			}
		case OpPipe:
			if st.A < 0 || st.A >= MaxFds || st.B < 0 || st.B >= MaxFds || st.A == st.B {
				return fmt.Errorf("%s: step %d: fd slots %d, %d out of range", sc.Name, i, st.A, st.B)
			}
		}
	}
	return nil
}

// Record kinds, shared with libsystemd.c.
const (
	RecStep     = 1 // A step index, B return value, C and D values read
	RecCall     = 2 // A source, B callback (In*), C enablement seen, D state seen
	RecExtra    = 3 // A source, B revents or encoded time given to the handler
	RecDestroy  = 4 // A source
	RecTeardown = 5 // the scenario's steps are done; references are dropped
	RecOverflow = 6 // the record buffer was full
	RecState    = 7 // Scenario.Observe: A pending, B enabled (not off), C rate-limited, as bit masks of the source slots; D the iteration
)

// Record is one entry of a trace, as both interpreters write it.
type Record [recWords]int64

// Format turns the records of a run of sc into the lines of its trace.
func (sc *Scenario) Format(recs []Record) []string {
	var lines []string
	for i := 0; i < len(recs); i++ {
		r := recs[i]
		switch r[0] {
		case RecStep:
			st := sc.Steps[r[1]]
			ind := ""
			if st.In != InMain {
				ind = "  "
			}
			lines = append(lines, ind+sc.describe(st)+" = "+sc.result(st, r[2], r[3], r[4]))
		case RecCall:
			s := fmt.Sprintf("%s: %s enabled=%s state=%s", sc.name(r[1]), callbackName(r[2]), enabledName(r[3]), stateName(r[4]))
			if i+1 < len(recs) && recs[i+1][0] == RecExtra {
				i++
				s += " " + sc.extra(r[1], recs[i][2])
			}
			lines = append(lines, s)
		case RecDestroy:
			lines = append(lines, sc.name(r[1])+": destroyed")
		case RecTeardown:
			lines = append(lines, "teardown")
		case RecOverflow:
			lines = append(lines, "record buffer overflow")
		case RecState:
			lines = append(lines, sc.stateLine(r))
		default:
			lines = append(lines, fmt.Sprintf("bad record %v", r))
		}
	}
	return lines
}

// stateLine writes a RecState record: "~ it=3 pending=[d0 io2] on=[d0]
// rl=[]".
func (sc *Scenario) stateLine(r Record) string {
	return fmt.Sprintf("~ it=%d pending=%s on=%s rl=%s", r[4], sc.names(r[1]), sc.names(r[2]), sc.names(r[3]))
}

// names lists the sources of a bit mask of slots.
func (sc *Scenario) names(mask int64) string {
	var n []string
	for i := range int64(MaxSrcs) {
		if mask&(1<<i) != 0 {
			n = append(n, sc.name(i))
		}
	}
	return "[" + strings.Join(n, " ") + "]"
}

func (sc *Scenario) name(i int64) string {
	if i >= 0 && i < int64(len(sc.Srcs)) {
		return sc.Srcs[i]
	}
	return "src" + strconv.FormatInt(i, 10)
}

// extra describes what the handler of source i was given: revents for IO,
// the scheduled time for time sources.
func (sc *Scenario) extra(i, v int64) string {
	for _, st := range sc.Steps {
		if st.Src == i && st.Op == OpAddIO {
			return "revents=" + eventsName(v)
		}
	}
	return "t=" + timeName(v)
}

var opNames = [...]string{
	OpAddDefer: "add_defer", OpAddPost: "add_post", OpAddExit: "add_exit",
	OpAddExitNil: "add_exit_nil", OpAddTime: "add_time", OpAddIO: "add_io",
	OpAddIORawFd: "add_io_fd", OpSetEnabled: "set_enabled", OpGetEnabled: "get_enabled",
	OpSetPriority: "set_priority", OpGetPending: "get_pending", OpSetRatelimit: "set_ratelimit",
	OpGetRatelimit: "get_ratelimit", OpIsRatelimited: "is_ratelimited",
	OpLeaveRatelimit: "leave_ratelimit", OpSetExpireCallback: "set_ratelimit_expire_callback",
	OpSetPrepare: "set_prepare", OpSetTime: "set_time", OpGetTime: "get_time",
	OpSetTimeAccuracy: "set_time_accuracy", OpGetTimeAccuracy: "get_time_accuracy",
	OpSetIOEvents: "set_io_events", OpGetIORevents: "get_io_revents",
	OpSetFloating: "set_floating", OpGetFloating: "get_floating",
	OpSetExitOnFailure: "set_exit_on_failure", OpUnref: "unref", OpDisableUnref: "disable_unref",
	OpPrepare: "prepare", OpWait: "wait", OpDispatch: "dispatch", OpRun: "run", OpLoop: "loop",
	OpExit: "exit", OpGetExitCode: "get_exit_code", OpGetState: "get_state",
	OpGetIteration: "get_iteration", OpSetExitOnIdle: "set_exit_on_idle",
	OpEventfd: "eventfd", OpWrite: "write", OpRead: "read", OpSleep: "sleep", OpReturn: "return",
	OpPipe: "pipe", OpClose: "close",
}

// describe writes a step as a call: "set_enabled(d1, oneshot)".
func (sc *Scenario) describe(st Step) string {
	n := sc.name(st.Src)
	var args []string
	switch st.Op {
	case OpAddDefer, OpAddPost, OpAddExit, OpGetEnabled, OpGetPending, OpGetRatelimit,
		OpIsRatelimited, OpLeaveRatelimit, OpSetExpireCallback, OpSetPrepare, OpGetTime,
		OpGetTimeAccuracy, OpGetIORevents, OpGetFloating, OpUnref, OpDisableUnref:
		args = []string{n}
	case OpAddTime:
		args = []string{n, clockName(st.C), timeName(st.A), durName(st.B)}
	case OpAddIO:
		args = []string{n, "fd" + strconv.FormatInt(st.A, 10), eventsName(st.B)}
	case OpAddIORawFd:
		args = []string{strconv.FormatInt(st.A, 10)}
	case OpSetEnabled:
		args = []string{n, enabledName(st.A)}
	case OpSetPriority:
		args = []string{n, strconv.FormatInt(st.A, 10)}
	case OpSetRatelimit:
		args = []string{n, durName(st.A), strconv.FormatInt(st.B, 10)}
	case OpSetTime:
		args = []string{n, timeName(st.A)}
	case OpSetTimeAccuracy:
		args = []string{n, durName(st.A)}
	case OpSetIOEvents:
		args = []string{n, eventsName(st.A)}
	case OpSetFloating, OpSetExitOnFailure:
		args = []string{n, strconv.FormatBool(st.A != 0)}
	case OpWait:
		args = []string{durName(st.A)}
	case OpRun:
		args = []string{durName(st.A)}
	case OpExit, OpReturn:
		args = []string{errnoOrInt(st.A)}
	case OpSetExitOnIdle:
		args = []string{strconv.FormatBool(st.A != 0)}
	case OpEventfd, OpRead, OpClose:
		args = []string{"fd" + strconv.FormatInt(st.A, 10)}
	case OpPipe:
		args = []string{"fd" + strconv.FormatInt(st.A, 10), "fd" + strconv.FormatInt(st.B, 10)}
	case OpWrite:
		args = []string{"fd" + strconv.FormatInt(st.A, 10), strconv.FormatInt(st.B, 10)}
	case OpSleep:
		args = []string{durName(st.A)}
	}
	return opNames[st.Op] + "(" + strings.Join(args, ", ") + ")"
}

// result writes a step's return value and the values it read.
func (sc *Scenario) result(st Step, ret, v, v2 int64) string {
	s := retName(ret)
	if ret < 0 {
		return s
	}
	switch st.Op {
	case OpGetEnabled:
		s += " " + enabledName(v)
	case OpGetState:
		s = stateName(ret)
	case OpGetExitCode:
		s += " code=" + errnoOrInt(v)
	case OpGetTime:
		s += " " + timeName(v)
	case OpGetTimeAccuracy:
		s += " " + durName(v)
	case OpGetRatelimit:
		s += " " + durName(v) + " burst=" + strconv.FormatInt(v2, 10)
	case OpGetIORevents:
		s += " " + eventsName(v)
	case OpGetIteration:
		s += " " + strconv.FormatInt(v, 10)
	case OpRead:
		s += " " + strconv.FormatInt(v, 10)
	case OpRun:
		if st.B > 0 {
			s += " took>=" + durName(st.B) + ":" + strconv.FormatBool(v != 0)
		}
		if st.C > 0 {
			s += " took<" + durName(st.C) + ":" + strconv.FormatBool(v2 != 0)
		}
	}
	return s
}

func retName(r int64) string {
	if r == NoSrc {
		return "nosrc"
	}
	if r < 0 {
		return "-" + errnoName(-r)
	}
	return strconv.FormatInt(r, 10)
}

func errnoName(e int64) string {
	if n := unix.ErrnoName(unix.Errno(e)); n != "" {
		return n
	}
	return "errno" + strconv.FormatInt(e, 10)
}

// errnoOrInt writes a negative code as -ENAME (exit codes that are negated
// errnos), others as numbers.
func errnoOrInt(v int64) string {
	if v < 0 && v > -4096 {
		return "-" + errnoName(-v)
	}
	return strconv.FormatInt(v, 10)
}

func callbackName(in int64) string {
	switch in {
	case InHandler:
		return "handler"
	case InExpire:
		return "expire"
	case InPrepare:
		return "prepare"
	}
	return "callback" + strconv.FormatInt(in, 10)
}

func enabledName(m int64) string {
	switch m {
	case 0:
		return "off"
	case 1:
		return "on"
	case -1:
		return "oneshot"
	}
	return strconv.FormatInt(m, 10)
}

var stateNames = [...]string{"initial", "armed", "pending", "running", "exiting", "finished", "preparing"}

func stateName(s int64) string {
	if s >= 0 && s < int64(len(stateNames)) {
		return stateNames[s]
	}
	return retName(s)
}

func timeName(t int64) string {
	switch t {
	case Inf:
		return "inf"
	case Zero:
		return "0"
	}
	return "origin+" + durName(t)
}

// durName writes µs the way the scenarios are written: 1500ms, 20ms, 5us.
func durName(us int64) string {
	switch {
	case us == Inf:
		return "inf"
	case us == 0:
		return "0"
	case us != 0 && us%1000 == 0:
		return strconv.FormatInt(us/1000, 10) + "ms"
	}
	return strconv.FormatInt(us, 10) + "us"
}

func clockName(c int64) string {
	switch c {
	case unix.CLOCK_MONOTONIC:
		return "monotonic"
	case unix.CLOCK_REALTIME:
		return "realtime"
	case unix.CLOCK_BOOTTIME:
		return "boottime"
	}
	return "clock" + strconv.FormatInt(c, 10)
}

var eventBits = []struct {
	bit  uint32
	name string
}{
	{unix.EPOLLIN, "IN"}, {unix.EPOLLPRI, "PRI"}, {unix.EPOLLOUT, "OUT"}, {unix.EPOLLERR, "ERR"},
	{unix.EPOLLHUP, "HUP"}, {unix.EPOLLRDHUP, "RDHUP"}, {unix.EPOLLET, "ET"},
}

func eventsName(v int64) string {
	var parts []string
	left := uint32(v)
	for _, b := range eventBits {
		if left&b.bit != 0 {
			parts = append(parts, b.name)
			left &^= b.bit
		}
	}
	if left != 0 {
		parts = append(parts, fmt.Sprintf("%#x", left))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}
