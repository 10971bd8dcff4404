package busevent

import (
	"encoding/binary"
	"reflect"
	"sync"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// ring is a fixed-capacity FIFO.
type ring[T any] struct {
	buf  []T
	head int
	n    int
}

func (r *ring[T]) full() bool { return r.n == len(r.buf) }

// push appends v; the caller checks full first.
func (r *ring[T]) push(v T) {
	r.buf[(r.head+r.n)%len(r.buf)] = v
	r.n++
}

func (r *ring[T]) front() *T { return &r.buf[r.head] }

func (r *ring[T]) pop() T {
	var zero T
	v := r.buf[r.head]
	r.buf[r.head] = zero
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return v
}

func (r *ring[T]) clear() {
	clear(r.buf)
	r.head, r.n = 0, 0
}

// signal is a D-Bus signal waiting for the loop, stamped with its place in
// the order in which messages reached the bridge.
type signal struct {
	seq  uint64
	size int
	sig  *dbus.Signal
}

// call is a method call waiting for the loop. The godbus goroutine that
// handles the call waits on done, which has room for one result.
type call struct {
	seq  uint64
	size int
	fn   reflect.Value
	args []reflect.Value
	done chan []reflect.Value
}

// item is what the loop takes from the queue: a signal or a call.
type item struct {
	sig  *dbus.Signal
	call *call
}

// queue is the one piece of state shared between godbus's goroutines and
// the loop. Everything in it is guarded by mu. Producers (godbus's reader
// goroutine delivering signals, its per-call goroutines delivering method
// calls, and whoever closes the connection) append and kick the eventfd;
// the loop takes. No lock is ever held while user code runs or while
// waiting for anything.
type queue struct {
	mu           sync.Mutex
	efd          int  // -1 once dead
	kicked       bool // efd's counter is non-zero
	dead         bool // the bridge was released: nothing is accepted any more
	disconnected bool // godbus closed the connection (Terminate ran)
	gone         chan struct{}
	seq          uint64
	sigs         ring[signal]
	calls        ring[*call]
	maxBytes     int // of signals, and of calls, waiting; one alone may exceed it
	sigBytes     int
	callBytes    int
	peak         int
	dropped      uint64
	refused      uint64
}

func newQueue(efd, size, maxBytes int) *queue {
	return &queue{
		efd:      efd,
		gone:     make(chan struct{}),
		sigs:     ring[signal]{buf: make([]signal, size)},
		calls:    ring[*call]{buf: make([]*call, size)},
		maxBytes: maxBytes,
	}
}

// kick makes the eventfd readable, once, so that the loop dispatches the
// bridge's IO source. Called with mu held.
func (q *queue) kick() {
	if q.kicked {
		return
	}
	q.kicked = true
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	// Cannot fail: the counter is 0 whenever kicked is false.
	_, _ = unix.Write(q.efd, one[:])
}

// unkick resets the eventfd so that the IO source stops being pending.
// Called with mu held.
func (q *queue) unkick() {
	if !q.kicked {
		return
	}
	q.kicked = false
	var buf [8]byte
	_, _ = unix.Read(q.efd, buf[:])
}

// DeliverSignal implements dbus.SignalHandler. godbus calls it on its
// reader goroutine for every incoming signal, in the order they arrived.
// It never blocks: when the queue is full, by count or by bytes, the
// oldest waiting signals are dropped to make room; the newest is always
// kept, even alone over the byte bound.
func (q *queue) DeliverSignal(_, _ string, s *dbus.Signal) {
	size := signalSize(s)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return
	}
	if q.sigs.full() {
		q.dropSignal()
	}
	for q.sigs.n > 0 && q.sigBytes+size > q.maxBytes {
		q.dropSignal()
	}
	q.seq++
	q.sigs.push(signal{q.seq, size, s})
	q.sigBytes += size
	q.peak = max(q.peak, q.sigs.n)
	q.kick()
}

// dropSignal drops the oldest waiting signal. Called with mu held.
func (q *queue) dropSignal() {
	q.sigBytes -= q.sigs.pop().size
	q.dropped++
}

// Terminate implements dbus.Terminator. godbus calls it from Conn.Close,
// on whichever goroutine closes the connection: its reader goroutine when
// the bus went away, the goroutine watching the connection's context, or
// a caller of Close. Messages that arrived before are still dispatched;
// then the loop reports the end.
func (q *queue) Terminate() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead || q.disconnected {
		return
	}
	q.disconnected = true
	q.kick()
}

// errBusy and errGone are the D-Bus errors a caller gets when its call
// never reaches the loop.
var (
	errBusy = &dbus.Error{
		Name: "org.freedesktop.DBus.Error.LimitsExceeded",
		Body: []any{"busevent: too many method calls wait for the event loop"},
	}
	errGone = &dbus.Error{
		Name: "org.freedesktop.DBus.Error.Disconnected",
		Body: []any{"busevent: the bus was detached from its event loop"},
	}
	errPanic = &dbus.Error{
		Name: "org.freedesktop.DBus.Error.Failed",
		Body: []any{"busevent: the method panicked"},
	}
)

