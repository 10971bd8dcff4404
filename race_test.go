//go:build race

package sdevent_test

// stressTimers is the number of timers of TestStressTimers. The race
// detector slows each add and dispatch several times over; a tenth of the
// timers still fills a heap 14 levels deep, with many timers to a
// millisecond, all falling due while the loop dispatches the others.
const stressTimers = 10_000
