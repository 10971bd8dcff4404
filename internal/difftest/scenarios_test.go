//go:build linux

package difftest

import (
	"slices"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/source"
)

// exceptions are the differences between go-sdevent and libsystemd 252 that
// expected lines may name: each says what it is and where it is documented.
// Kinds: "doc.go" (a documented difference from C), "252" (libsystemd 252
// lacks a later sd-event's call), "undocumented" (deliberate, not yet in
// doc.go), "bug" (go-sdevent should do as C does; the lines pin today's
// behaviour so that a fix shows up here). versions, when set, lists the
// libsystemd versions the difference holds for; against any other, the C
// side must trace what go-sdevent does.
type exception struct {
	kind, what string
	versions   []int
}

// holdsFor reports whether the difference shows on side when the C side is
// libsystemd version.
func (x exception) holdsFor(side string, version int) bool {
	return side == "go" || x.versions == nil || slices.Contains(x.versions, version)
}

var exceptions = map[string]exception{
	"defer-round-robin": {"doc.go", `"Differences from C" 8: a defer source counts as pending from its ` +
		`latest dispatch, so ON defer sources of one priority take turns; sd-event 252 keeps the iteration ` +
		`it first became pending in, and dispatches the one pending longest, forever; 262 stamps it at ` +
		`each dispatch too`, []int{252}},
	"oneshot-reregister": {"doc.go", `"Differences from C" 8: ON<->ONESHOT switches re-register at once; ` +
		`sd-event 252 leaves an IO source switched OFF->ONESHOT->ON registered with EPOLLONESHOT, ` +
		`so it fires once and never again; 262 re-registers too`, []int{252}},
	"post-added-in-handler": {"doc.go", `"Differences from C" 8: post sources are marked pending again ` +
		`once the handler of a non-post source returned, so a post source added or switched on in a ` +
		`handler runs in the next iteration; sd-event 252 marks it only at the next dispatch of a ` +
		`non-post source; 262 marks them after the handler too`, []int{252}},
	"ratelimit-expire-ends-iteration": {"doc.go", `"Differences from C" 8: an iteration whose poll ran a ` +
		`rate limit's expire callback counts as a dispatch and ends there, as in sd-event 262; ` +
		`252 goes on to dispatch what is pending, or returns 0`, []int{252}},
	"prepare-due-timer": {"doc.go", `"Differences from C" 6: a timer whose coalesced wake-up is already ` +
		`due makes Prepare report pending; sd-event 252 arms the timerfd and reports it in Wait`, nil},
	"no-exit-on-idle": {"252", `sd_event_set_exit_on_idle came after 252 (SEMANTICS.md "Exit on idle"); ` +
		`the C interpreter answers -EOPNOTSUPP and the loop does not exit`, nil},
	"changed-not-reported": {"doc.go item 7", `sd_event_source_set_floating and ` +
		`sd_event_source_set_exit_on_failure return 1 when they changed something; SetFloating and ` +
		`SetExitOnFailure return only an error`, nil},
}

type testCase struct {
	sc   Scenario
	want []string
}

func cases() []testCase {
	return []testCase{
		deferPriorities(),
		deferRoundRobin(),
		enablement(),
		postSources(),
		postAddedInHandler(),
		postPendingAfterHandler(),
		pendingByIteration(),
		deferPendingFromDispatch(),
		exitOrdering(),
		exitCodeLoop(),
		unrefExit(),
		ratelimitDefer(),
		ratelimitExpire(),
		ratelimitNoCallback(),
		ratelimitBusy(),
		ratelimitTime(),
		ratelimitIO(),
		callbackErrors(),
		prepareExitOnFailure(),
		exitInPrepare(),
		unrefInPrepare(),
		timeSources(),
		timeAccuracy(),
		prepareDueTimer(),
		ioEventfd(),
		ioOneshotStale(),
		ioEqualPriority(),
		ioSameFd(),
		handlerErrors(),
		exitOnFailure(),
		floating(),
		unrefInCallback(),
		states(),
		badArguments(),
		finished(),
		exitOnIdle(),
	}
}

// Priorities among ONESHOT defer sources; equal priorities in the order they
// became pending.
func deferPriorities() testCase {
	const lo, hi, mid, eq1, eq2 = 0, 1, 2, 3, 4
	return testCase{sc: Scenario{Name: "defer-priorities", Srcs: []string{"lo", "hi", "mid", "eq1", "eq2"},
		Steps: script(
			addDefer(lo), setPriority(lo, 10),
			addDefer(hi), setPriority(hi, -5),
			addDefer(mid),
			addDefer(eq1), setPriority(eq1, 20),
			addDefer(eq2), setPriority(eq2, 20),
			getEnabled(lo), getPending(lo),
			repeat(6, run(0)),
			getIteration(),
			enable(lo, source.OneShot), enable(hi, source.OneShot), setPriority(hi, 11),
			handler(lo, 2, setPriority(hi, 9), enable(mid, source.OneShot), setPriority(mid, 10)),
			run(0), run(0), run(0), run(0),
		)},
		want: []string{
			"add_defer(lo) = 0",
			"set_priority(lo, 10) = 0",
			"add_defer(hi) = 0",
			"set_priority(hi, -5) = 0",
			"add_defer(mid) = 0",
			"add_defer(eq1) = 0",
			"set_priority(eq1, 20) = 0",
			"add_defer(eq2) = 0",
			"set_priority(eq2, 20) = 0",
			"get_enabled(lo) = 0 oneshot",
			"get_pending(lo) = 1",
			"hi: handler enabled=off state=running",
			"run(0) = 1",
			"mid: handler enabled=off state=running",
			"run(0) = 1",
			"lo: handler enabled=off state=running",
			"run(0) = 1",
			"eq1: handler enabled=off state=running",
			"run(0) = 1",
			"eq2: handler enabled=off state=running",
			"run(0) = 1",
			"run(0) = 0",
			"get_iteration() = 0 6",
			"set_enabled(lo, oneshot) = 0",
			"set_enabled(hi, oneshot) = 0",
			"set_priority(hi, 11) = 0",
			"lo: handler enabled=off state=running",
			"  set_priority(hi, 9) = 0",
			"  set_enabled(mid, oneshot) = 0",
			"  set_priority(mid, 10) = 0",
			"run(0) = 1",
			"hi: handler enabled=off state=running",
			"run(0) = 1",
			"mid: handler enabled=off state=running",
			"run(0) = 1",
			"run(0) = 0",
			"teardown",
			"lo: destroyed",
			"hi: destroyed",
			"mid: destroyed",
			"eq1: destroyed",
			"eq2: destroyed",
		}}
}

// ON defer sources of one priority: C 252 serves the same one forever.
func deferRoundRobin() testCase {
	const a, b, c = 0, 1, 2
	return testCase{sc: Scenario{Name: "defer-round-robin", Srcs: []string{"a", "b", "c"},
		Steps: script(
			addDefer(a), enable(a, source.On),
			addDefer(b), enable(b, source.On),
			addDefer(c), enable(c, source.On), setPriority(c, 1),
			repeat(4, run(0)),
			enable(a, source.Off), enable(b, source.Off),
			run(0),
		)},
		want: []string{
			"add_defer(a) = 0",
			"set_enabled(a, on) = 0",
			"add_defer(b) = 0",
			"set_enabled(b, on) = 0",
			"add_defer(c) = 0",
			"set_enabled(c, on) = 0",
			"set_priority(c, 1) = 0",
			"a: handler enabled=on state=running",
			"run(0) = 1",
			cOnly("defer-round-robin", "a: handler enabled=on state=running"),
			goOnly("defer-round-robin", "b: handler enabled=on state=running"),
			"run(0) = 1",
			"a: handler enabled=on state=running",
			"run(0) = 1",
			cOnly("defer-round-robin", "a: handler enabled=on state=running"),
			goOnly("defer-round-robin", "b: handler enabled=on state=running"),
			"run(0) = 1",
			"set_enabled(a, off) = 0",
			"set_enabled(b, off) = 0",
			"c: handler enabled=on state=running",
			"run(0) = 1",
			"teardown",
			"a: destroyed",
			"b: destroyed",
			"c: destroyed",
		}}
}

