package busevent

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/priority"
	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// The defaults of the options.
const (
	DefaultBatch      = 16       // messages handled per dispatch
	DefaultQueueLen   = 1024     // signals, and method calls, that may wait for the loop
	DefaultQueueBytes = 16 << 20 // bytes of signals, and of method calls, that may wait for the loop
)

// ErrDisconnected is what the close callback gets when the connection
// ended without Close: the bus daemon went away, the connection's context
// ended, or someone closed the connection directly. When the context
// passed to godbus with dbus.WithContext ended with a cause other than
// context.Canceled, the error wraps that cause too.
var ErrDisconnected = errors.New("busevent: disconnected from the bus")

// Dialer makes a connection with the options it is given; it must pass
// all of them on to godbus. dbus.ConnectSessionBus and
// dbus.ConnectSystemBus are Dialers; for an address, wrap dbus.Connect:
//
//	func(opts ...dbus.ConnOption) (*dbus.Conn, error) {
//		return dbus.Connect("unix:path=/run/my.sock", opts...)
//	}
//
// The connection must be ready to use (authenticated, Hello sent), as
// dbus.Connect returns it.
type Dialer func(opts ...dbus.ConnOption) (*dbus.Conn, error)

// An Option changes a default of Attach.
type Option func(*config)

type config struct {
	priority   priority.Priority
	batch      int
	queueLen   int
	queueBytes int
}

// WithPriority sets the priority of the bridge's IO source, priority.Normal
// by default (sd_bus_attach_event's priority argument). Messages of a
// bridge with a lower value are dispatched before those of one with a
// higher value, and before the loop's other sources of higher value.
func WithPriority(p priority.Priority) Option {
	return func(c *config) { c.priority = p }
}

// WithBatch sets how many messages, signals and method calls together,
// one dispatch of the bridge handles at most (DefaultBatch). n must be
// positive.
func WithBatch(n int) Option {
	return func(c *config) { c.batch = n }
}

// WithQueueLen bounds the queues between godbus and the loop
// (DefaultQueueLen): at most n signals, and at most n method calls, wait
// for the loop. A signal that arrives to a full queue pushes out the
// oldest waiting one; a method call that arrives to a full queue is
// answered with org.freedesktop.DBus.Error.LimitsExceeded. n must be
// positive.
func WithQueueLen(n int) Option {
	return func(c *config) { c.queueLen = n }
}

// WithQueueBytes bounds the queues between godbus and the loop by size
// too (DefaultQueueBytes): at most n bytes of signals, and at most n
// bytes of method calls, wait for the loop, counted as the decoded
// messages hold them (strings and arrays by their length, numbers by
// their size, plus about a hundred bytes per message). What happens at
// the bound is what happens at WithQueueLen's: a signal pushes out the
// oldest waiting ones until it fits, and a method call that does not fit
// is answered with org.freedesktop.DBus.Error.LimitsExceeded. One message
// alone is always taken, however large (the bus daemon bounds its size:
// its max_message_size, 32 MiB by default on the system bus), so that a
// signal or call larger than n is not lost for good. n must be positive.
func WithQueueBytes(n int) Option {
	return func(c *config) { c.queueBytes = n }
}

// Stats is a snapshot of a bridge's queues.
type Stats struct {
	Signals     int    // signals waiting for the loop now
	Calls       int    // method calls waiting for the loop now
	SignalBytes int    // bytes of the signals waiting now, as WithQueueBytes counts them
	CallBytes   int    // bytes of the method calls waiting now, as WithQueueBytes counts them
	Peak        int    // the most signals that ever waited at once; never above the queue length
	Dropped     uint64 // signals pushed out of a full queue, oldest first
	Refused     uint64 // method calls answered with LimitsExceeded because the call queue was full
}

// Bus is a D-Bus connection attached to an event loop. Its methods belong
// to the loop's goroutine, except Conn, Stats, Export,
// ExportMethodTable, RequestName and ReleaseName, which any goroutine may
// call.
type Bus struct {
	conn  *dbus.Conn
	q     *queue
	batch int

	// Loop goroutine only.
	input    *sdevent.Source
	exit     *sdevent.Source
	onSignal func(*dbus.Signal)
	onClose  func(error)
}

