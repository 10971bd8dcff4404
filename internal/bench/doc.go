// Package bench runs the team's reference workloads (shared/reference/sdbench.c)
// on three contenders in one process and one run, and compares them:
//
//   - go-sdevent, through its public API, with the logic of sdbench.c;
//   - libsystemd's sd-event itself, the C original, through a small cgo
//     harness built only with the build tag libsystemd (and cgo);
//   - the idiomatic Go way: goroutines and channels, os.File reads parked in
//     the runtime's netpoller, time.AfterFunc and time.Timer, os/signal,
//     and exec.Cmd with cmd.Wait in a goroutine per child.
//
// # Workloads
//
// The seven workloads and their counts are those of sdbench.c, each count
// divided by Config.Div (sdbench's second argument), never below 1:
//
//	defer         2,000,000  one dispatch of an ON defer source
//	io_idle0        500,000  eventfd ping-pong: poll, dispatch, read, write
//	io_idle10000    500,000  the same with 10,000 idle IO sources registered
//	timers          200,000  one-shot timers spread over 200ms, accuracy 1µs:
//	                         timers_add (adding one) and timers_total (adding
//	                         and dispatching all, per timer)
//	timer_rearm     500,000  a timer re-armed for 0 in its own handler
//	signal          200,000  SIGUSR1 sent to self from its handler
//	children          1,000  children blocked on one pipe, released at once by
//	                         closing it: time per exit noticed, dispatched, reaped
//
// and three that sdbench.c does not have:
//
//	pingpong         50,000  round trips with a peer process: see below
//	proxy_conn       10,000  short connections through a proxy in a peer
//	                         process: see below
//	proxy_bulk        1,024  MiB through the same proxy on one connection
//
// The timers' deadlines come from one linear congruential generator in Go
// and in C (not glibc's rand), so every contender gets the same deadlines.
//
// # Pingpong
//
// The pingpong workload is a request and its response between two
// processes, where the loop blocks in every iteration (what the timers and
// IO workloads above, run in one process, mostly avoid). This process and
// a peer, the same executable started again with SDEVENT_BENCH_PEER set
// (see Peer; the C contender's peer runs its loop through the cgo harness),
// share an AF_UNIX SOCK_SEQPACKET socketpair, non-blocking; SEQPACKET keeps
// message boundaries, so one read is one whole message. An operation is one
// 64-byte message each way: this end sends, its loop waits, reads the reply
// and sends the next; the peer's loop waits, reads and sends it back. Both
// ends are the same contender: sd-event loops with one IO source (C),
// go-sdevent loops with one IO source, or a goroutine reading a net.Conn,
// parked in the netpoller (idiomatic). The peer says when it is ready, and
// the clock starts after that, so its start-up is not timed.
//
// It yields three rows: pingpong, the mean time of a round trip over the
// run (the median of those over the rounds, as everywhere); pingpong_cpu,
// the user and system time of both processes per round trip (this
// process's getrusage over its end, the peer's over its end, which the
// peer sends back); pingpong_csw, the context switches of both processes,
// voluntary and involuntary, per round trip, from the same getrusage
// calls. The peer runs with this process's GOMAXPROCS (it checks) and
// inherits its CPU affinity. The C contender's peer is a Go process too:
// its runtime's threads (sysmon) are idle but counted.
//
// # Proxy
//
// The proxy workloads port systemd-socket-proxyd's way of proxying, on
// each contender, into a peer process (see Peer; its variable names the
// workload): the peer inherits a listening TCP socket on 127.0.0.1 from
// this process (its descriptor 4, made non-blocking by the proxy, as
// socket-proxyd does with its sockets), and for each connection it accepts
// it connects to a backend in this process, without blocking, and once
// connected moves the bytes both ways with splice(2) (SPLICE_F_MOVE,
// SPLICE_F_NONBLOCK) through a pipe per direction of 256 KiB
// (F_SETPIPE_SZ). Each handler splices both directions for as long as
// bytes move, then sets each socket's events from the pipes: EPOLLIN
// while the pipe it feeds has room, EPOLLOUT while the pipe it drains has
// bytes. A side that reads end of file, or hangs up, is closed; the
// connection is closed once both sides are, or one is and what it sent
// went through. The peer exits once it has proxied the workload's
// connections. Unlike socket-proxyd, an error fails the run instead of
// dropping the connection, and there is no connection limit, idle timer or
// name resolution.
//
// The go-sdevent proxy is one loop with an IO source per socket (and one
// for the connect, ONESHOT, freed in its handler), whose events follow
// the pipes through SetIOEvents; the C one is the same on sd-event
// (libsystemd_linux.c); the idiomatic one has a goroutine per connection,
// which dials the backend, and a goroutine per direction running io.Copy
// from one *net.TCPConn to the other, which splices through a pipe of the
// runtime's pool, and closes both connections once a direction ends.
//
// This process is the client and the backend, the same for every
// contender: blocking net calls (parked in its netpoller), the client in
// the calling goroutine and the backend in another. proxy_conn makes its
// connections one after the other: the client connects to the proxy,
// sends a 64-byte request (which says which connection it is), reads the
// response and closes; the backend accepts the proxy's connection, reads
// the request, sends it back and closes; the client checks the response.
// proxy_bulk is an upload: on one connection the client sends the count
// in MiB (a MiB of pseudo-random bytes again and again) and closes, and
// the backend reads to the end, checking every byte and the total. One
// direction is the usual case of a proxy's bulk transfer (a download or
// an upload), and makes every byte cross the proxy once: its rows are per
// MiB that crossed it. The other direction's pipe stays empty, and its
// socket watched for EPOLLIN, as socket-proxyd's would be.
//
// Each yields three rows: proxy_conn or proxy_bulk, the time from the
// first connect to the last response read, or to the backend's end of
// file, per connection or per MiB; _cpu, the proxy process's user and
// system time per connection or MiB, and _csw, its context switches,
// voluntary and involuntary, from its getrusage(RUSAGE_SELF) from just
// before it says it is ready to the end of its proxy, which it sends
// back. Both are of the whole process: a Go peer's runtime threads (sysmon,
// the garbage collector's) count, for the C contender too, whose peer is a
// Go process running the proxy in one cgo call. The peer runs with this
// process's GOMAXPROCS and inherits its CPU affinity; a peer that has not
// finished after a minute and a millisecond per connection (or ten per
// MiB) is killed, which ends the client's and the backend's waits.
//
// # Floor
//
// The floor section runs io_idle0's system calls without a loop, on the
// contenders that implement FloorMeter (go-sdevent's side through
// x/sys/unix, yielding to the scheduler as the loop does; C's in the cgo
// harness): the cost of the kernel's part and of each language's way into
// it, under the loops' figures.
//
// # The runner
//
// Run alternates the contenders, workload by workload: round 1 runs a, b, c,
// round 2 b, c, a, round 3 c, a, b, and so on, so that none is always first
// after another's garbage or always last on a warm cache, and it runs a
// garbage collection before every measured run. It reports the median ns/op of every
// contender over the rounds and the ratios go-sdevent/C and idiomatic/C, and
// besides: the heap bytes per idle IO source and per idle timer (after GC),
// the OS threads of the process while the children were watched (from the
// first round, with the count before the children were started, since Go
// never gives threads back), and the cost per child exit of go-sdevent and
// libsystemd with each of Config.ChildrenCounts (sdevent bench: 100 and
// 4,000) children exiting at once. Those runs come before all others, and
// leave out the idiomatic contender, which holds an OS thread per child
// (the pids limit of a cgroup counts threads).
//
// # Differences between the contenders
//
// Signals. In a Go process kill(getpid(), SIGUSR1) is delivered to whichever
// thread does not block the signal; the Go runtime would take it. The C
// signal workload therefore blocks SIGUSR1 in its thread and sends it with
// tgkill to that thread: a thread-directed signal stays pending for the
// thread that blocks it, and sd-event's signalfd reads it there. sdbench.c
// sends it to the process. go-sdevent and the idiomatic contender use kill
// on the process: the runtime's handler catches it and os/signal hands it to
// a goroutine (go-sdevent's signal hub then wakes the loop through an
// eventfd).
//
// Children. The C harness blocks SIGCHLD in its thread, as sdbench.c does
// (sd-event requires it), and restores the mask afterwards; the exits come
// through pidfds in epoll (sd-event 252 and go-sdevent alike). It starts the
// children with posix_spawn (vfork semantics, the child execs at once)
// rather than fork: forking a multi-threaded Go process is only sound when
// the child execs at once, and posix_spawn is the call made for that. Both
// sides time alike: glibc's posix_spawn and Go's syscall.ForkExec return
// only once the child has exec'd the shell (the tests check its
// /proc/PID/exe right after the call), and both start the clock just
// before closing the pipe's write end, after the last child started, and
// stop it when the loop returns after the last exit. A fork that returned
// before the exec would start C's clock while children still start up.
// go-sdevent starts them with syscall.ForkExec taking a pidfd at clone time
// and watches them with AddChildPidfd; the idiomatic contender uses exec.Cmd
// and a goroutine per child blocked in cmd.Wait, which costs a blocked OS
// thread per child.
//
// IO. The idiomatic contender has no loop to dispatch from: its ping-pong
// runs between two goroutines over two eventfds wrapped in os.File, each
// Read parking in the netpoller until the other side writes, so one
// operation (one read and one write) is half a round trip. Its idle "sources"
// are 10,000 eventfds, each with a goroutine blocked in Read.
//
// Proxy. The proxies' rows count the whole peer process, the Go runtime's
// threads too. The C proxy runs in one cgo call, which the runtime's
// sysmon sees as one long system call: it takes the P away once and then
// sleeps. go-sdevent's loop runs Go code between its system calls, and in
// proxy_bulk a dispatch splices for milliseconds while bytes keep coming.
// A goroutine not rescheduled for 10 ms is preempted by sysmon, which then
// takes its P at its next system call and goes back to waking every 20 µs;
// the loop yields to the scheduler every 2 ms to avoid that, and reads the
// clock for it more often once its iterations grow long. With one P,
// sysmon takes the P from any system call that outlasts one of its ticks,
// such as a splice of a full pipe, with the same effect, which no yield
// avoids: most of go-sdevent's context switches beyond C's in proxy_bulk
// are then sysmon's (its thread's, in /proc/PID/task/TID/status), as the
// idiomatic proxy's are. The go-sdevent proxy also makes a system call
// per connection more than C: a source made ONESHOT after AddIO is
// registered again with EPOLLONESHOT, where sd-event only notes the change.
//
// Defer and timers. The idiomatic defer is a goroutine handing tokens to
// another through an unbuffered channel. Its timers are time.AfterFunc
// callbacks (each runs in a goroutine of its own), its re-armed timer a
// time.Timer Reset to 0 after every receive. Deadlines are absolute in C and
// go-sdevent; the idiomatic contender turns each into a duration with
// time.Until when it adds it.
package bench
