//go:build linux

package sdevent_test

// Tests of the watchdog (watchdog.go), against a real notify socket.

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/source"
	"golang.org/x/sys/unix"
)

// TestWatchdogNotRequested: without WATCHDOG_USEC, or with WATCHDOG_PID
// naming another process, SetWatchdog(true) reports false and no error, as
// sd_event_set_watchdog returns 0.
func TestWatchdogNotRequested(t *testing.T) {
	for _, tc := range []struct{ usec, pid string }{
		{"", ""},
		{"1000000", strconv.Itoa(os.Getpid() + 1)},
	} {
		t.Run(tc.usec+"/"+tc.pid, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			e := newLoop(t)
			on, err := e.SetWatchdog(true)
			if on || err != nil || e.Watchdog() {
				t.Fatalf("SetWatchdog(true) = %v, %v; Watchdog() = %v", on, err, e.Watchdog())
			}
		})
	}
}

// TestWatchdogPings: turned on, the loop pings at once, and then while idle
// within [1/2, 3/4] of the period, so that systemd never sees a gap of a
// whole period. The gaps are those between the kernel's time stamps of the
// pings, taken when the loop sent them: never under half a period, and
// (the median, as a starved machine may delay one wake-up) at most three
// quarters of it.
func TestWatchdogPings(t *testing.T) {
	m := testutil.NewManager(t)
	m.Stamp(t)
	t.Setenv("NOTIFY_SOCKET", m.Path)
	const period = 200 * time.Millisecond
	t.Setenv("WATCHDOG_USEC", strconv.Itoa(int(period/time.Microsecond)))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	e := newLoop(t)
	on, err := e.SetWatchdog(true)
	if !on || err != nil || !e.Watchdog() {
		t.Fatalf("SetWatchdog(true) = %v, %v", on, err)
	}
	msg, first := m.NextStamped(time.Second)
	if msg != "WATCHDOG=1" || first.IsZero() {
		t.Fatalf("no stamped ping at once: got %q at %v", msg, first)
	}
	const idle = 5 * period
	keep(t)(e.AddTimeRelative(unix.CLOCK_MONOTONIC, idle, time.Millisecond, nil))
	loop(t, e)
	var gaps []time.Duration
	for last := first; ; {
		msg, at := m.NextStamped(10 * time.Millisecond)
		if msg != "WATCHDOG=1" {
			break
		}
		gaps = append(gaps, at.Sub(last))
		last = at
	}
	// At most every 1/2 period (plus the one after the final poll), and
	// more than a few in 5 periods.
	if hi := int(idle/(period/2)) + 1; len(gaps) < 3 || len(gaps) > hi {
		t.Fatalf("%d pings in %v of idleness with period %v (gaps %v), want 3..%d", len(gaps), idle, period, gaps, hi)
	}
	// The last gap may end at the final poll, which pings if a quarter
	// period has passed: only the others are held to the idle timer.
	for i, g := range gaps[:len(gaps)-1] {
		if g < period/2-20*time.Millisecond { // the send follows the loop's time stamp
			t.Errorf("ping %d came %v after the one before, under half the period %v (gaps %v)", i+1, g, period, gaps)
		}
	}
	sorted := slices.Sorted(slices.Values(gaps[:len(gaps)-1]))
	if med := sorted[len(sorted)/2]; med > period*3/4+10*time.Millisecond {
		t.Errorf("median gap between pings %v, over 3/4 of the period %v (gaps %v)", med, period, gaps)
	}
	on, err = e.SetWatchdog(false)
	if on || err != nil || e.Watchdog() {
		t.Fatalf("SetWatchdog(false) = %v, %v", on, err)
	}
}

// TestWatchdogBusyQuarterPeriod: a busy loop pings from its polls, at most
// every quarter period.
func TestWatchdogBusyQuarterPeriod(t *testing.T) {
	next := notifySocket(t)
	const period = 400 * time.Millisecond
	t.Setenv("WATCHDOG_USEC", strconv.Itoa(int(period/time.Microsecond)))
	t.Setenv("WATCHDOG_PID", "")
	e := newLoop(t)
	if on, err := e.SetWatchdog(true); !on || err != nil {
		t.Fatalf("SetWatchdog(true) = %v, %v", on, err)
	}
	next(time.Second) // the first ping
	end := live(t, unix.CLOCK_MONOTONIC) + period
	d := keep(t)(e.AddDefer(func(*sdevent.Source) error {
		if live(t, unix.CLOCK_MONOTONIC) > end {
			return e.Exit(0)
		}
		return nil
	}))
	ok(t, "on", d.SetEnabled(source.On))
	loop(t, e)
	pings := 0
	for next(10*time.Millisecond) == "WATCHDOG=1" {
		pings++
	}
	if pings < 1 || pings > 4 {
		t.Fatalf("%d pings in one busy period, want 1..4 (at most one per quarter)", pings)
	}
}