// ONESHOT/ON/OFF transitions, a handler re-enabling itself, and pending
// across OFF.
func enablement() testCase {
	const d, e = 0, 1
	return testCase{sc: Scenario{Name: "enablement", Srcs: []string{"d", "e"},
		Steps: script(
			addDefer(d), getEnabled(d),
			handler(d, 1, getEnabled(d), enable(d, source.OneShot), getPending(d)),
			handler(d, 2, enable(d, source.On)),
			handler(d, 3, enable(d, source.OneShot)),
			handler(d, 5, enable(d, source.Off), getPending(d)),
			repeat(6, run(0)),
			getEnabled(d), getPending(d),
			addDefer(e), setPriority(e, 1),
			enable(e, source.Off), getPending(e), run(0),
			enable(e, source.OneShot), getPending(e), run(0), run(0),
			enable(e, source.On), enable(e, source.On), enable(e, source.OneShot), run(0),
		)},
		want: []string{
			"add_defer(d) = 0",
			"get_enabled(d) = 0 oneshot",
			"d: handler enabled=off state=running",
			"  get_enabled(d) = 0 off",
			"  set_enabled(d, oneshot) = 0",
			"  get_pending(d) = 1",
			"run(0) = 1",
			"d: handler enabled=off state=running",
			"  set_enabled(d, on) = 0",
			"run(0) = 1",
			"d: handler enabled=on state=running",
			"  set_enabled(d, oneshot) = 0",
			"run(0) = 1",
			"d: handler enabled=off state=running",
			"run(0) = 1",
			"run(0) = 0",
			"run(0) = 0",
			"get_enabled(d) = 0 off",
			"get_pending(d) = 1",
			"add_defer(e) = 0",
			"set_priority(e, 1) = 0",
			"set_enabled(e, off) = 0",
			"get_pending(e) = 1",
			"run(0) = 0",
			"set_enabled(e, oneshot) = 0",
			"get_pending(e) = 1",
			"e: handler enabled=off state=running",
			"run(0) = 1",
			"run(0) = 0",
			"set_enabled(e, on) = 0",
			"set_enabled(e, on) = 0",
			"set_enabled(e, oneshot) = 0",
			"e: handler enabled=off state=running",
			"run(0) = 1",
			"teardown",
			"d: destroyed",
			"e: destroyed",
		}}
}

// Post sources are marked pending before the handler of a non-post source
// runs, then compete by priority; post sources alone keep nothing busy.
func postSources() testCase {
	const d, p, q, r = 0, 1, 2, 3
	return testCase{sc: Scenario{Name: "post", Srcs: []string{"d", "p", "q", "r"},
		Steps: script(
			addPost(p), setPriority(p, -10),
			addPost(q), setPriority(q, 10),
			addPost(r), enable(r, source.Off),
			getEnabled(p), getPending(p),
			run(0),
			addDefer(d),
			handler(d, 0, getPending(p), getPending(q), getPending(r)),
			handler(p, 0, getPending(q), getPending(d)),
			run(0), run(0), run(0), run(0),
			getPending(p), getPending(q),
			enable(d, source.OneShot), enable(q, source.Off),
			run(0), run(0), run(0),
		)},
		want: []string{
			"add_post(p) = 0",
			"set_priority(p, -10) = 0",
			"add_post(q) = 0",
			"set_priority(q, 10) = 0",
			"add_post(r) = 0",
			"set_enabled(r, off) = 0",
			"get_enabled(p) = 0 on",
			"get_pending(p) = 0",
			"run(0) = 0",
			"add_defer(d) = 0",
			"d: handler enabled=off state=running",
			"  get_pending(p) = 1",
			"  get_pending(q) = 1",
			"  get_pending(r) = 0",
			"run(0) = 1",
			"p: handler enabled=on state=running",
			"  get_pending(q) = 1",
			"  get_pending(d) = 1",
			"run(0) = 1",
			"q: handler enabled=on state=running",
			"run(0) = 1",
			"run(0) = 0",
			"get_pending(p) = 0",
			"get_pending(q) = 0",
			"set_enabled(d, oneshot) = 0",
			"set_enabled(q, off) = 0",
			"d: handler enabled=off state=running",
			"  get_pending(p) = 1",
			"  get_pending(q) = 0",
			"  get_pending(r) = 0",
			"run(0) = 1",
			"p: handler enabled=on state=running",
			"  get_pending(q) = 0",
			"  get_pending(d) = 1",
			"run(0) = 1",
			"run(0) = 0",
			"teardown",
			"d: destroyed",
			"p: destroyed",
			"q: destroyed",
			"r: destroyed",
		}}
}

// A post source added inside a handler.
func postAddedInHandler() testCase {
	const d, p, d2 = 0, 1, 2
	return testCase{sc: Scenario{Name: "post-added-in-handler", Srcs: []string{"d", "p", "d2"},
		Steps: script(
			addDefer(d),
			handler(d, 1, addPost(p), getPending(p)),
			run(0), run(0),
			addDefer(d2),
			run(0), run(0), run(0),
		)},
		want: []string{
			"add_defer(d) = 0",
			"d: handler enabled=off state=running",
			"  add_post(p) = 0",
			"  get_pending(p) = 0",
			"run(0) = 1",
			cOnly("post-added-in-handler", "run(0) = 0"),
			goOnly("post-added-in-handler", "p: handler enabled=on state=running"),
			goOnly("post-added-in-handler", "run(0) = 1"),
			"add_defer(d2) = 0",
			"d2: handler enabled=off state=running",
			"run(0) = 1",
			"p: handler enabled=on state=running",
			"run(0) = 1",
			"run(0) = 0",
			"teardown",
			"d: destroyed",
			"p: destroyed",
			"d2: destroyed",
		}}
}

// Post sources switched off and on, and on, in a defer handler: not
// pending inside it, pending once it returned, as in sd-event 262; 252
// leaves them until the next dispatch of a non-post source. Found by
// FuzzDifferential against 262.
func postPendingAfterHandler() testCase {
	const d, p, q = 0, 1, 2
	return testCase{sc: Scenario{Name: "post-pending-after-handler", Srcs: []string{"d", "p", "q"},
		Steps: script(
			addDefer(d), addPost(p), addPost(q), enable(q, source.Off),
			handler(d, 1, enable(p, source.Off), enable(p, source.On), enable(q, source.On),
				getPending(p), getPending(q)),
			run(0),
			getPending(p), getPending(q),
		)},
		want: []string{
			"add_defer(d) = 0",
			"add_post(p) = 0",
			"add_post(q) = 0",
			"set_enabled(q, off) = 0",
			"d: handler enabled=off state=running",
			"  set_enabled(p, off) = 0",
			"  set_enabled(p, on) = 0",
			"  set_enabled(q, on) = 0",
			"  get_pending(p) = 0",
			"  get_pending(q) = 0",
			"run(0) = 1",
			goOnly("post-added-in-handler", "get_pending(p) = 1"),
			goOnly("post-added-in-handler", "get_pending(q) = 1"),
			cOnly("post-added-in-handler", "get_pending(p) = 0"),
			cOnly("post-added-in-handler", "get_pending(q) = 0"),
			"teardown",
			"d: destroyed",
			"p: destroyed",
			"q: destroyed",
		}}
}

// Sources of one priority go by the iteration in which they became
// pending, whether or not they were dispatched before: a, readable all
// along, runs in iteration 1 and is pending again from iteration 2, b from
// iteration 3; a goes first. Found by FuzzDifferential against 262, which
// the port had followed as if it took the source dispatched longest ago.
func pendingByIteration() testCase {
	const a, b, y = 0, 1, 2
	return testCase{sc: Scenario{Name: "pending-by-iteration", Srcs: []string{"a", "b", "y"},
		Steps: script(
			eventfd(0), eventfd(1), write(0, 1),
			addIO(a, 0, unix.EPOLLIN), addIO(b, 1, unix.EPOLLIN),
			run(0),
			addDefer(y), setPriority(y, -1),
			run(0),
			write(1, 1),
			run(0), run(0),
		)},
		want: []string{
			"eventfd(fd0) = 0",
			"eventfd(fd1) = 0",
			"write(fd0, 1) = 0",
			"add_io(a, fd0, IN) = 0",
			"add_io(b, fd1, IN) = 0",
			"a: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"add_defer(y) = 0",
			"set_priority(y, -1) = 0",
			"y: handler enabled=off state=running",
			"run(0) = 1",
			"write(fd1, 1) = 0",
			"a: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"b: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"teardown",
			"a: destroyed",
			"b: destroyed",
			"y: destroyed",
		}}
}

// A defer source counts as pending from its latest dispatch, ONESHOT or
// not: d, pending since it was added, runs in iteration 2 and is switched
// ON; x, pending since iteration 1, goes before it in 262 and go-sdevent,
// not in 252 (defer-round-robin).
func deferPendingFromDispatch() testCase {
	const d, y, x = 0, 1, 2
	return testCase{sc: Scenario{Name: "defer-pending-from-dispatch", Srcs: []string{"d", "y", "x"},
		Steps: script(
			eventfd(0), write(0, 1),
			addDefer(d),
			addDefer(y), setPriority(y, -1),
			addIO(x, 0, unix.EPOLLIN),
			run(0), run(0),
			enable(d, source.On),
			run(0),
		)},
		want: []string{
			"eventfd(fd0) = 0",
			"write(fd0, 1) = 0",
			"add_defer(d) = 0",
			"add_defer(y) = 0",
			"set_priority(y, -1) = 0",
			"add_io(x, fd0, IN) = 0",
			"y: handler enabled=off state=running",
			"run(0) = 1",
			"d: handler enabled=off state=running",
			"run(0) = 1",
			"set_enabled(d, on) = 0",
			goOnly("defer-round-robin", "x: handler enabled=on state=running revents=IN"),
			cOnly("defer-round-robin", "d: handler enabled=on state=running"),
			"run(0) = 1",
			"teardown",
			"d: destroyed",
			"y: destroyed",
			"x: destroyed",
		}}
}

