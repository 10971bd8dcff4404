// Package exitcode holds the exit status vocabulary of systemd: the status a
// process exits with, its symbolic name, and the mapping from what an event
// loop, an error or a reaped child reports to the status to exit with.
//
// It is a leaf package: pure data and arithmetic, no system calls, no imports
// beyond the standard library. It does not import the root sdevent package.
//
// # The table
//
// [Code] is an exit status. The named constants are systemd's table
// (src/basic/exit-status.h and .c, now src/shared/): the two codes of ISO C
// (0 and 1), the LSB codes for the "start" verb of init scripts (2..7), the
// BSD sysexits.h codes (64..78), the codes with which the service manager's
// child exits when setting up the execution environment fails (200 and up,
// before execve ever ran) and 255, which systemd uses to pass on a death by
// signal that one byte cannot express.
//
// [Code.String] gives the name the service manager logs for a unit's process
// ("status=203/EXEC"); [Lookup] goes back from a name; [Code.Class] tells
// which of the four families a code belongs to. The codes 223 and 234 are
// retired and stay unnamed, as upstream keeps them.
//
// # Mapping
//
//   - [FromLoop] turns the (code, err) pair of (*sdevent.Event).Loop into the
//     status a daemon's main passes to os.Exit.
//   - [FromError] turns an error alone into a status.
//   - [FromChild] turns a reaped child's CLD_* code and status, as in
//     siginfo_t and sdevent's ChildInfo, into the status a shell reports.
//
// All functions are pure and safe for concurrent use.
//
// # Errors
//
// Negative numbers and errors all become [Failure], as systemd's own tools do
// (src/shared/main-func.h). The errno an error carries is deliberately not
// translated into an LSB code: systemd has no such table, and the LSB codes
// describe the outcome of an init script's start verb, not a system call.
// A program that wants NotConfigured or NoPermission says so itself, with
// (*sdevent.Event).Exit(int(exitcode.NotConfigured)).
//
// # Differences from C
//
// In C, returning an int from main or passing it to exit(3) keeps the low
// eight bits: exit(-5) yields 251 and exit(256) yields 0, success. [FromLoop]
// instead reports Failure for every code outside 0..255, so that an error
// code can never turn into success.
//
// [FromChild] reports death by signal n as 128+n, as shells do. systemd's own
// propagators (systemd-run --wait, the stub init of systemd-nspawn) report
// [Exception] for every such death instead.
package exitcode