// TestWatchdogEnvironment: SetWatchdog(true) takes and refuses
// WATCHDOG_USEC and WATCHDOG_PID as sd_watchdog_enabled of libsystemd 252
// does, checked with a C program against it: 0 and 2^64-1 (USEC_INFINITY)
// are EINVAL, as are non-numbers and trailing blanks; "-5" and 2^64 are
// ERANGE; a WATCHDOG_PID of 0, of -1 or past pid_t is ERANGE; WATCHDOG_USEC
// is read before WATCHDOG_PID, so a bad period is an error even for another
// process's watchdog. Periods longer than time.Duration holds
// (9223372036854776 µs and up: 292 years) are valid in C and turn the
// watchdog on here too, instead of reading as "no watchdog".
func TestWatchdogEnvironment(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		usec, pid string
		on        bool
		err       unix.Errno
	}{
		{"0", "", false, unix.EINVAL},
		{"18446744073709551615", "", false, unix.EINVAL},
		{"abc", "", false, unix.EINVAL},
		{"5 ", "", false, unix.EINVAL},
		{"-5", "", false, unix.ERANGE},
		{"18446744073709551616", "", false, unix.ERANGE},
		{"1000000", "0", false, unix.ERANGE},
		{"1000000", "-1", false, unix.ERANGE},
		{"1000000", "2147483648", false, unix.ERANGE},
		{"1000000", "abc", false, unix.EINVAL},
		{"abc", "1", false, unix.EINVAL},
		{" +0x100000", me, true, 0},
		{"9223372036854775", me, true, 0},
		{"9223372036854776", me, true, 0},
		{"18446744073709552", "", true, 0},
		{"18446744073709551614", "", true, 0},
	} {
		t.Run(tc.usec+"/"+tc.pid, func(t *testing.T) {
			notifySocket(t)
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			e := newLoop(t)
			on, err := e.SetWatchdog(true)
			if tc.err != 0 {
				wantErrno(t, "SetWatchdog(true)", err, tc.err)
				if err == nil {
					return
				}
				if msg := err.Error(); strings.Count(msg, "sdevent:") != 1 || !strings.HasSuffix(msg, tc.err.Error()) {
					t.Errorf("error %q: want one sdevent: prefix and the errno last", msg)
				}
			} else if err != nil {
				t.Fatalf("SetWatchdog(true): %v", err)
			}
			if on != tc.on || e.Watchdog() != tc.on {
				t.Fatalf("SetWatchdog(true) = %v, Watchdog() = %v; want %v", on, e.Watchdog(), tc.on)
			}
		})
	}
}

// TestWatchdogHugePeriod: a period of centuries (584 years overflowed
// time.Duration into 384 ns) makes one ping at once and then none while the
// loop polls busily and idles, instead of pinging at every poll. C keeps the
// period as a uint64 of µs and arms its timer centuries away.
func TestWatchdogHugePeriod(t *testing.T) {
	for _, usec := range []string{"18446744073709552", "9223372036854776", "18446744073709551614"} {
		t.Run(usec, func(t *testing.T) {
			m := testutil.NewManager(t)
			t.Setenv("NOTIFY_SOCKET", m.Path)
			t.Setenv("WATCHDOG_USEC", usec)
			t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
			// The manager's queue holds 10 datagrams here
			// (net.unix.max_dgram_qlen), past which a ping blocks: count
			// them as they come, up to the END the test sends last.
			pings := make(chan int)
			go func() {
				n := 0
				for msg := m.Next(long); msg != "END" && msg != ""; msg = m.Next(long) {
					n++
				}
				pings <- n
			}()
			e := newLoop(t)
			on, err := e.SetWatchdog(true)
			busy := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
			ok(t, "on", busy.SetEnabled(source.On))
			for i := 0; i < 100; i++ { // polls ping when a quarter period has passed
				run(t, e, 0)
			}
			ok(t, "off", busy.SetEnabled(source.Off))
			for i := 0; i < 3; i++ { // the idle ping timer would end these waits
				run(t, e, 50*time.Millisecond)
			}
			if _, err := sdevent.Notify("END"); err != nil {
				t.Fatal(err)
			}
			if n := <-pings; !on || err != nil || n != 1 {
				t.Fatalf("SetWatchdog(true) = %v, %v; %d pings, want the first one only", on, err, n)
			}
		})
	}
}