// After sd_event_exit: pending defer and post sources never run again, exit
// sources run one per iteration by priority, the code can be replaced.
func exitOrdering() testCase {
	const d, p, x1, x2, x3, x4 = 0, 1, 2, 3, 4, 5
	return testCase{sc: Scenario{Name: "exit-ordering", Srcs: []string{"d", "p", "x1", "x2", "x3", "x4"},
		Steps: script(
			addDefer(d), enable(d, source.On),
			addPost(p),
			addExit(x1), setPriority(x1, 10),
			addExit(x2), setPriority(x2, -5),
			addExit(x3), enable(x3, source.Off),
			getExitCode(),
			handler(d, 1, exit(3), getExitCode(), getState()),
			handler(x2, 1, getPending(d), exit(5), getExitCode(), addExit(x4), getEnabled(x4)),
			handler(x1, 1, getExitCode()),
			run(0),
			getState(), getPending(d), getPending(p),
			run(0), run(0), run(0), run(0),
			getState(), getExitCode(),
		)},
		want: []string{
			"add_defer(d) = 0",
			"set_enabled(d, on) = 0",
			"add_post(p) = 0",
			"add_exit(x1) = 0",
			"set_priority(x1, 10) = 0",
			"add_exit(x2) = 0",
			"set_priority(x2, -5) = 0",
			"add_exit(x3) = 0",
			"set_enabled(x3, off) = 0",
			"get_exit_code() = -ENODATA",
			"d: handler enabled=on state=running",
			"  exit(3) = 0",
			"  get_exit_code() = 0 code=3",
			"  get_state() = running",
			"run(0) = 1",
			"get_state() = initial",
			"get_pending(d) = 1",
			"get_pending(p) = 1",
			"x2: handler enabled=off state=exiting",
			"  get_pending(d) = 1",
			"  exit(5) = 0",
			"  get_exit_code() = 0 code=5",
			"  add_exit(x4) = 0",
			"  get_enabled(x4) = 0 oneshot",
			"run(0) = 1",
			"x4: handler enabled=off state=exiting",
			"run(0) = 1",
			"x1: handler enabled=off state=exiting",
			"  get_exit_code() = 0 code=5",
			"run(0) = 1",
			"run(0) = 1",
			"get_state() = finished",
			"get_exit_code() = 0 code=5",
			"teardown",
			"d: destroyed",
			"p: destroyed",
			"x1: destroyed",
			"x2: destroyed",
			"x3: destroyed",
			"x4: destroyed",
		}}
}

// The exit code of sd_event_loop, replaced by an exit handler.
func exitCodeLoop() testCase {
	const d, x = 0, 1
	return testCase{sc: Scenario{Name: "exit-code-loop", Srcs: []string{"d", "x"},
		Steps: script(
			addDefer(d), enable(d, source.On),
			addExit(x),
			handler(d, 3, exit(7)),
			handler(x, 1, getExitCode(), exit(9)),
			loop(),
			getExitCode(), getIteration(),
		)},
		want: []string{
			"add_defer(d) = 0",
			"set_enabled(d, on) = 0",
			"add_exit(x) = 0",
			"d: handler enabled=on state=running",
			"d: handler enabled=on state=running",
			"d: handler enabled=on state=running",
			"  exit(7) = 0",
			"x: handler enabled=off state=exiting",
			"  get_exit_code() = 0 code=7",
			"  exit(9) = 0",
			"loop() = 9",
			"get_exit_code() = 0 code=9",
			"get_iteration() = 0 4",
			"teardown",
			"d: destroyed",
			"x: destroyed",
		}}
}

// A rate limit on an ON defer source: the dispatch that exceeds the burst
// puts it in the ratelimited state; leaving it early.
func ratelimitDefer() testCase {
	const d, p, x = 0, 1, 2
	return testCase{sc: Scenario{Name: "ratelimit-defer", Srcs: []string{"d", "p", "x"},
		Steps: script(
			addDefer(d), enable(d, source.On),
			getRatelimit(d), isRatelimited(d), leaveRatelimit(d),
			setRatelimit(d, 3600_000*ms, 2), getRatelimit(d),
			run(0), run(0), run(0),
			isRatelimited(d), getEnabled(d), getPending(d),
			run(0),
			leaveRatelimit(d), leaveRatelimit(d), isRatelimited(d),
			run(0), run(0), run(0), isRatelimited(d),
			setRatelimit(d, 0, 0), isRatelimited(d), getRatelimit(d),
			run(0),
			addPost(p), setRatelimit(p, ms, 1),
			addExit(x), setRatelimit(x, ms, 1), isRatelimited(x),
		)},
		want: []string{
			"add_defer(d) = 0",
			"set_enabled(d, on) = 0",
			"get_ratelimit(d) = -ENOEXEC",
			"is_ratelimited(d) = 0",
			"leave_ratelimit(d) = 0",
			"set_ratelimit(d, 3600000ms, 2) = 0",
			"get_ratelimit(d) = 0 3600000ms burst=2",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"run(0) = 1",
			"is_ratelimited(d) = 1",
			"get_enabled(d) = 0 on",
			"get_pending(d) = 1",
			"run(0) = 0",
			"leave_ratelimit(d) = 1",
			"leave_ratelimit(d) = 0",
			"is_ratelimited(d) = 0",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"run(0) = 1",
			"is_ratelimited(d) = 1",
			"set_ratelimit(d, 0, 0) = 0",
			"is_ratelimited(d) = 0",
			"get_ratelimit(d) = -ENOEXEC",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"add_post(p) = 0",
			"set_ratelimit(p, 1ms, 1) = -EDOM",
			"add_exit(x) = 0",
			"set_ratelimit(x, 1ms, 1) = -EDOM",
			"is_ratelimited(x) = 0",
			"teardown",
			"d: destroyed",
			"p: destroyed",
			"x: destroyed",
		}}
}

// A rate limit window that ends while the loop waits: the expire callback.
func ratelimitExpire() testCase {
	const d = 0
	return testCase{sc: Scenario{Name: "ratelimit-expire", Srcs: []string{"d"},
		Steps: script(
			addDefer(d), enable(d, source.On),
			setRatelimit(d, 200*ms, 1), setExpireCallback(d),
			in(InExpire, d, 0, isRatelimited(d), getPending(d)),
			run(0), run(0), isRatelimited(d),
			run(2000*ms),
			isRatelimited(d),
			run(0),
		)},
		want: []string{
			"add_defer(d) = 0",
			"set_enabled(d, on) = 0",
			"set_ratelimit(d, 200ms, 1) = 0",
			"set_ratelimit_expire_callback(d) = 0",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"run(0) = 1",
			"is_ratelimited(d) = 1",
			"d: expire enabled=on state=armed",
			"  is_ratelimited(d) = 0",
			"  get_pending(d) = 1",
			goOnly("ratelimit-expire-ends-iteration", "run(2000ms) = 1"),
			cOnly("ratelimit-expire-ends-iteration", "run(2000ms) = 0"),
			"is_ratelimited(d) = 0",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"teardown",
			"d: destroyed",
		}}
}

// The same without an expire callback.
func ratelimitNoCallback() testCase {
	const d = 0
	return testCase{sc: Scenario{Name: "ratelimit-no-callback", Srcs: []string{"d"},
		Steps: script(
			addDefer(d), enable(d, source.On),
			setRatelimit(d, 200*ms, 1),
			run(0), run(0), isRatelimited(d),
			run(2000*ms),
			isRatelimited(d),
			run(0),
		)},
		want: []string{
			"add_defer(d) = 0",
			"set_enabled(d, on) = 0",
			"set_ratelimit(d, 200ms, 1) = 0",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"run(0) = 1",
			"is_ratelimited(d) = 1",
			"d: handler enabled=on state=running",
			"run(2000ms) = 1",
			"is_ratelimited(d) = 0",
			"run(0) = 1",
			"teardown",
			"d: destroyed",
		}}
}

