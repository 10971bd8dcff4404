//go:build linux

package sdevent_test

// Tests of IO sources (io.go).

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/internal/testutil"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/go-sdevent/sdevent/source"
	"golang.org/x/sys/unix"
)

// TestSetIOFd ports TEST(sd_event_source_set_io_fd): an owning IO source
// closes the fd that SetIOFd replaces and, when freed, the one it holds.
func TestSetIOFd(t *testing.T) {
	e := newLoop(t)
	ar, _ := testutil.Pipe(t)
	br, _ := testutil.Pipe(t)
	s, err := e.AddIO(ar, unix.EPOLLIN, nil)
	ok(t, "add io", err)
	s.SetUserdata(-int(unix.ENOANO))
	ok(t, "own", s.SetIOFdOwn(true))
	testutil.Disown(t, ar)
	if own, err := s.IOFdOwn(); err != nil || !own {
		t.Errorf("IOFdOwn = %v, %v; want true", own, err)
	}
	ok(t, "set io fd", s.SetIOFd(br))
	testutil.Disown(t, br)
	if fd, err := s.IOFd(); err != nil || fd != br {
		t.Errorf("IOFd = %d, %v; want %d", fd, err, br)
	}
	if testutil.FdOpen(ar) {
		t.Errorf("replaced owned fd %d still open", ar)
	}
	s.Unref()
	if testutil.FdOpen(br) {
		t.Errorf("owned fd %d still open after the source was freed", br)
	}
}

// TestIOReventsORed: revents reported by a later poll are ORed into a source
// that is still pending (process_io).
//
// From SEMANTICS.md, "The loop": Wait.
func TestIOReventsORed(t *testing.T) {
	e := newLoop(t)
	efd := testutil.Eventfd(t)
	var got []uint32
	s := keep(t)(e.AddIO(efd, unix.EPOLLIN|unix.EPOLLOUT, func(_ *sdevent.Source, _ int, revents uint32) error {
		got = append(got, revents)
		return nil
	}))
	ok(t, "priority", s.SetPriority(10))
	_, err := s.IORevents()
	wantErrno(t, "IORevents before any poll", err, unix.ENODATA)

	// A more important source takes the first iteration; the eventfd
	// (counter 0) is writable only.
	blocker := keep(t)(e.AddDefer(func(*sdevent.Source) error { return nil }))
	run(t, e, 0)
	if len(got) != 0 {
		t.Fatal("the IO source ran before the more important defer source")
	}
	if rev, err := s.IORevents(); err != nil || rev != unix.EPOLLOUT {
		t.Fatalf("pending IORevents = %#x, %v; want EPOLLOUT", rev, err)
	}
	if p, err := s.Pending(); err != nil || !p {
		t.Fatalf("Pending() = %v, %v; want true", p, err)
	}
	ok(t, "off", blocker.SetEnabled(source.Off))

	// Counter at its maximum: readable, no longer writable.
	testutil.Write(t, efd, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	run(t, e, 0)
	if len(got) != 1 || got[0] != unix.EPOLLIN|unix.EPOLLOUT {
		t.Errorf("handler got revents %#x, want EPOLLIN|EPOLLOUT", got)
	}
	_, err = s.IORevents()
	wantErrno(t, "IORevents after dispatch", err, unix.ENODATA)
}

// TestIOTriggering: a level-triggered source fires every iteration while its
// fd is ready; with EPOLLET only when new data arrives.
//
// From SEMANTICS.md, "Kinds": IO.
func TestIOTriggering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events uint32
		want   []int // calls after each of four Run(0), a byte written before the 4th
	}{
		{"level", unix.EPOLLIN, []int{1, 2, 3, 4}},
		{"edge", unix.EPOLLIN | unix.EPOLLET, []int{1, 1, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoop(t)
			r, w := testutil.Pipe(t)
			calls := 0
			s := keep(t)(e.AddIO(r, tc.events, func(*sdevent.Source, int, uint32) error { calls++; return nil }))
			if ev, err := s.IOEvents(); err != nil || ev != tc.events {
				t.Errorf("IOEvents = %#x, %v; want %#x", ev, err, tc.events)
			}
			writeByte(t, w)
			var seen []int
			for i := range 4 {
				if i == 3 {
					writeByte(t, w)
				}
				run(t, e, 0)
				seen = append(seen, calls)
			}
			if !slices.Equal(seen, tc.want) {
				t.Errorf("calls after each iteration %v, want %v", seen, tc.want)
			}
		})
	}
}

