// Package busevent drives a godbus connection (github.com/godbus/dbus/v5)
// from an sdevent loop, the way sd_bus_attach_event attaches an sd-bus
// connection to sd-event in C: signals the connection receives, and
// method calls on objects it exports, are handled on the loop's
// goroutine, in dispatches of an IO source at a priority of the caller's
// choosing, so that handlers can touch the loop and its sources without
// locks.
//
//	b, err := busevent.Attach(e, dbus.ConnectSessionBus, busevent.WithPriority(priority.Important))
//	b.OnSignal(func(s *dbus.Signal) { ... })   // on the loop
//	b.Export(obj, "/org/example/Obj", "org.example.Obj") // methods run on the loop
//	b.RequestName("org.example.Obj", dbus.NameFlagDoNotQueue) // EEXIST if taken
//	b.OnClose(func(err error) { e.Exit(1) })    // the bus went away
//
// # How messages reach the loop
//
// godbus reads the connection on a goroutine of its own and cannot be
// driven from outside: it has no "process one message" call like
// sd_bus_process, and its socket is not exposed. So the bridge does not
// poll the connection's socket. It sits between godbus's goroutines and
// the loop instead: godbus hands it each signal (on its reader goroutine)
// and each call of an exported method (on the goroutine it starts per
// call); the bridge appends them to a bounded queue and makes an eventfd
// readable; the loop watches that eventfd with an ordinary, level-triggered
// IO source. The bridge starts no goroutine of its own.
//
// Each dispatch of that source handles at most WithBatch messages
// (DefaultBatch, 16), oldest first. While more wait, the eventfd stays
// readable, and sd-event's rules do the rest: one dispatch per iteration;
// among pending sources the lowest priority value first, and among equals
// the one pending longest. So a flood on the bus cannot starve the loop: a
// timer of the same priority that became due is dispatched before the
// bridge's next batch, a source of higher priority (lower value) always
// first, and of two bridges the one with the lower value has its messages
// handled first. Sources of a lower priority (higher value) do wait for
// the flood to end, as sd-event's priorities say they should. The source
// is Source(): SetPriority, SetRatelimit, SetEnabled(source.Off) to pause
// the bus work the same as for any other source.
//
// Signals are handled in the order the connection received them (godbus
// numbers them in dbus.Signal.Sequence). Method calls are run one at a
// time in the order they reached the bridge, interleaved with signals in
// that order; since godbus hands each call to a new goroutine, two calls
// that arrive close together may reach the bridge, and so run, in either
// order.
//
// # Flood policy: bounded, dropping the oldest signals
//
// Memory stays bounded whatever the bus sends: at most WithQueueLen
// (DefaultQueueLen, 1024) signals and as many method calls wait for the
// loop, and at most WithQueueBytes (DefaultQueueBytes, 16 MiB) of signals
// and as much of method calls, so that large messages cannot make the
// count bound hold hundreds of megabytes. A signal that arrives to a
// full queue pushes out the oldest waiting ones until it fits (one
// message alone is always taken, however large); Stats reports how many
// were dropped (and the most that ever waited, never above the bound).
// The alternatives were worse:
//
//   - godbus's own delivery is not bounded. Its default signal handler
//     sends to the channels given to Conn.Signal without blocking and,
//     when a channel is full, starts a goroutine per signal to send it
//     later, so a flood costs a goroutine per signal and later signals
//     can overtake earlier ones; its sequential handler keeps a queue
//     that grows without limit. Either way the bridge could not promise
//     order or bounded memory, which is why it installs its own signal
//     handler and therefore makes the connection itself (see Attach).
//   - Blocking godbus's reader goroutine when the queue is full (back
//     pressure) would keep every signal, but that goroutine also reads
//     the replies to the calls the program makes: a loop handler that
//     makes a blocking call while the queue is full would wait for a
//     reply that can never be read, and the loop would hang. The bus
//     daemon itself drops messages to a connection that does not keep up
//     (its max_outgoing_bytes limit), so D-Bus signals are lossy under
//     pressure anyway.
//   - Of the two ways to drop, the oldest goes: signals mostly announce
//     state (PropertiesChanged, NameOwnerChanged), and after a flood the
//     newest announcements are the ones that are still true.
//
// Method calls are never dropped silently, since their callers wait for a
// reply: a call that finds the call queue full, by count or by bytes, is
// answered at once with org.freedesktop.DBus.Error.LimitsExceeded.
//
// # Method calls and their replies
//
// Export and ExportMethodTable take what dbus.Conn.Export and
// ExportMethodTable take, and register with godbus, for each method, a
// function of the same type that queues the call to the loop and waits.
// godbus decodes the arguments on its per-call goroutine, the loop runs
// the method (state Running, like any handler), and the per-call
// goroutine then sends the reply, or the *dbus.Error the method returned.
// godbus leaves no other choice: it sends the reply itself as soon as the
// method returns. The loop never writes replies, which is as well: godbus
// writes synchronously, with no queue like sd-bus's, so a loop that wrote
// replies would stall whenever the bus was slow to read them. Signals
// the loop emits through Conn().Emit are written by the loop's goroutine.
//
// # The end of the connection
//
// When the connection ends by itself (the bus daemon went away, the
// context given with dbus.WithContext ended, someone called Conn().Close)
// the messages received before are handled, then the bridge frees its
// sources and calls the OnClose function on the loop's goroutine with an
// error wrapping ErrDisconnected. Close detaches and closes the
// connection at once, without that callback; when the loop exits, an
// exit source of the bridge does the same, as sd-bus's does. Either way
// godbus's goroutines end soon after: the bridge leaves none behind.
//
// # Threads
//
// Attach, OnSignal, OnClose, Source and Close belong to the loop's
// goroutine, like the loop itself. Conn, Stats, Export,
// ExportMethodTable, RequestName and ReleaseName may be called from any
// goroutine. The handlers given
// to OnSignal and OnClose and exported methods run on the loop's
// goroutine only. The queue is the one piece of state that godbus's
// goroutines and the loop share, and a mutex guards it; no lock is held
// while user code runs.
//
// # Differences from sd_bus_attach_event
//
//  1. Attach makes the connection (from a Dialer) instead of taking a
//     made one: godbus accepts the bridge's signal handler only then.
//  2. The loop watches an eventfd fed by godbus's goroutines, not the
//     connection's socket; reading, decoding and writing happen on
//     godbus's goroutines.
//  3. A bounded queue stands between the connection and the loop, and
//     signals beyond it are dropped, oldest first. sd-bus reads only as
//     fast as it processes and fails the connection (ENOBUFS) when its
//     read queue passes 384 Ki messages.
//  4. A dispatch handles up to WithBatch messages; sd-bus's handles one.
//  5. sd-bus reports the end of a connection as a
//     org.freedesktop.DBus.Local.Disconnected signal; here OnClose does.
package busevent