// Time sources at 0 and at USEC_INFINITY, re-armed in their handler with
// set_time and set_enabled, an ON timer in the past, set_time clearing
// pending.
func timeSources() testCase {
	const t0, tinf, tr, ton, ta, tb = 0, 1, 2, 3, 4, 5
	return testCase{sc: Scenario{Name: "time", Srcs: []string{"t0", "tinf", "tr", "ton", "ta", "tb"},
		Steps: script(
			addTime(t0, Zero, 1), getEnabled(t0), getTime(t0),
			addTime(tinf, Inf, 1), getTime(tinf),
			run(0), run(0),
			getPending(tinf),
			addTime(tr, 10*ms, 1),
			handler(tr, 1, getTime(tr), setTime(tr, 30*ms), getEnabled(tr), enable(tr, source.OneShot)),
			handler(tr, 2, setTime(tr, Inf), enable(tr, source.On)),
			run(Inf), run(Inf), getTime(tr), getEnabled(tr), run(0),
			addTime(ton, Zero, 1), enable(ton, source.On),
			handler(ton, 2, enable(ton, source.Off)),
			run(0), run(0), run(0),
			addTime(ta, Zero, 1),
			addTime(tb, Zero, 1), setPriority(tb, 1),
			handler(ta, 1, getPending(tb), setTime(tb, Inf), getPending(tb), setTime(tb, Zero), getPending(tb)),
			run(0), run(0), run(0),
			enable(ta, source.OneShot), enable(tb, source.OneShot),
			handler(ta, 2, getPending(tb), enable(tb, source.Off), getPending(tb), enable(tb, source.OneShot), getPending(tb)),
			run(0), run(0), run(0),
		)},
		want: []string{
			"add_time(t0, monotonic, 0, 1us) = 0",
			"get_enabled(t0) = 0 oneshot",
			"get_time(t0) = 0 0",
			"add_time(tinf, monotonic, inf, 1us) = 0",
			"get_time(tinf) = 0 inf",
			"t0: handler enabled=off state=running t=0",
			"run(0) = 1",
			"run(0) = 0",
			"get_pending(tinf) = 0",
			"add_time(tr, monotonic, origin+10ms, 1us) = 0",
			"tr: handler enabled=off state=running t=origin+10ms",
			"  get_time(tr) = 0 origin+10ms",
			"  set_time(tr, origin+30ms) = 0",
			"  get_enabled(tr) = 0 off",
			"  set_enabled(tr, oneshot) = 0",
			"run(inf) = 1",
			"tr: handler enabled=off state=running t=origin+30ms",
			"  set_time(tr, inf) = 0",
			"  set_enabled(tr, on) = 0",
			"run(inf) = 1",
			"get_time(tr) = 0 inf",
			"get_enabled(tr) = 0 on",
			"run(0) = 0",
			"add_time(ton, monotonic, 0, 1us) = 0",
			"set_enabled(ton, on) = 0",
			"ton: handler enabled=on state=running t=0",
			"run(0) = 1",
			"ton: handler enabled=on state=running t=0",
			"  set_enabled(ton, off) = 0",
			"run(0) = 1",
			"run(0) = 0",
			"add_time(ta, monotonic, 0, 1us) = 0",
			"add_time(tb, monotonic, 0, 1us) = 0",
			"set_priority(tb, 1) = 0",
			"ta: handler enabled=off state=running t=0",
			"  get_pending(tb) = 1",
			"  set_time(tb, inf) = 0",
			"  get_pending(tb) = 0",
			"  set_time(tb, 0) = 0",
			"  get_pending(tb) = 0",
			"run(0) = 1",
			"tb: handler enabled=off state=running t=0",
			"run(0) = 1",
			"run(0) = 0",
			"set_enabled(ta, oneshot) = 0",
			"set_enabled(tb, oneshot) = 0",
			"ta: handler enabled=off state=running t=0",
			"  get_pending(tb) = 1",
			"  set_enabled(tb, off) = 0",
			"  get_pending(tb) = 0",
			"  set_enabled(tb, oneshot) = 0",
			"  get_pending(tb) = 0",
			"run(0) = 1",
			"tb: handler enabled=off state=running t=0",
			"run(0) = 1",
			"run(0) = 0",
			"teardown",
			"t0: destroyed",
			"tinf: destroyed",
			"tr: destroyed",
			"ton: destroyed",
			"ta: destroyed",
			"tb: destroyed",
		}}
}

// Accuracy: the default, errors, and coalescing: a timer with a wide
// accuracy is not woken for early, but runs once due when the loop wakes.
func timeAccuracy() testCase {
	const t1, lazy, exact = 0, 1, 2
	return testCase{sc: Scenario{Name: "time-accuracy", Srcs: []string{"t1", "lazy", "exact"},
		Steps: script(
			addTime(t1, Inf, 0), getAccuracy(t1),
			setAccuracy(t1, 5*ms), getAccuracy(t1),
			setAccuracy(t1, 0), getAccuracy(t1),
			setAccuracy(t1, Inf), getAccuracy(t1),
			addTime(lazy, 5*ms, 3600_000*ms),
			runTook(50*ms, 40*ms, 0),
			addTime(exact, 100*ms, 1),
			runTook(Inf, 0, 1000*ms),
			getTime(exact),
		)},
		want: []string{
			"add_time(t1, monotonic, inf, 0) = 0",
			"get_time_accuracy(t1) = 0 250ms",
			"set_time_accuracy(t1, 5ms) = 0",
			"get_time_accuracy(t1) = 0 5ms",
			"set_time_accuracy(t1, 0) = 0",
			"get_time_accuracy(t1) = 0 250ms",
			"set_time_accuracy(t1, inf) = -EINVAL",
			"get_time_accuracy(t1) = 0 250ms",
			"add_time(lazy, monotonic, origin+5ms, 3600000ms) = 0",
			"lazy: handler enabled=off state=running t=origin+5ms",
			"run(50ms) = 1 took>=40ms:true",
			"add_time(exact, monotonic, origin+100ms, 1us) = 0",
			"exact: handler enabled=off state=running t=origin+100ms",
			"run(inf) = 1 took<1000ms:true",
			"get_time(exact) = 0 origin+100ms",
			"teardown",
			"t1: destroyed",
			"lazy: destroyed",
			"exact: destroyed",
		}}
}

// A timer already due at Prepare.
func prepareDueTimer() testCase {
	const t = 0
	return testCase{sc: Scenario{Name: "prepare-due-timer", Srcs: []string{"t"},
		Steps: script(
			addTime(t, Zero, 1),
			prepare(), getState(),
			wait(0),
			getState(),
			dispatch(), getState(),
		)},
		want: []string{
			"add_time(t, monotonic, 0, 1us) = 0",
			cOnly("prepare-due-timer", "prepare() = 0"),
			cOnly("prepare-due-timer", "get_state() = armed"),
			cOnly("prepare-due-timer", "wait(0) = 1"),
			goOnly("prepare-due-timer", "prepare() = 1"),
			"get_state() = pending",
			goOnly("prepare-due-timer", "wait(0) = -EBUSY"),
			goOnly("prepare-due-timer", "get_state() = pending"),
			"t: handler enabled=off state=running t=0",
			"dispatch() = 1",
			"get_state() = initial",
			"teardown",
			"t: destroyed",
		}}
}

// IO on eventfds: level-triggered readiness, revents, ONESHOT, EPOLLOUT,
// edge-triggered, set_io_events in a handler, priorities.
func ioEventfd() testCase {
	const r, w, et, dup, d = 0, 1, 2, 3, 4
	return testCase{sc: Scenario{Name: "io", Srcs: []string{"r", "w", "et", "dup", "d"},
		Steps: script(
			eventfd(0), eventfd(1), eventfd(2),
			addIO(r, 0, unix.EPOLLIN), setPriority(r, 1),
			run(0), getRevents(r),
			write(0, 1),
			handler(r, 1, getRevents(r), getPending(r)),
			handler(r, 2, read(0)),
			run(0), run(0), run(0),
			enable(r, source.OneShot), write(0, 2),
			handler(r, 3, getEnabled(r)),
			run(0), run(0),
			enable(r, source.On),
			handler(r, 4, read(0), read(0)),
			run(0), run(0),
			addIO(w, 1, unix.EPOLLIN|unix.EPOLLOUT), setPriority(w, 0),
			handler(w, 2, setIOEvents(w, unix.EPOLLIN)),
			write(0, 1),
			run(0), run(0), run(0), run(0), run(0),
			addIO(et, 2, unix.EPOLLIN|unix.EPOLLET), setPriority(et, -1),
			run(0), write(2, 1), run(0), run(0), run(0), write(2, 1), run(0), run(0),
			addIO(dup, 2, unix.EPOLLIN),
			addDefer(d),
			setIOEvents(et, unix.EPOLLONESHOT), getRevents(d),
			read(2), read(1),
		)},
		want: []string{
			"eventfd(fd0) = 0",
			"eventfd(fd1) = 0",
			"eventfd(fd2) = 0",
			"add_io(r, fd0, IN) = 0",
			"set_priority(r, 1) = 0",
			"run(0) = 0",
			"get_io_revents(r) = -ENODATA",
			"write(fd0, 1) = 0",
			"r: handler enabled=on state=running revents=IN",
			"  get_io_revents(r) = -ENODATA",
			"  get_pending(r) = 0",
			"run(0) = 1",
			"r: handler enabled=on state=running revents=IN",
			"  read(fd0) = 0 1",
			"run(0) = 1",
			"run(0) = 0",
			"set_enabled(r, oneshot) = 0",
			"write(fd0, 2) = 0",
			"r: handler enabled=off state=running revents=IN",
			"  get_enabled(r) = 0 off",
			"run(0) = 1",
			"run(0) = 0",
			"set_enabled(r, on) = 0",
			"r: handler enabled=on state=running revents=IN",
			"  read(fd0) = 0 2",
			"  read(fd0) = -EAGAIN",
			"run(0) = 1",
			"run(0) = 0",
			"add_io(w, fd1, IN|OUT) = 0",
			"set_priority(w, 0) = 0",
			"write(fd0, 1) = 0",
			"w: handler enabled=on state=running revents=OUT",
			"run(0) = 1",
			"w: handler enabled=on state=running revents=OUT",
			"  set_io_events(w, IN) = 0",
			"run(0) = 1",
			"r: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"r: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"r: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"add_io(et, fd2, IN|ET) = 0",
			"set_priority(et, -1) = 0",
			"r: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"write(fd2, 1) = 0",
			"et: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"r: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"r: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"write(fd2, 1) = 0",
			"et: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"r: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"add_io(dup, fd2, IN) = -EEXIST",
			"add_defer(d) = 0",
			"set_io_events(et, 0x40000000) = -EINVAL",
			"get_io_revents(d) = -EDOM",
			"read(fd2) = 0 2",
			"read(fd1) = -EAGAIN",
			"teardown",
			"r: destroyed",
			"w: destroyed",
			"et: destroyed",
			"d: destroyed",
		}}
}

