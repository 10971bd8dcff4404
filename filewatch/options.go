package filewatch

import "time"

// Handler is called on the loop once per burst of changes of the file,
// with whether the file exists now (whether its path resolves, following
// symbolic links) and a nil error; or once, last, with exists false and an
// error wrapping ENOENT when the directory went away and the watch
// stopped.
type Handler func(w *Watcher, exists bool, err error)

// Options tune a Watcher; a nil *Options means the defaults.
type Options struct {
	// Delay is how long the directory must be quiet for a burst to end:
	// the Handler runs Delay after the last event. 0 means 100 ms;
	// negative is EINVAL.
	Delay time.Duration
	// MaxDelay bounds how long a burst that never quiets down delays the
	// Handler, from its first event. 0 means ten times Delay; negative
	// or less than Delay is EINVAL.
	MaxDelay time.Duration
}

const defaultDelay = 100 * time.Millisecond

// durations returns Delay and MaxDelay with their defaults, and whether
// they are valid.
func (o *Options) durations() (delay, maxDelay time.Duration, ok bool) {
	if o != nil {
		delay, maxDelay = o.Delay, o.MaxDelay
	}
	if delay == 0 {
		delay = defaultDelay
	}
	if delay < 0 || maxDelay < 0 || maxDelay != 0 && maxDelay < delay {
		return 0, 0, false
	}
	if maxDelay == 0 {
		maxDelay = 10 * delay
	}
	return delay, maxDelay, true
}
