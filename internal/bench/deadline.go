package bench

import "time"

// lcg is the linear congruential generator (Knuth's MMIX constants) that
// draws the timers' deadlines, the same in Go and in the C harness, seeded
// with 1 like sdbench.c's srand(1).
type lcg uint64

func (x *lcg) next() uint64 {
	*x = *x*6364136223846793005 + 1442695040888963407
	return uint64(*x >> 33)
}

// timerOffset returns the next timer's deadline after the base time, as
// sdbench.c draws it: 1ms plus up to 200ms, in whole microseconds.
func (x *lcg) timerOffset() time.Duration {
	return time.Millisecond + time.Duration(x.next()%200000)*time.Microsecond
}