// An IO source switched OFF -> ONESHOT -> ON before it fired.
func ioOneshotStale() testCase {
	const r = 0
	return testCase{sc: Scenario{Name: "io-oneshot-to-on", Srcs: []string{"r"},
		Steps: script(
			eventfd(0),
			addIO(r, 0, unix.EPOLLIN),
			enable(r, source.Off), enable(r, source.OneShot), enable(r, source.On),
			write(0, 1),
			run(0), run(0), run(0),
			getEnabled(r),
			enable(r, source.Off), enable(r, source.On),
			run(0),
		)},
		want: []string{
			"eventfd(fd0) = 0",
			"add_io(r, fd0, IN) = 0",
			"set_enabled(r, off) = 0",
			"set_enabled(r, oneshot) = 0",
			"set_enabled(r, on) = 0",
			"write(fd0, 1) = 0",
			"r: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			cOnly("oneshot-reregister", "run(0) = 0"),
			cOnly("oneshot-reregister", "run(0) = 0"),
			goOnly("oneshot-reregister", "r: handler enabled=on state=running revents=IN"),
			goOnly("oneshot-reregister", "run(0) = 1"),
			goOnly("oneshot-reregister", "r: handler enabled=on state=running revents=IN"),
			goOnly("oneshot-reregister", "run(0) = 1"),
			"get_enabled(r) = 0 on",
			"set_enabled(r, off) = 0",
			"set_enabled(r, on) = 0",
			"r: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"teardown",
			"r: destroyed",
		}}
}

// A handler returning an error disables its source.
func handlerErrors() testCase {
	const d, t, io, x, x2 = 0, 1, 2, 3, 4
	return testCase{sc: Scenario{Name: "handler-error", Srcs: []string{"d", "t", "io", "x", "x2"},
		Steps: script(
			addDefer(d), enable(d, source.On),
			handler(d, 2, returns(unix.EIO)),
			run(0), run(0), getEnabled(d), run(0),
			addTime(t, Zero, 1), enable(t, source.On),
			handler(t, 1, returns(unix.EINVAL)),
			run(0), getEnabled(t), run(0),
			eventfd(0), write(0, 1),
			addIO(io, 0, unix.EPOLLIN),
			handler(io, 1, returns(unix.EAGAIN)),
			run(0), getEnabled(io), run(0),
			getState(), getExitCode(),
			addExit(x), addExit(x2), setPriority(x2, 1),
			handler(x, 1, returns(unix.EPERM)),
			exit(6), run(0), getEnabled(x), run(0), run(0), getState(), getExitCode(),
		)},
		want: []string{
			"add_defer(d) = 0",
			"set_enabled(d, on) = 0",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"d: handler enabled=on state=running",
			"  return(-EIO) = 0",
			"run(0) = 1",
			"get_enabled(d) = 0 off",
			"run(0) = 0",
			"add_time(t, monotonic, 0, 1us) = 0",
			"set_enabled(t, on) = 0",
			"t: handler enabled=on state=running t=0",
			"  return(-EINVAL) = 0",
			"run(0) = 1",
			"get_enabled(t) = 0 off",
			"run(0) = 0",
			"eventfd(fd0) = 0",
			"write(fd0, 1) = 0",
			"add_io(io, fd0, IN) = 0",
			"io: handler enabled=on state=running revents=IN",
			"  return(-EAGAIN) = 0",
			"run(0) = 1",
			"get_enabled(io) = 0 off",
			"run(0) = 0",
			"get_state() = initial",
			"get_exit_code() = -ENODATA",
			"add_exit(x) = 0",
			"add_exit(x2) = 0",
			"set_priority(x2, 1) = 0",
			"exit(6) = 0",
			"x: handler enabled=off state=exiting",
			"  return(-EPERM) = 0",
			"run(0) = 1",
			"get_enabled(x) = 0 off",
			"x2: handler enabled=off state=exiting",
			"run(0) = 1",
			"run(0) = 1",
			"get_state() = finished",
			"get_exit_code() = 0 code=6",
			"teardown",
			"d: destroyed",
			"t: destroyed",
			"io: destroyed",
			"x: destroyed",
			"x2: destroyed",
		}}
}

// With exit_on_failure the loop exits with the negated errno.
func exitOnFailure() testCase {
	const f, x, ok = 0, 1, 2
	return testCase{sc: Scenario{Name: "exit-on-failure", Srcs: []string{"f", "x", "ok"},
		Steps: script(
			addDefer(f), enable(f, source.On), setExitOnFailure(f, true),
			addDefer(ok), enable(ok, source.On), setPriority(ok, -1),
			handler(ok, 0, enable(ok, source.Off)),
			handler(f, 2, returns(unix.ENOENT)),
			addExit(x),
			handler(x, 0, getExitCode(), getEnabled(f)),
			loop(),
			getExitCode(), getEnabled(f), getState(),
		)},
		want: []string{
			"add_defer(f) = 0",
			"set_enabled(f, on) = 0",
			cOnly("changed-not-reported", "set_exit_on_failure(f, true) = 1"),
			goOnly("changed-not-reported", "set_exit_on_failure(f, true) = 0"),
			"add_defer(ok) = 0",
			"set_enabled(ok, on) = 0",
			"set_priority(ok, -1) = 0",
			"add_exit(x) = 0",
			"ok: handler enabled=on state=running",
			"  set_enabled(ok, off) = 0",
			"f: handler enabled=on state=running",
			"f: handler enabled=on state=running",
			"  return(-ENOENT) = 0",
			"x: handler enabled=off state=exiting",
			"  get_exit_code() = 0 code=-ENOENT",
			"  get_enabled(f) = 0 off",
			"loop() = -ENOENT",
			"get_exit_code() = 0 code=-ENOENT",
			"get_enabled(f) = 0 off",
			"get_state() = finished",
			"teardown",
			"f: destroyed",
			"x: destroyed",
			"ok: destroyed",
		}}
}

// set_floating: the loop owns the source, frees floating sources newest
// first; set_floating(false) hands it back.
func floating() testCase {
	const f1, f2, n = 0, 1, 2
	return testCase{sc: Scenario{Name: "floating", Srcs: []string{"f1", "f2", "n"},
		Steps: script(
			addDefer(f1), enable(f1, source.On),
			getFloating(f1), setFloating(f1, true), getFloating(f1), setFloating(f1, true),
			unref(f1),
			run(0), run(0),
			addDefer(f2), enable(f2, source.Off), setFloating(f2, true), unref(f2),
			addDefer(n), enable(n, source.Off), setFloating(n, true), setFloating(n, false), getFloating(n),
			run(0),
		)},
		want: []string{
			"add_defer(f1) = 0",
			"set_enabled(f1, on) = 0",
			"get_floating(f1) = 0",
			cOnly("changed-not-reported", "set_floating(f1, true) = 1"),
			goOnly("changed-not-reported", "set_floating(f1, true) = 0"),
			"get_floating(f1) = 1",
			"set_floating(f1, true) = 0",
			"unref(f1) = 0",
			"f1: handler enabled=on state=running",
			"run(0) = 1",
			"f1: handler enabled=on state=running",
			"run(0) = 1",
			"add_defer(f2) = 0",
			"set_enabled(f2, off) = 0",
			cOnly("changed-not-reported", "set_floating(f2, true) = 1"),
			goOnly("changed-not-reported", "set_floating(f2, true) = 0"),
			"unref(f2) = 0",
			"add_defer(n) = 0",
			"set_enabled(n, off) = 0",
			cOnly("changed-not-reported", "set_floating(n, true) = 1"),
			cOnly("changed-not-reported", "set_floating(n, false) = 1"),
			goOnly("changed-not-reported", "set_floating(n, true) = 0"),
			goOnly("changed-not-reported", "set_floating(n, false) = 0"),
			"get_floating(n) = 0",
			"f1: handler enabled=on state=running",
			"run(0) = 1",
			"teardown",
			"n: destroyed",
			"f2: destroyed",
			"f1: destroyed",
		}}
}

