// Package sdnet puts sockets on a go-sdevent loop the way a Go program holds
// them: a net.Listener, a net.Conn or an *os.File goes on the loop in one
// call, accepted connections arrive as a Conn with a bounded, non-blocking
// write queue and a read callback, and socket activation hands back such
// listeners. It is built on the public API of package sdevent alone: each
// Listener and Conn is an IO source of the loop, and no goroutine is started
// for either.
//
// # Ownership
//
// A constructor that succeeds takes its argument over: NewListener the
// net.Listener, NewFileListener and NewFileConn the *os.File, NewConn the
// net.Conn. The program must neither use nor close it afterwards; the
// Listener or Conn closes it, once, through its own Close method (so that
// the file of a unix socket that net.Listen made is removed, as
// net.Listener.Close removes it). A constructor that fails takes nothing
// over: the argument stays the caller's, unchanged.
//
// The descriptor itself is used where it is: no dup(2), and no call of
// os.File.Fd, which would switch a file to blocking mode. The descriptor
// comes from SyscallConn().Control. Sockets of package net are non-blocking
// already; a file given to NewFileListener or NewFileConn is made
// non-blocking (O_NONBLOCK belongs to the open file description, so every
// descriptor of it sees the change).
//
// A Conn accepted by a Listener owns the descriptor accept4(2) returned
// (SOCK_NONBLOCK, SOCK_CLOEXEC).
//
// Listeners and Conns belong to their loop as floating sources do (see
// sd_event_source_set_floating(3)): they do not keep the loop alive, and
// freeing the loop closes every one still open, each descriptor exactly
// once (a Conn's close handler runs then). Closing them first is the
// normal way; Close after the loop was freed does nothing.
//
// A descriptor always leaves the loop's epoll set before it is closed, so
// that a duplicate held elsewhere (a child's, say) cannot leave a stale
// registration behind.
//
// # Threading
//
// Listeners and Conns belong to the goroutine of their loop, as sources do.
// The one door from other goroutines is the loop's Invoke. The hybrid pattern,
// a goroutine per connection, is opt-in: Conn.NetConn hands a connection
// from the loop to Go's own poller as a net.Conn, and the goroutine that
// serves it reaches loop state through (*sdevent.Event).Invoke (see the
// example).
//
// # Errors
//
// Errors wrap a unix.Errno, matched with errors.Is: EINVAL for a bad
// argument (a socket that is not listening, a negative option), EPROTOTYPE
// for a socket that is not a stream socket, ENOBUFS for a Write past a
// Conn's limit, EPIPE or ECONNRESET for a peer that went away. Writes on a
// closed Conn return an error that matches both net.ErrClosed and EBADF.
//
// Accepting never switches a Listener off for good on a temporary failure.
// accept4's EAGAIN, EINTR, ECONNABORTED and the network errors accept(2)
// says to treat like EAGAIN are skipped. Running out of descriptors or
// memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) pauses the Listener and logs a
// warning: its IO source is switched off and a timer switches it back on
// after 5 ms, doubling up to 1 s while the failure lasts, so the loop neither spins
// on a readable socket it cannot accept from nor forgets it. Any other
// accept4 error is logged and returned from the IO handler, which switches
// the source off as a failing handler does (sd_event_add_io(3)).
//
// The package needs Linux. Elsewhere it compiles, as package sdevent
// does, and every call that returns an error returns one for which
// errors.Is(err, errors.ErrUnsupported) holds.
package sdnet
