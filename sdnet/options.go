package sdnet

import (
	"log/slog"
)

// Options tune Listeners and Conns; a nil *Options is the zero value, which
// means the defaults. The options of a Listener apply to the Conns it
// accepts.
type Options struct {
	// WriteLimit is the most bytes a Conn holds for its peer: the bytes a
	// Write queued and the kernel did not take yet. A Write that would
	// go past it fails with ENOBUFS and queues nothing. 0 means 1 MiB;
	// negative is EINVAL.
	WriteLimit int
	// ReadBuffer is the size of the buffer a Conn reads into, and so the
	// most a ReadHandler sees at once. 0 means 16 KiB; negative is EINVAL.
	ReadBuffer int
	// Logger receives what a Listener reports: a pause of accepting at
	// warning level, an accept error that stopped it at error level. nil
	// means the loop's (*sdevent.Event).Logger, which is silent unless
	// SetLogger gave it one.
	Logger *slog.Logger
}

const (
	defaultWriteLimit = 1 << 20
	defaultReadBuffer = 16 << 10
)

// withDefaults returns o with its zero fields set to their defaults, and
// whether o is valid.
func (o *Options) withDefaults() (Options, bool) {
	var v Options
	if o != nil {
		v = *o
	}
	if v.WriteLimit < 0 || v.ReadBuffer < 0 {
		return v, false
	}
	if v.WriteLimit == 0 {
		v.WriteLimit = defaultWriteLimit
	}
	if v.ReadBuffer == 0 {
		v.ReadBuffer = defaultReadBuffer
	}
	return v, true
}
