package sdevent

// Error is what every failing call of this package returns: the operation
// that failed and why. On Linux, Err is, or wraps, the unix.Errno that
// sd-event returns in the same situation, so errors.Is(err, unix.EBUSY)
// holds exactly where sd-event would return -EBUSY. Elsewhere Err wraps
// errors.ErrUnsupported.
type Error struct {
	Op  string // "add io", "set enabled", "prepare", ...
	Err error
}

func (e *Error) Error() string { return "sdevent: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause: a unix.Errno or an error wrapping one, or off
// Linux an error wrapping errors.ErrUnsupported.
func (e *Error) Unwrap() error { return e.Err }

func opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Err: err}
}
