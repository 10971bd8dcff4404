// Package difftest runs the same scripted scenarios on go-sdevent and on
// libsystemd's sd-event and compares what they did.
//
// A Scenario is a list of Steps: sd-event calls (add a defer source, switch
// it ONESHOT, run one iteration, exit with a code, ...) and test actions
// (create an eventfd, write to it, sleep). Steps either run from the top
// (InMain) or inside a callback of one source (InHandler, InExpire,
// InPrepare), on every call or only on its n-th. Two small interpreters
// perform the steps, each calling its library the obvious way: RunGo calls
// go-sdevent, and RunC (built only with the build tag libsystemd and cgo)
// hands the encoded steps to a C interpreter, libsystemd.c, that calls
// the libsystemd it was built against: the system's (252 on Debian 12), or
// 262 from .ci/libsystemd262 (CI runs both; Libsystemd says which one is
// loaded). Every step maps to one call on both sides.
//
// Both record the same Trace: the return value (0, 1 or the negative errno)
// and any value read of every step, every callback (which source, which
// kind, how often, the enablement and the loop state seen inside it, an IO
// source's revents, a time source's scheduled time) and every destroy
// callback, down to the teardown that drops the remaining references and
// the loop. Times are written relative to the loop's first Now(MONOTONIC),
// so traces do not depend on the clock.
//
// The tests hold each scenario's expected trace. Lines that differ between
// the two libraries carry the name of a difference (doc.go's "Differences
// from C", libsystemd 252 lacking a newer call, or a known bug of the port),
// so the comparison is exact with named exceptions: the untagged test checks
// go-sdevent against its lines, the libsystemd test checks sd-event against
// its own. A difference may hold for some libsystemd versions only; against
// any other, sd-event must trace what go-sdevent traces.
//
// FuzzDifferential (fuzz_test.go) decodes each fuzz input into a random
// scenario and compares the two traces, with no expected lines. Its
// scenarios add defer, post, exit, IO and time sources, switch them OFF, ON
// and ONESHOT, give them priorities and rate limits, unref them, exit with a
// code, run iterations, write to and read from an eventfd and a pipe and
// close a pipe's end, and do some of that inside handlers. Time sources are
// due at once (time 0) or not within the scenario (infinity, an hour
// ahead): libsystemd's clocks cannot be stopped, and so whether a timer
// fired never depends on how fast a run went. Its scenarios are observed
// (Scenario.Observe): both interpreters also record, after every step and
// on entering and leaving every callback, which sources are pending,
// enabled and rate-limited, and the iteration, and these lines are compared
// too.
//
// One difference is normalised rather than named, because it is no
// difference of the port: ties of sd-event's dispatch order. sd-event
// orders pending sources by priority and then by the iteration in which
// they became pending (a defer source, from 262 on: was last dispatched),
// and hands out sources equal in both from its heap, in an order that
// depends on the heap's history. go-sdevent's queue (internal/prioq) makes
// prioq.c's moves at the same points, so its ties fall as C's do, but that
// is the heap's history, not a rule: where the two histories part (several
// post sources, which C walks in a hash set with a random key per process),
// either order is valid. ties_test.go reads those keys
// off the observed trace itself. When the first difference between the
// traces is a dispatch at which the two picked different sources of one
// tie, the input passes: both runs are valid and go on differently, so the
// rest is not compared. A pick outside the best key on either side, a
// dispatch on one side only, any other difference fails. Against 252, whose
// order lacks the stamp at dispatch, a first difference at which each side
// picked the best by its own library's order is the named difference
// defer-round-robin and ends the comparison too, and the generator leaves
// out what else 252 does differently by design. The seeds and the corpus in
// testdata/fuzz/FuzzDifferential replay in every go test -tags libsystemd
// run; CI also fuzzes the target against 252 and 262 for a bounded time
// (FUZZTIME).
//
// It builds only on Linux, where both sides run.
package difftest