// sd_event_source_unref inside callbacks: of the source itself (freed after
// the handler) and of another pending source (freed at once).
func unrefInCallback() testCase {
	const a, b, c, io = 0, 1, 2, 3
	return testCase{sc: Scenario{Name: "unref-in-callback", Srcs: []string{"a", "b", "c", "io"},
		Steps: script(
			addDefer(a), enable(a, source.On),
			addDefer(b), enable(b, source.On), setPriority(b, 1),
			addDefer(c), setPriority(c, 2),
			handler(a, 1, unref(a), getState(), getEnabled(a), unref(b)),
			run(0), run(0), run(0),
			eventfd(0), write(0, 1),
			addIO(io, 0, unix.EPOLLIN),
			handler(io, 1, disableUnref(io), read(0), write(0, 1)),
			run(0), run(0),
		)},
		want: []string{
			"add_defer(a) = 0",
			"set_enabled(a, on) = 0",
			"add_defer(b) = 0",
			"set_enabled(b, on) = 0",
			"set_priority(b, 1) = 0",
			"add_defer(c) = 0",
			"set_priority(c, 2) = 0",
			"a: handler enabled=on state=running",
			"  unref(a) = 0",
			"  get_state() = running",
			"  get_enabled(a) = nosrc",
			"b: destroyed",
			"  unref(b) = 0",
			"a: destroyed",
			"run(0) = 1",
			"c: handler enabled=off state=running",
			"run(0) = 1",
			"run(0) = 0",
			"eventfd(fd0) = 0",
			"write(fd0, 1) = 0",
			"add_io(io, fd0, IN) = 0",
			"io: handler enabled=on state=running revents=IN",
			"  disable_unref(io) = 0",
			"  read(fd0) = 0 1",
			"  write(fd0, 1) = 0",
			"io: destroyed",
			"run(0) = 1",
			"run(0) = 0",
			"teardown",
			"c: destroyed",
		}}
}

// The loop's state in each phase and inside callbacks, prepare callbacks,
// phases called in the wrong state.
func states() testCase {
	const d, q, x = 0, 1, 2
	return testCase{sc: Scenario{Name: "states", Srcs: []string{"d", "q", "x"},
		Steps: script(
			getState(), getIteration(),
			addDefer(d), setPrepare(d),
			in(InPrepare, d, 0, getState(), getPending(d)),
			handler(d, 1, getState(), run(0), prepare(), wait(0), dispatch(), loop()),
			addDefer(q), enable(q, source.On), setPriority(q, -1), setPrepare(q),
			in(InPrepare, q, 1, returns(unix.EINVAL)),
			wait(0), dispatch(),
			prepare(), getState(), getIteration(), getEnabled(q),
			prepare(), wait(0),
			dispatch(), getState(),
			prepare(), getState(), run(0), prepare(), dispatch(),
			wait(0), getState(),
			addExit(x),
			handler(x, 1, getState(), exit(1)),
			exit(0), getState(),
			prepare(), getState(), dispatch(), getState(),
			prepare(), getState(), dispatch(), getState(), getIteration(),
		)},
		want: []string{
			"get_state() = initial",
			"get_iteration() = 0 0",
			"add_defer(d) = 0",
			"set_prepare(d) = 0",
			"add_defer(q) = 0",
			"set_enabled(q, on) = 0",
			"set_priority(q, -1) = 0",
			"set_prepare(q) = 0",
			"wait(0) = -EBUSY",
			"dispatch() = -EBUSY",
			"q: prepare enabled=on state=preparing",
			"  return(-EINVAL) = 0",
			"d: prepare enabled=oneshot state=preparing",
			"  get_state() = preparing",
			"  get_pending(d) = 1",
			"prepare() = 1",
			"get_state() = pending",
			"get_iteration() = 0 1",
			"get_enabled(q) = 0 off",
			"prepare() = -EBUSY",
			"wait(0) = -EBUSY",
			"d: handler enabled=off state=running",
			"  get_state() = running",
			"  run(0) = -EBUSY",
			"  prepare() = -EBUSY",
			"  wait(0) = -EBUSY",
			"  dispatch() = -EBUSY",
			"  loop() = -EBUSY",
			"dispatch() = 1",
			"get_state() = initial",
			"prepare() = 0",
			"get_state() = armed",
			"run(0) = -EBUSY",
			"prepare() = -EBUSY",
			"dispatch() = -EBUSY",
			"wait(0) = 0",
			"get_state() = initial",
			"add_exit(x) = 0",
			"exit(0) = 0",
			"get_state() = initial",
			"prepare() = 1",
			"get_state() = pending",
			"x: handler enabled=off state=exiting",
			"  get_state() = exiting",
			"  exit(1) = 0",
			"dispatch() = 1",
			"get_state() = initial",
			"prepare() = 1",
			"get_state() = pending",
			"dispatch() = 0",
			"get_state() = finished",
			"get_iteration() = 0 3",
			"teardown",
			"d: destroyed",
			"q: destroyed",
			"x: destroyed",
		}}
}

// Errors for bad arguments.
func badArguments() testCase {
	const d, p, x, t, io, bad, e = 0, 1, 2, 3, 4, 5, 6
	return testCase{sc: Scenario{Name: "bad-arguments", Srcs: []string{"d", "p", "x", "t", "io", "bad", "e"},
		Steps: script(
			getExitCode(),
			addDefer(d), addPost(p), addExit(x),
			addExitNil(bad),
			enableRaw(d, 2), getEnabled(d),
			getTime(d), setTime(d, 0), getAccuracy(d), setAccuracy(d, 0),
			getRevents(d), setIOEvents(d, unix.EPOLLIN),
			getPending(x), setExitOnFailure(x, true), setPrepare(x),
			setRatelimit(p, ms, 1), setRatelimit(x, ms, 1), getRatelimit(p), getRatelimit(d),
			setRatelimit(d, 5*ms, 3),
			setRatelimit(d, 0, 1), getRatelimit(d), setRatelimit(d, 5*ms, 3), setRatelimit(d, ms, 0), getRatelimit(d),
			addTime(bad, Zero, Inf),
			addTimeClock(bad, unix.CLOCK_PROCESS_CPUTIME_ID, Zero, 1),
			addTime(t, Inf, 1), setAccuracy(t, Inf),
			addIORawFd(bad, -1),
			eventfd(0),
			addIO(bad, 0, unix.EPOLLIN|unix.EPOLLONESHOT),
			addIO(io, 0, unix.EPOLLIN), addIO(bad, 0, unix.EPOLLIN),
			setIOEvents(io, unix.EPOLLONESHOT), getRevents(io),
			wait(0), dispatch(),
			wait(0),
			addDefer(e),
		)},
		want: []string{
			"get_exit_code() = -ENODATA",
			"add_defer(d) = 0",
			"add_post(p) = 0",
			"add_exit(x) = 0",
			"add_exit_nil() = -EINVAL",
			"set_enabled(d, 2) = -EINVAL",
			"get_enabled(d) = 0 oneshot",
			"get_time(d) = -EDOM",
			"set_time(d, origin+0) = -EDOM",
			"get_time_accuracy(d) = -EDOM",
			"set_time_accuracy(d, 0) = -EDOM",
			"get_io_revents(d) = -EDOM",
			"set_io_events(d, IN) = -EDOM",
			"get_pending(x) = -EDOM",
			"set_exit_on_failure(x, true) = -EDOM",
			"set_prepare(x) = -EDOM",
			"set_ratelimit(p, 1ms, 1) = -EDOM",
			"set_ratelimit(x, 1ms, 1) = -EDOM",
			"get_ratelimit(p) = -EDOM",
			"get_ratelimit(d) = -ENOEXEC",
			"set_ratelimit(d, 5ms, 3) = 0",
			"set_ratelimit(d, 0, 1) = 0",
			"get_ratelimit(d) = -ENOEXEC",
			"set_ratelimit(d, 5ms, 3) = 0",
			"set_ratelimit(d, 1ms, 0) = 0",
			"get_ratelimit(d) = -ENOEXEC",
			"add_time(bad, monotonic, 0, inf) = -EINVAL",
			"add_time(bad, clock2, 0, 1us) = -ENOTSUP",
			"add_time(t, monotonic, inf, 1us) = 0",
			"set_time_accuracy(t, inf) = -EINVAL",
			"add_io_fd(-1) = -EBADF",
			"eventfd(fd0) = 0",
			"add_io(bad, fd0, IN|0x40000000) = -EINVAL",
			"add_io(io, fd0, IN) = 0",
			"add_io(bad, fd0, IN) = -EEXIST",
			"set_io_events(io, 0x40000000) = -EINVAL",
			"get_io_revents(io) = -ENODATA",
			"wait(0) = -EBUSY",
			"dispatch() = -EBUSY",
			"wait(0) = -EBUSY",
			"add_defer(e) = 0",
			"teardown",
			"d: destroyed",
			"p: destroyed",
			"x: destroyed",
			"t: destroyed",
			"io: destroyed",
			"e: destroyed",
		}}
}

