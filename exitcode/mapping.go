package exitcode

// The si_code values of a SIGCHLD siginfo_t, from Linux's
// <asm-generic/siginfo.h>; neither syscall nor x/sys/unix defines them.
const (
	cldExited    = 1 // CLD_EXITED: exited; status is the exit status
	cldKilled    = 2 // CLD_KILLED: killed; status is the signal
	cldDumped    = 3 // CLD_DUMPED: killed and dumped core; status is the signal
	cldTrapped   = 4 // CLD_TRAPPED: traced child trapped
	cldStopped   = 5 // CLD_STOPPED: stopped
	cldContinued = 6 // CLD_CONTINUED: continued after a stop
)

// maxSignal is the highest signal whose death 128+n can express in one byte.
const maxSignal = 255 - 128

// FromLoop returns the status a process should exit with after an event loop
// returned code and err, as (*sdevent.Event).Loop does:
//
//	os.Exit(int(exitcode.FromLoop(e.Loop())))
//
// A non-nil err gives what [FromError] gives: Failure. A code in 0..255 is
// the status. Any other code is Failure: sd-event programs commonly exit with
// a negative errno (sd_event_exit(e, -EIO)), which systemd's tools map to
// EXIT_FAILURE (src/shared/main-func.h). Unlike exit(3) in C, which keeps the
// low eight bits and so turns -5 into 251 and 256 into 0, FromLoop never lets
// a code outside 0..255 become another status, least of all success.
func FromLoop(code int, err error) Code {
	if err != nil {
		return FromError(err)
	}
	if code < 0 || code > 255 {
		return Failure
	}
	return Code(code)
}

// FromError returns Success for a nil err and Failure for any other. Like
// systemd's main functions (src/shared/main-func.h) it does not look at the
// errno err may wrap: systemd maps every negative errno to EXIT_FAILURE and
// has no errno-to-LSB table, so neither does this package.
func FromError(err error) Code {
	if err == nil {
		return Success
	}
	return Failure
}

// FromChild returns the status a shell reports for a child that the kernel
// describes by the CLD_* value code and status, the fields si_code and
// si_status of siginfo_t (and of sdevent's ChildInfo). ok is false when code
// does not describe a termination.
//
//   - CLD_EXITED: the exit status, its low eight bits as the kernel keeps them.
//   - CLD_KILLED, CLD_DUMPED: 128 plus the signal, as POSIX shells report it
//     (SIGTERM gives 143). A signal outside 1..127, which 128+n cannot
//     express, gives Exception, systemd's status for such ends.
//   - CLD_STOPPED, CLD_TRAPPED, CLD_CONTINUED and unknown values: 0 and
//     ok false; the child still runs, or may.
//
// systemd's own propagators (systemd-run --wait in src/run/run.c, the stub
// init in src/nspawn/nspawn-stub-pid1.c) give Exception for every death by
// signal instead of 128+n.
func FromChild(code, status int) (c Code, ok bool) {
	switch code {
	case cldExited:
		return Code(status & 0xff), true
	case cldKilled, cldDumped:
		if status < 1 || status > maxSignal {
			return Exception, true
		}
		return Code(128 + status), true
	case cldTrapped, cldStopped, cldContinued:
		// Not an end: the child is stopped, or runs on.
	}
	return 0, false
}
