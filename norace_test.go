//go:build !race

package sdevent_test

// stressTimers is the number of timers of TestStressTimers (race_test.go
// says why it is smaller under -race).
const stressTimers = 100_000