// TestIOFdOwn: with SetIOFdOwn(true) the fd is closed when the source is
// freed; without, it is left open.
//
// From SEMANTICS.md, "Kinds": IO.
func TestIOFdOwn(t *testing.T) {
	e := newLoop(t)
	for _, own := range []bool{true, false} {
		r, _ := testutil.Pipe(t)
		s, err := e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { return nil })
		ok(t, "AddIO", err)
		ok(t, "own", s.SetIOFdOwn(own))
		if got, err := s.IOFdOwn(); err != nil || got != own {
			t.Errorf("IOFdOwn = %v, %v; want %v", got, err, own)
		}
		if own {
			testutil.Disown(t, r)
		}
		s.Unref()
		if testutil.FdOpen(r) == own {
			t.Errorf("own=%v: after Unref fd open = %v", own, testutil.FdOpen(r))
		}
	}
}

// TestOneShotToOn: switching an enabled IO source between ONESHOT and ON
// takes effect at once; no stale EPOLLONESHOT registration is left behind
// (a bug of sd-event 252).
//
// From SEMANTICS.md, "Sources, in general": ONESHOT.
func TestOneShotToOn(t *testing.T) {
	e := newLoop(t)
	r, w := testutil.Pipe(t)
	calls := 0
	s := keep(t)(e.AddIO(r, unix.EPOLLIN, func(*sdevent.Source, int, uint32) error { calls++; return nil }))
	ok(t, "oneshot", s.SetEnabled(source.OneShot))
	if run(t, e, 0) {
		t.Fatal("dispatched with nothing to read")
	}
	ok(t, "on", s.SetEnabled(source.On))
	writeByte(t, w)
	for range 3 {
		run(t, e, 0)
	}
	if calls != 3 {
		t.Fatalf("ON after ONESHOT: %d calls in 3 iterations of a readable pipe, want 3", calls)
	}
	ok(t, "oneshot", s.SetEnabled(source.OneShot))
	for range 3 {
		run(t, e, 0)
	}
	if calls != 4 {
		t.Errorf("ONESHOT after ON: %d calls in all, want 4", calls)
	}
	if got := enabledOf(t, s); got != "off" {
		t.Errorf("after its one shot the source is %s, want off", got)
	}
}

// ioSlot is one IO source of TestStressIOChurn and what the test expects
// of it.
type ioSlot struct {
	s      *sdevent.Source
	fd     int
	mode   source.Enabled
	events uint32
}