// A finished loop: ESTALE, except for turning sources off and reading.
func finished() testCase {
	const d, t, x = 0, 1, 2
	return testCase{sc: Scenario{Name: "finished", Srcs: []string{"d", "t", "x"},
		Steps: script(
			addDefer(d), addTime(t, Inf, 1), eventfd(0),
			exit(4), run(0), getState(), getExitCode(),
			run(0), loop(), exit(1), prepare(), getExitCode(),
			addDefer(x), addExit(x), addTime(x, Zero, 1), addIO(x, 0, unix.EPOLLIN), addPost(x),
			enable(d, source.On), enable(d, source.Off), enable(d, source.Off), getEnabled(d),
			setPriority(d, 3), getPending(d), setRatelimit(d, ms, 1),
			setTime(t, Zero), getTime(t), setAccuracy(t, 1),
			getState(),
		)},
		want: []string{
			"add_defer(d) = 0",
			"add_time(t, monotonic, inf, 1us) = 0",
			"eventfd(fd0) = 0",
			"exit(4) = 0",
			"run(0) = 1",
			"get_state() = finished",
			"get_exit_code() = 0 code=4",
			"run(0) = -ESTALE",
			"loop() = -EBUSY",
			"exit(1) = -ESTALE",
			"prepare() = -ESTALE",
			"get_exit_code() = 0 code=4",
			"add_defer(x) = -ESTALE",
			"add_exit(x) = -ESTALE",
			"add_time(x, monotonic, 0, 1us) = -ESTALE",
			"add_io(x, fd0, IN) = -ESTALE",
			"add_post(x) = -ESTALE",
			"set_enabled(d, on) = -ESTALE",
			"set_enabled(d, off) = 0",
			"set_enabled(d, off) = 0",
			"get_enabled(d) = 0 oneshot",
			"set_priority(d, 3) = -ESTALE",
			"get_pending(d) = -ESTALE",
			"set_ratelimit(d, 1ms, 1) = 0",
			"set_time(t, 0) = -ESTALE",
			"get_time(t) = 0 inf",
			"set_time_accuracy(t, 1us) = -ESTALE",
			"get_state() = finished",
			"teardown",
			"d: destroyed",
			"t: destroyed",
		}}
}

// exit-on-idle: go-sdevent has it, libsystemd 252 does not.
func exitOnIdle() testCase {
	const d, x = 0, 1
	return testCase{sc: Scenario{Name: "exit-on-idle", Srcs: []string{"d", "x"},
		Steps: script(
			setExitOnIdle(true),
			addDefer(d), enable(d, source.On),
			handler(d, 2, enable(d, source.Off)),
			addExit(x),
			run(0), run(0), run(0), run(0),
			getState(), getExitCode(),
		)},
		want: []string{
			cOnly("no-exit-on-idle", "set_exit_on_idle(true) = -ENOTSUP"),
			goOnly("no-exit-on-idle", "set_exit_on_idle(true) = 0"),
			"add_defer(d) = 0",
			"set_enabled(d, on) = 0",
			"add_exit(x) = 0",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"d: handler enabled=on state=running",
			"  set_enabled(d, off) = 0",
			"run(0) = 1",
			cOnly("no-exit-on-idle", "run(0) = 0"),
			cOnly("no-exit-on-idle", "run(0) = 0"),
			cOnly("no-exit-on-idle", "get_state() = initial"),
			cOnly("no-exit-on-idle", "get_exit_code() = -ENODATA"),
			goOnly("no-exit-on-idle", "x: handler enabled=off state=exiting"),
			goOnly("no-exit-on-idle", "run(0) = 1"),
			goOnly("no-exit-on-idle", "run(0) = 1"),
			goOnly("no-exit-on-idle", "get_state() = finished"),
			goOnly("no-exit-on-idle", "get_exit_code() = 0 code=0"),
			"teardown",
			"d: destroyed",
			"x: destroyed",
		}}
}

// Errors of a prepare and of a ratelimit expire callback disable the source.
func callbackErrors() testCase {
	const d, q = 0, 1
	return testCase{sc: Scenario{Name: "callback-errors", Srcs: []string{"d", "q"},
		Steps: script(
			addDefer(q), enable(q, source.On), setPrepare(q),
			in(InPrepare, q, 1, returns(unix.EBADMSG)),
			run(0), getEnabled(q), run(0),
			addDefer(d), enable(d, source.On),
			setRatelimit(d, 200*ms, 1), setExpireCallback(d),
			in(InExpire, d, 1, returns(unix.EIO)),
			run(0), run(0), run(2000*ms), getEnabled(d), isRatelimited(d), run(0),
			getState(), getExitCode(),
		)},
		want: []string{
			"add_defer(q) = 0",
			"set_enabled(q, on) = 0",
			"set_prepare(q) = 0",
			"q: prepare enabled=on state=preparing",
			"  return(-EBADMSG) = 0",
			"run(0) = 0",
			"get_enabled(q) = 0 off",
			"run(0) = 0",
			"add_defer(d) = 0",
			"set_enabled(d, on) = 0",
			"set_ratelimit(d, 200ms, 1) = 0",
			"set_ratelimit_expire_callback(d) = 0",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"run(0) = 1",
			"d: expire enabled=on state=armed",
			"  return(-EIO) = 0",
			goOnly("ratelimit-expire-ends-iteration", "run(2000ms) = 1"),
			cOnly("ratelimit-expire-ends-iteration", "run(2000ms) = 0"),
			"get_enabled(d) = 0 off",
			"is_ratelimited(d) = 0",
			"run(0) = 0",
			"get_state() = initial",
			"get_exit_code() = -ENODATA",
			"teardown",
			"d: destroyed",
			"q: destroyed",
		}}
}

// A prepare callback failing with exit_on_failure.
func prepareExitOnFailure() testCase {
	const q, d, x = 0, 1, 2
	return testCase{sc: Scenario{Name: "prepare-exit-on-failure", Srcs: []string{"q", "d", "x"},
		Steps: script(
			addDefer(d), setPriority(d, 1),
			addDefer(q), enable(q, source.On), setPrepare(q), setExitOnFailure(q, true),
			in(InPrepare, q, 1, returns(unix.EBADMSG)),
			addExit(x),
			handler(x, 1, getEnabled(q), getExitCode()),
			run(0), getState(), getEnabled(q), getExitCode(),
			run(0), run(0), getState(),
		)},
		want: []string{
			"add_defer(d) = 0",
			"set_priority(d, 1) = 0",
			"add_defer(q) = 0",
			"set_enabled(q, on) = 0",
			"set_prepare(q) = 0",
			cOnly("changed-not-reported", "set_exit_on_failure(q, true) = 1"),
			goOnly("changed-not-reported", "set_exit_on_failure(q, true) = 0"),
			"add_exit(x) = 0",
			"q: prepare enabled=on state=preparing",
			"  return(-EBADMSG) = 0",
			"x: handler enabled=off state=exiting",
			"  get_enabled(q) = 0 off",
			"  get_exit_code() = 0 code=-EBADMSG",
			"run(0) = 1",
			"get_state() = initial",
			"get_enabled(q) = 0 off",
			"get_exit_code() = 0 code=-EBADMSG",
			"run(0) = 1",
			"run(0) = -ESTALE",
			"get_state() = finished",
			"teardown",
			"q: destroyed",
			"d: destroyed",
			"x: destroyed",
		}}
}

// sd_event_exit called from a prepare callback, with a defer source
// pending.
func exitInPrepare() testCase {
	const d, x = 0, 1
	return testCase{sc: Scenario{Name: "exit-in-prepare", Srcs: []string{"d", "x"},
		Steps: script(
			addDefer(d), setPrepare(d),
			in(InPrepare, d, 1, exit(2)),
			addExit(x),
			run(0), getState(), run(0), getState(), getExitCode(),
		)},
		want: []string{
			"add_defer(d) = 0",
			"set_prepare(d) = 0",
			"add_exit(x) = 0",
			"d: prepare enabled=oneshot state=preparing",
			"  exit(2) = 0",
			"x: handler enabled=off state=exiting",
			"run(0) = 1",
			"get_state() = initial",
			"run(0) = 1",
			"get_state() = finished",
			"get_exit_code() = 0 code=2",
			"teardown",
			"d: destroyed",
			"x: destroyed",
		}}
}