// Attach connects to a bus with dial and attaches the connection to the
// loop e, the analogue of sd_bus_attach_event. Incoming signals and
// method calls of exported objects are handled on e's goroutine, in a
// dispatch of the bridge's IO source at the priority of WithPriority, at
// most WithBatch of them per dispatch. When e exits, an exit source
// closes the bus, as sd-bus does.
//
// Attach must be called on the loop's goroutine; it blocks while dial
// connects. Unlike sd_bus_attach_event, it makes the connection itself:
// the bridge has to receive godbus's signals through a signal handler of
// its own (dbus.WithSignalHandler), which godbus only accepts when a
// connection is made. So dial must apply the options it is given, and no
// signal handler of its own (Attach fails when dial ignored them); and
// signals are to be received with OnSignal, never with Conn().Signal,
// which panics.
//
// Errors: a nil e or dial, a batch, queue length or queue bytes below 1,
// or a dial that did not apply its options EINVAL;
// a finished loop ESTALE; otherwise the error of dial.
func Attach(e *sdevent.Event, dial Dialer, opts ...Option) (*Bus, error) {
	cfg := config{priority: priority.Normal, batch: DefaultBatch, queueLen: DefaultQueueLen, queueBytes: DefaultQueueBytes}
	for _, o := range opts {
		o(&cfg)
	}
	if e == nil || dial == nil || cfg.batch < 1 || cfg.queueLen < 1 || cfg.queueBytes < 1 {
		return nil, fmt.Errorf("busevent: attach: %w", unix.EINVAL)
	}
	efd, err := newEventfd()
	if err != nil {
		return nil, fmt.Errorf("busevent: attach: create eventfd: %w", err)
	}
	b := &Bus{q: newQueue(efd, cfg.queueLen, cfg.queueBytes), batch: cfg.batch}
	b.input, err = e.AddIO(efd, epollIn, b.dispatch)
	if err != nil {
		_ = unix.Close(efd) // never handed out; the AddIO error is the news
		return nil, fmt.Errorf("busevent: attach: %w", err)
	}
	if err := b.setup(e, cfg.priority); err != nil {
		b.release()
		return nil, fmt.Errorf("busevent: attach: %w", err)
	}

	var applied atomic.Bool
	conn, err := dial(func(c *dbus.Conn) error {
		applied.Store(true)
		return dbus.WithSignalHandler(b.q)(c)
	})
	if err != nil {
		b.release()
		return nil, fmt.Errorf("busevent: attach: %w", err)
	}
	if !applied.Load() {
		_ = conn.Close() // the refusal is the error to report
		b.release()
		return nil, fmt.Errorf("busevent: attach: dial did not apply the options it was given: %w", unix.EINVAL)
	}
	b.conn = conn
	return b, nil
}

// setup finishes the IO source and adds the exit source.
func (b *Bus) setup(e *sdevent.Event, p priority.Priority) error {
	if err := b.input.SetIOFdOwn(true); err != nil {
		return err
	}
	if err := b.input.SetPriority(p); err != nil {
		return err
	}
	if err := b.input.SetDescription("bus-input"); err != nil {
		return err
	}
	var err error
	b.exit, err = e.AddExit(func(*sdevent.Source) error {
		_ = b.Close() // the loop is exiting: no one is left to tell
		return nil
	})
	if err != nil {
		return err
	}
	return b.exit.SetDescription("bus-exit")
}

// Conn returns the connection, for everything the bridge does not wrap:
// AddMatchSignal, Emit, Object(...).Call. It may be called
// from any goroutine. A blocking call made with it on the loop's
// goroutine blocks the loop until the reply came; it must never call a
// method the bridge itself exports, which could then never run.
func (b *Bus) Conn() *dbus.Conn { return b.conn }

// Source returns the bridge's IO source, nil once the bridge was closed,
// for SetPriority, SetRatelimit, SetEnabled and the like. The bridge
// owns it: do not Unref it; Close frees it.
func (b *Bus) Source() *sdevent.Source { return b.input }

// Stats returns a snapshot of the bridge's queues. It may be called from
// any goroutine.
func (b *Bus) Stats() Stats { return b.q.stats() }

// OnSignal sets the function that handles incoming signals, nil to drop
// them. It runs on the loop's goroutine, for every signal the connection
// receives, in the order the connection received them, including those
// the bus daemon sends to every connection (org.freedesktop.DBus.NameAcquired
// and the like). The daemon routes broadcast signals to the connection
// only if it asked for them: call Conn().AddMatchSignal first.
func (b *Bus) OnSignal(h func(*dbus.Signal)) { b.onSignal = h }

// OnClose sets the function told, on the loop's goroutine, that the
// connection ended without Close (the error wraps ErrDisconnected). It
// runs once, after every message received before the end was handled,
// and after the bridge has freed its sources and closed the connection.
func (b *Bus) OnClose(h func(err error)) { b.onClose = h }

// Close frees the bridge's sources and closes the connection, which ends
// godbus's goroutines. Method calls waiting for the loop are answered
// with org.freedesktop.DBus.Error.Disconnected and waiting signals are
// dropped. The close callback does not run. Close is idempotent and
// belongs to the loop's goroutine; from another goroutine, close the
// connection (the close callback then runs) or use Invoke.
func (b *Bus) Close() error {
	b.release()
	return b.conn.Close()
}

// release stops the queue and frees the sources; the eventfd, which the
// IO source owns, is closed with it. A source switched off first is out
// of epoll even if someone kept a reference to it.
func (b *Bus) release() {
	b.q.kill()
	if b.input != nil {
		b.input.DisableUnref()
		b.input = nil
	}
	if b.exit != nil {
		b.exit.DisableUnref()
		b.exit = nil
	}
}

// dispatch is the IO handler: it handles at most batch messages, oldest
// first. While more wait, the eventfd stays readable, so the source is
// pending again in the next iteration, behind what became pending
// meanwhile at its priority.
func (b *Bus) dispatch(*sdevent.Source, int, uint32) error {
	for range b.batch {
		it, ok, disconnected := b.q.take()
		if !ok {
			if disconnected {
				b.disconnect()
			}
			return nil
		}
		switch {
		case it.call != nil:
			it.call.run()
		case b.onSignal != nil:
			b.onSignal(it.sig)
		}
		if b.input == nil { // a handler closed the bus
			return nil
		}
	}
	return nil
}

// disconnect reports the end of the connection, once everything received
// before it was handled.
func (b *Bus) disconnect() {
	err := ErrDisconnected
	if cause := context.Cause(b.conn.Context()); cause != nil && !errors.Is(cause, context.Canceled) {
		err = fmt.Errorf("%w: %w", ErrDisconnected, cause)
	}
	b.release()
	_ = b.conn.Close() // gone already; onClose gets the reason
	if b.onClose != nil {
		b.onClose(err)
	}
}