// TestStressIOChurn: 10,000 IO sources over eventfds, churned at random
// (add, remove, enable, disable, SetIOFd, SetIOEvents, SetPriority) while
// some fds are made readable. Only a source that is enabled and whose fd is
// readable is ever dispatched (its handler drains the fd), and every enabled
// source with a readable fd is dispatched before the loop goes idle. At the
// end every source was freed and the descriptors are as before.
//
// Stress test of issue 5.
func TestStressIOChurn(t *testing.T) {
	testutil.Check(t)
	const (
		nSlots = 10_000
		nSpare = 1_000
		rounds = 20_000
		ops    = 8 // random operations per round
		runs   = 3 // Run(0) per round
		check  = 1_000
	)
	needNofile(t, testutil.FdCount()+nSlots+nSpare+64)
	fdsBefore := testutil.FdCount()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	e, err := sdevent.New()
	ok(t, "New", err)
	slots := make([]*ioSlot, nSlots)
	var allFds []int
	readable := map[int]bool{}
	// Spare eventfds no source watches, by readability: SetIOFd swaps a
	// source's fd for one that is as readable, so that the model stays
	// exact (a pending source keeps the revents of its old fd).
	spare := map[bool][]int{}
	created, destroyed := 0, 0
	defer func() {
		for _, sl := range slots {
			if sl != nil && sl.s != nil {
				sl.s.Unref()
			}
		}
		e.Unref()
		for _, fd := range allFds {
			unix.Close(fd)
		}
	}()
	newFd := func() int {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			t.Fatalf("eventfd #%d: %v", len(allFds), err)
		}
		allFds = append(allFds, fd)
		return fd
	}
	one := binary.NativeEndian.AppendUint64(nil, 1)
	makeReadable := func(fd int) {
		if n, err := unix.Write(fd, one); n != 8 || err != nil {
			t.Fatalf("write eventfd %d: %d, %v", fd, n, err)
		}
		readable[fd] = true
	}
	takeSpare := func(r bool) int {
		l := spare[r]
		if len(l) == 0 {
			// None as readable as wanted: make an idle one readable.
			if r && len(spare[false]) > 0 {
				fd := takeSpareIdle(spare)
				makeReadable(fd)
				return fd
			}
			t.Fatalf("no spare eventfd (readable %v)", r)
		}
		i := rng.IntN(len(l))
		fd := l[i]
		l[i] = l[len(l)-1]
		spare[r] = l[:len(l)-1]
		return fd
	}
	putSpare := func(fd int) { spare[readable[fd]] = append(spare[readable[fd]], fd) }

	dispatched, bad := 0, 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	buf := make([]byte, 8)
	var h sdevent.IOHandler = func(s *sdevent.Source, fd int, revents uint32) error {
		dispatched++
		sl := s.Userdata().(*ioSlot)
		switch {
		case sl.s != s:
			report("a freed source (fd %d) was dispatched", fd)
		case fd != sl.fd:
			report("source of fd %d dispatched with fd %d", sl.fd, fd)
		case sl.mode == source.Off:
			report("disabled source of fd %d dispatched (revents %#x)", fd, revents)
		case !readable[fd]:
			report("source of fd %d dispatched, but the fd is not readable (revents %#x, events %#x)", fd, revents, sl.events)
		case revents&unix.EPOLLIN == 0:
			report("source of fd %d dispatched with revents %#x", fd, revents)
		}
		if sl.mode == source.OneShot {
			sl.mode = source.Off
			if m, err := s.Enabled(); err != nil || m != source.Off {
				report("ONESHOT source of fd %d is %v (%v) in its handler", fd, m, err)
			}
		}
		if _, err := unix.Read(fd, buf); err != nil && err != unix.EAGAIN {
			report("read eventfd %d: %v", fd, err)
		}
		readable[fd] = false
		return nil
	}
	modes := []source.Enabled{source.On, source.On, source.OneShot, source.Off}
	eventSets := []uint32{unix.EPOLLIN, unix.EPOLLIN | unix.EPOLLET}
	add := func(sl *ioSlot) {
		s, err := e.AddIO(sl.fd, sl.events, h)
		if err != nil {
			t.Fatalf("AddIO(%d): %v", sl.fd, err)
		}
		created++
		sl.s, sl.mode = s, source.On
		s.SetUserdata(sl)
		ok(t, "SetDestroyCallback", s.SetDestroyCallback(func(any) { destroyed++ }))
	}
	for i := range slots {
		sl := &ioSlot{fd: newFd(), events: eventSets[i%2]}
		slots[i] = sl
		add(sl)
	}
	for range nSpare {
		putSpare(newFd())
	}
	fdsFull := testutil.FdCount()

	// drain runs the loop until it is idle and then checks that no enabled
	// source has a readable fd.
	drain := func(when string) {
		t.Helper()
		for i := 0; ; i++ {
			if i > nSlots+10 {
				t.Fatalf("%s: the loop is still dispatching after %d iterations", when, i)
			}
			if !run(t, e, 0) {
				break
			}
		}
		missed := 0
		for _, sl := range slots {
			if sl.s != nil && sl.mode != source.Off && readable[sl.fd] {
				if missed++; missed <= 5 {
					m, _ := sl.s.Enabled()
					p, _ := sl.s.Pending()
					report("%s: enabled (%v, model %v, events %#x, pending %v) source of readable fd %d never dispatched",
						when, m, sl.mode, sl.events, p, sl.fd)
				}
			}
		}
	}

	counts := map[string]int{}
	t0 := time.Now()
	for round := range rounds {
		for range ops {
			sl := slots[rng.IntN(nSlots)]
			switch op := rng.IntN(16); {
			case op < 5: // make readable
				if sl.s != nil {
					makeReadable(sl.fd)
					counts["write"]++
				}
			case op < 8: // enable / disable
				if sl.s != nil {
					m := modes[rng.IntN(len(modes))]
					ok(t, "SetEnabled", sl.s.SetEnabled(m))
					sl.mode = m
					counts["enable"]++
				}
			case op < 10: // SetIOEvents
				if sl.s != nil {
					ev := eventSets[rng.IntN(2)]
					ok(t, "SetIOEvents", sl.s.SetIOEvents(ev))
					sl.events = ev
					counts["events"]++
				}
			case op < 12: // SetIOFd
				if sl.s != nil {
					fd := takeSpare(readable[sl.fd])
					if err := sl.s.SetIOFd(fd); err != nil {
						t.Fatalf("SetIOFd(%d → %d): %v", sl.fd, fd, err)
					}
					putSpare(sl.fd)
					sl.fd = fd
					counts["setfd"]++
				}
			case op < 14: // remove or add
				if sl.s != nil {
					sl.s.Unref()
					sl.s = nil
					putSpare(sl.fd)
					counts["remove"]++
				} else {
					sl.fd = takeSpare(rng.IntN(2) == 0)
					sl.events = eventSets[rng.IntN(2)]
					add(sl)
					if m := modes[rng.IntN(len(modes))]; m != source.On {
						ok(t, "SetEnabled", sl.s.SetEnabled(m))
						sl.mode = m
					}
					counts["add"]++
				}
			case op < 15: // priority
				if sl.s != nil {
					ok(t, "SetPriority", sl.s.SetPriority(priority.Priority(rng.IntN(3)-1)))
					counts["priority"]++
				}
			default: // a chance for the loop to catch up
				run(t, e, 0)
			}
		}
		for range runs {
			run(t, e, 0)
		}
		if round%check == check-1 {
			drain(fmt.Sprintf("round %d", round))
			if t.Failed() {
				break
			}
		}
	}
	drain("end")
	elapsed := time.Since(t0)
	remaining := 0
	for _, sl := range slots {
		if sl.s != nil {
			remaining++
			sl.s.Unref()
			sl.s = nil
		}
	}
	if destroyed != created {
		t.Errorf("%d sources created, %d destroyed", created, destroyed)
	}
	e.Unref()
	for _, fd := range allFds {
		unix.Close(fd)
	}
	allFds = nil
	slots = nil
	if fds := testutil.FdCount(); fds != fdsBefore {
		t.Errorf("%d descriptors open at the end, %d before", fds, fdsBefore)
	}
	t.Logf("%d rounds in %v: %d dispatches, ops %v, %d sources at the end, %d created; fds %d before, %d with all eventfds",
		rounds, elapsed.Round(time.Millisecond), dispatched, counts, remaining, created, fdsBefore, fdsFull)
}

// takeSpareIdle takes any spare fd that is not readable.
func takeSpareIdle(spare map[bool][]int) int {
	l := spare[false]
	fd := l[len(l)-1]
	spare[false] = l[:len(l)-1]
	return fd
}