// A source dropping its last reference in its prepare callback.
func unrefInPrepare() testCase {
	const d, e = 0, 1
	return testCase{sc: Scenario{Name: "unref-in-prepare", Srcs: []string{"d", "e"},
		Steps: script(
			addDefer(e), setPriority(e, 1),
			addDefer(d), enable(d, source.On), setPrepare(d),
			in(InPrepare, d, 1, unref(d), getState()),
			run(0), run(0),
		)},
		want: []string{
			"add_defer(e) = 0",
			"set_priority(e, 1) = 0",
			"add_defer(d) = 0",
			"set_enabled(d, on) = 0",
			"set_prepare(d) = 0",
			"d: prepare enabled=on state=preparing",
			"  unref(d) = 0",
			"  get_state() = preparing",
			"d: destroyed",
			"e: handler enabled=off state=running",
			"run(0) = 1",
			"run(0) = 0",
			"teardown",
			"e: destroyed",
		}}
}

// A rate limit on an ON time source in the past.
func ratelimitTime() testCase {
	const t = 0
	return testCase{sc: Scenario{Name: "ratelimit-time", Srcs: []string{"t"},
		Steps: script(
			addTime(t, Zero, 1), enable(t, source.On),
			setRatelimit(t, 200*ms, 2),
			run(0), run(0), run(0), isRatelimited(t), getPending(t), run(0),
			run(2000*ms), isRatelimited(t),
			handler(t, 3, enable(t, source.Off)),
		)},
		want: []string{
			"add_time(t, monotonic, 0, 1us) = 0",
			"set_enabled(t, on) = 0",
			"set_ratelimit(t, 200ms, 2) = 0",
			"t: handler enabled=on state=running t=0",
			"run(0) = 1",
			"t: handler enabled=on state=running t=0",
			"run(0) = 1",
			"run(0) = 1",
			"is_ratelimited(t) = 1",
			"get_pending(t) = 1",
			"run(0) = 0",
			"t: handler enabled=on state=running t=0",
			"  set_enabled(t, off) = 0",
			"run(2000ms) = 1",
			"is_ratelimited(t) = 0",
			"teardown",
			"t: destroyed",
		}}
}

// A rate limit on a level-triggered IO source.
func ratelimitIO() testCase {
	const r = 0
	return testCase{sc: Scenario{Name: "ratelimit-io", Srcs: []string{"r"},
		Steps: script(
			eventfd(0), write(0, 1),
			addIO(r, 0, unix.EPOLLIN),
			setRatelimit(r, 200*ms, 1),
			run(0), run(0), isRatelimited(r), getPending(r), run(0),
			run(2000*ms), isRatelimited(r),
			handler(r, 2, read(0)),
			run(0),
		)},
		want: []string{
			"eventfd(fd0) = 0",
			"write(fd0, 1) = 0",
			"add_io(r, fd0, IN) = 0",
			"set_ratelimit(r, 200ms, 1) = 0",
			"r: handler enabled=on state=running revents=IN",
			"run(0) = 1",
			"run(0) = 1",
			"is_ratelimited(r) = 1",
			"get_pending(r) = 1",
			"run(0) = 0",
			"r: handler enabled=on state=running revents=IN",
			"  read(fd0) = 0 1",
			"run(2000ms) = 1",
			"is_ratelimited(r) = 0",
			"run(0) = 0",
			"teardown",
			"r: destroyed",
		}}
}

// Two level-triggered IO sources of one priority, both always ready.
func ioEqualPriority() testCase {
	const a, b = 0, 1
	return testCase{sc: Scenario{Name: "io-equal-priority", Srcs: []string{"a", "b"},
		Steps: script(
			eventfd(0), eventfd(1),
			addIO(a, 0, unix.EPOLLOUT),
			addIO(b, 1, unix.EPOLLOUT),
			repeat(5, run(0)),
		)},
		want: []string{
			"eventfd(fd0) = 0",
			"eventfd(fd1) = 0",
			"add_io(a, fd0, OUT) = 0",
			"add_io(b, fd1, OUT) = 0",
			"a: handler enabled=on state=running revents=OUT",
			"run(0) = 1",
			"b: handler enabled=on state=running revents=OUT",
			"run(0) = 1",
			"a: handler enabled=on state=running revents=OUT",
			"run(0) = 1",
			"b: handler enabled=on state=running revents=OUT",
			"run(0) = 1",
			"a: handler enabled=on state=running revents=OUT",
			"run(0) = 1",
			"teardown",
			"a: destroyed",
			"b: destroyed",
		}}
}

// An fd watched by a source that is OFF can be watched by another.
func ioSameFd() testCase {
	const a, b = 0, 1
	return testCase{sc: Scenario{Name: "io-same-fd", Srcs: []string{"a", "b"},
		Steps: script(
			eventfd(0),
			addIO(a, 0, unix.EPOLLOUT), enable(a, source.Off),
			addIO(b, 0, unix.EPOLLOUT),
			run(0),
			enable(a, source.On), getEnabled(a),
			run(0),
			enable(b, source.Off), enable(a, source.On), getEnabled(a),
			run(0),
		)},
		want: []string{
			"eventfd(fd0) = 0",
			"add_io(a, fd0, OUT) = 0",
			"set_enabled(a, off) = 0",
			"add_io(b, fd0, OUT) = 0",
			"b: handler enabled=on state=running revents=OUT",
			"run(0) = 1",
			"set_enabled(a, on) = -EEXIST",
			"get_enabled(a) = 0 off",
			"b: handler enabled=on state=running revents=OUT",
			"run(0) = 1",
			"set_enabled(b, off) = 0",
			"set_enabled(a, on) = 0",
			"get_enabled(a) = 0 on",
			"a: handler enabled=on state=running revents=OUT",
			"run(0) = 1",
			"teardown",
			"a: destroyed",
			"b: destroyed",
		}}
}

// An exit source freed by another exit handler; one freeing itself.
func unrefExit() testCase {
	const x1, x2, x3 = 0, 1, 2
	return testCase{sc: Scenario{Name: "unref-exit", Srcs: []string{"x1", "x2", "x3"},
		Steps: script(
			addExit(x1), setPriority(x1, 1),
			addExit(x2), setPriority(x2, 2),
			addExit(x3), setPriority(x3, 3),
			handler(x1, 1, unref(x1), unref(x2)),
			exit(0), loop(),
		)},
		want: []string{
			"add_exit(x1) = 0",
			"set_priority(x1, 1) = 0",
			"add_exit(x2) = 0",
			"set_priority(x2, 2) = 0",
			"add_exit(x3) = 0",
			"set_priority(x3, 3) = 0",
			"exit(0) = 0",
			"x1: handler enabled=off state=exiting",
			"  unref(x1) = 0",
			"x2: destroyed",
			"  unref(x2) = 0",
			"x1: destroyed",
			"x3: handler enabled=off state=exiting",
			"loop() = 0",
			"teardown",
			"x3: destroyed",
		}}
}

// A rate limit window that ended while the loop slept, or while it was busy
// with a source of higher priority. The window is 200ms; e stays pending and
// sleeps 300ms on its second call, so the window ends during its third.
func ratelimitBusy() testCase {
	const d, e = 0, 1
	return testCase{sc: Scenario{Name: "ratelimit-busy", Srcs: []string{"d", "e"},
		Steps: script(
			addDefer(d), enable(d, source.On),
			setRatelimit(d, 200*ms, 1),
			run(0), run(0), isRatelimited(d),
			sleep(300*ms),
			runTook(2000*ms, 0, 1000*ms), isRatelimited(d),
			setExpireCallback(d),
			addDefer(e), enable(e, source.On), setPriority(e, -1),
			handler(e, 2, sleep(300*ms)),
			enable(e, source.Off),
			runTook(2000*ms, 0, 1000*ms), isRatelimited(d),
			enable(e, source.On),
			run(0), run(0), run(0), isRatelimited(d),
			enable(e, source.Off),
			runTook(2000*ms, 0, 1000*ms),
		)},
		want: []string{
			"add_defer(d) = 0",
			"set_enabled(d, on) = 0",
			"set_ratelimit(d, 200ms, 1) = 0",
			"d: handler enabled=on state=running",
			"run(0) = 1",
			"run(0) = 1",
			"is_ratelimited(d) = 1",
			"sleep(300ms) = 0",
			"d: handler enabled=on state=running",
			"run(2000ms) = 1 took<1000ms:true",
			"is_ratelimited(d) = 0",
			"set_ratelimit_expire_callback(d) = 0",
			"add_defer(e) = 0",
			"set_enabled(e, on) = 0",
			"set_priority(e, -1) = 0",
			"set_enabled(e, off) = 0",
			"run(2000ms) = 1 took<1000ms:true",
			"is_ratelimited(d) = 1",
			"set_enabled(e, on) = 0",
			"e: handler enabled=on state=running",
			"run(0) = 1",
			"e: handler enabled=on state=running",
			"  sleep(300ms) = 0",
			"run(0) = 1",
			"d: expire enabled=on state=armed",
			cOnly("ratelimit-expire-ends-iteration", "e: handler enabled=on state=running"),
			"run(0) = 1",
			"is_ratelimited(d) = 0",
			"set_enabled(e, off) = 0",
			"d: handler enabled=on state=running",
			"run(2000ms) = 1 took<1000ms:true",
			"teardown",
			"d: destroyed",
			"e: destroyed",
		}}
}
