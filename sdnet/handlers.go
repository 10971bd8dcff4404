package sdnet

// ReadHandler is called on the loop with what one read(2) of the Conn
// returned: b, which is the Conn's own buffer and valid only during the
// call, and err nil; or, once, b empty and err io.EOF when the peer ended
// its side of the stream, or an error wrapping the errno of a failed read
// (ECONNRESET, say). After io.EOF or an error the Conn reads no more;
// writing goes on (a half-closed peer may still read the answer).
type ReadHandler func(c *Conn, b []byte, err error)

// CloseHandler is called once, when the Conn's descriptor has been closed,
// with the error that ended the Conn: a write error (wrapping EPIPE,
// ECONNRESET, ...), or nil when the program ended it (Close once the queue
// was written, Abort, or freeing the loop). It may run inside Write, Close
// or Abort.
type CloseHandler func(c *Conn, err error)

// AcceptHandler is called on the loop with each connection a Listener
// accepted, as a Conn that is the handler's: it keeps it and closes it
// later, or closes it now. A Conn nobody closes stays open, idle, until the
// loop is freed.
//
// The handler gets a Conn rather than a net.Conn because a net.Conn's
// methods block the goroutine that calls them, and on the loop that would
// stop every other source; a Conn never blocks. Conn.NetConn turns it into
// a net.Conn for a goroutine of its own.
type AcceptHandler func(l *Listener, c *Conn)
