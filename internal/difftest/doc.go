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
// any other, sd-event must trace what go-sdevent traces. It builds only on Linux, where both sides run.
package difftest
