// Package sys holds the raw Linux system calls of the loop that x/sys/unix
// does not wrap the way the loop needs them: epoll_pwait2 with a nanosecond
// timeout that never ends early, zero-timeout polls without the scheduler
// hand-off, and cheap clock reads.
//
// It builds only on Linux.
package sys