// errorResult makes the return values of a method of type t that fail
// with e: zero values, then e as the *dbus.Error.
func errorResult(t reflect.Type, e *dbus.Error) []reflect.Value {
	out := make([]reflect.Value, t.NumOut())
	for i := range out {
		out[i] = reflect.Zero(t.Out(i))
	}
	out[len(out)-1] = reflect.ValueOf(e)
	return out
}

// submit hands a method call to the loop and waits until the loop ran it.
// It runs on the godbus goroutine that handles the call, which sends the
// reply once submit returns.
func (q *queue) submit(fn reflect.Value, args []reflect.Value) []reflect.Value {
	c := &call{fn: fn, args: args, done: make(chan []reflect.Value, 1), size: callSize(args)}
	q.mu.Lock()
	switch {
	case q.dead || q.disconnected:
		q.mu.Unlock()
		return errorResult(fn.Type(), errGone)
	case q.calls.full() || q.calls.n > 0 && q.callBytes+c.size > q.maxBytes:
		q.refused++
		q.mu.Unlock()
		return errorResult(fn.Type(), errBusy)
	}
	q.seq++
	c.seq = q.seq
	q.calls.push(c)
	q.callBytes += c.size
	q.kick()
	gone := q.gone
	q.mu.Unlock()

	select {
	case out := <-c.done:
		return out
	case <-gone:
		return errorResult(fn.Type(), errGone)
	}
}

// take removes the message that reached the bridge first. When nothing
// is left it resets the eventfd, under the lock, so that no kick is lost,
// unless the connection is gone: then the eventfd stays readable until
// the loop has reported that. ok is false when there was nothing to take.
func (q *queue) take() (it item, ok, disconnected bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return item{}, false, false
	}
	switch {
	case q.sigs.n > 0 && (q.calls.n == 0 || q.sigs.front().seq < (*q.calls.front()).seq):
		s := q.sigs.pop()
		q.sigBytes -= s.size
		it, ok = item{sig: s.sig}, true
	case q.calls.n > 0:
		c := q.calls.pop()
		q.callBytes -= c.size
		it, ok = item{call: c}, true
	}
	if q.sigs.n == 0 && q.calls.n == 0 && !q.disconnected {
		q.unkick()
	}
	return it, ok, q.disconnected
}

// kill stops the queue for good: producers are turned away, waiting
// callers are released with errGone, and the eventfd is never written
// again (its owner may close it right after).
func (q *queue) kill() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return
	}
	q.dead = true
	q.efd = -1
	close(q.gone)
	q.sigs.clear()
	q.calls.clear()
	q.sigBytes, q.callBytes = 0, 0
}

func (q *queue) stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Stats{
		Signals:     q.sigs.n,
		Calls:       q.calls.n,
		SignalBytes: q.sigBytes,
		CallBytes:   q.callBytes,
		Peak:        q.peak,
		Dropped:     q.dropped,
		Refused:     q.refused,
	}
}

// run calls the method on the loop and hands the result to the waiting
// godbus goroutine. A panicking method still answers the caller (with
// org.freedesktop.DBus.Error.Failed) before the panic goes on up the loop.
func (c *call) run() {
	answered := false
	defer func() {
		if !answered {
			c.done <- errorResult(c.fn.Type(), errPanic)
		}
	}()
	var out []reflect.Value
	if c.fn.Type().IsVariadic() {
		out = c.fn.CallSlice(c.args)
	} else {
		out = c.fn.Call(c.args)
	}
	answered = true
	c.done <- out
}

// messageOverhead is what a queued message costs besides its values: the
// queue's entry, the message's struct and godbus's bookkeeping, roughly.
const messageOverhead = 128

// signalSize is what a signal counts against the byte bound: its header
// strings and its body's decoded values, as valueSize counts them.
func signalSize(s *dbus.Signal) int {
	n := messageOverhead + len(s.Sender) + len(s.Path) + len(s.Name)
	for _, v := range s.Body {
		n += valueSize(reflect.ValueOf(v))
	}
	return n
}

// callSize is what a method call counts against the byte bound: its
// decoded arguments, as valueSize counts them.
func callSize(args []reflect.Value) int {
	n := messageOverhead
	for _, v := range args {
		n += valueSize(v)
	}
	return n
}

// valueSize estimates the memory a value godbus decoded holds: strings
// and arrays of numbers by their length, numbers by their size, containers
// (arrays, maps, structs, variants) by the sum of their parts. It is an
// estimate of the Go memory, within a small factor of the wire size, and
// costs a walk of the message's containers, not of its byte arrays.
func valueSize(v reflect.Value) int {
	switch v.Kind() {
	case reflect.Invalid:
		return 0
	case reflect.String:
		return 16 + v.Len()
	case reflect.Slice, reflect.Array:
		n := 24
		if k := v.Type().Elem().Kind(); k >= reflect.Bool && k <= reflect.Float64 {
			return n + v.Len()*int(v.Type().Elem().Size())
		}
		for i := range v.Len() {
			n += valueSize(v.Index(i))
		}
		return n
	case reflect.Map:
		n := 48
		for it := v.MapRange(); it.Next(); {
			n += valueSize(it.Key()) + valueSize(it.Value())
		}
		return n
	case reflect.Struct:
		n := 0
		for i := range v.NumField() {
			n += valueSize(v.Field(i))
		}
		return n
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return 8
		}
		return 16 + valueSize(v.Elem())
	}
	return int(v.Type().Size())
}
