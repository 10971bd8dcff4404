//go:build libsystemd && cgo

/* The workloads of sdbench.c on libsystemd's sd-event, callable from Go.
 * Each function returns the elapsed nanoseconds, measured around the work as
 * sdbench.c measures it, or a negative errno. Unlike sdbench.c every call is
 * checked, the counters live in userdata instead of globals, and the signal
 * masks are restored before returning (see libsystemd_linux.go). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-event.h>

extern char **environ;

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct counter {
        long count, limit;
};

/* loop runs e and returns the elapsed ns, or a negative errno when the loop
 * failed or the handler did not run limit times. */
static int64_t loop(sd_event *e, struct counter *c, int64_t t0) {
        int r = sd_event_loop(e);
        int64_t t1 = now_ns();
        if (r < 0)
                return r;
        if (r != 0 || c->count != c->limit)
                return -EPROTO;
        return t1 - t0;
}

static int on_defer(sd_event_source *s, void *u) {
        struct counter *c = u;
        if (++c->count >= c->limit)
                return sd_event_exit(sd_event_source_get_event(s), 0);
        return 0;
}

int64_t sdb_defer(long n) {
        struct counter c = { 0, n };
        sd_event *e = NULL;
        sd_event_source *s = NULL;
        int64_t r = sd_event_new(&e);
        if (r < 0)
                return r;
        r = sd_event_add_defer(e, &s, on_defer, &c);
        if (r >= 0)
                r = sd_event_source_set_exit_on_failure(s, 1);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (r >= 0)
                r = loop(e, &c, now_ns());
        sd_event_source_unref(s);
        sd_event_unref(e);
        return r;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *u) {
        struct counter *c = u;
        uint64_t v;
        if (read(fd, &v, sizeof v) != sizeof v)
                return -errno;
        if (++c->count >= c->limit)
                return sd_event_exit(sd_event_source_get_event(s), 0);
        v = 1;
        if (write(fd, &v, sizeof v) != sizeof v)
                return -errno;
        return 0;
}

int64_t sdb_io(long n, int idle) {
        struct counter c = { 0, n };
        sd_event *e = NULL;
        sd_event_source *s = NULL;
        sd_event_source **idles = calloc(idle ? idle : 1, sizeof *idles);
        int fd = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);
        int64_t r = 0;
        if (fd < 0)
                r = -errno;
        else if (!idles)
                r = -ENOMEM;
        if (r >= 0)
                r = sd_event_new(&e);
        if (r >= 0)
                r = sd_event_add_io(e, &s, fd, EPOLLIN, on_io, &c);
        if (r >= 0)
                r = sd_event_source_set_exit_on_failure(s, 1);
        for (int i = 0; r >= 0 && i < idle; i++) {
                int ifd = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);
                if (ifd < 0) {
                        r = -errno;
                        break;
                }
                r = sd_event_add_io(e, &idles[i], ifd, EPOLLIN, on_io, &c);
                if (r < 0) {
                        close(ifd);
                        break;
                }
                r = sd_event_source_set_io_fd_own(idles[i], 1);
        }
        uint64_t v = 1;
        if (r >= 0 && write(fd, &v, sizeof v) != sizeof v)
                r = -errno;
        if (r >= 0)
                r = loop(e, &c, now_ns());
        for (int i = 0; idles && i < idle; i++)
                sd_event_source_unref(idles[i]);
        free(idles);
        sd_event_source_unref(s);
        if (fd >= 0)
                close(fd);
        sd_event_unref(e);
        return r;
}

/* lcg_offset_usec draws the next timer's offset as the Go side does (see
 * deadline.go): 1ms plus up to 200ms, in microseconds. */
static uint64_t lcg_offset_usec(uint64_t *x) {
        *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
        return 1000 + (*x >> 33) % 200000;
}

static int on_time(sd_event_source *s, uint64_t usec, void *u) {
        struct counter *c = u;
        if (++c->count >= c->limit)
                return sd_event_exit(sd_event_source_get_event(s), 0);
        return 0;
}

int sdb_timers(long n, int64_t *add, int64_t *total) {
        struct counter c = { 0, n };
        sd_event *e = NULL;
        uint64_t base, x = 1;
        int64_t r = sd_event_new(&e);
        if (r >= 0)
                r = sd_event_now(e, CLOCK_MONOTONIC, &base);
        int64_t t0 = now_ns();
        for (long i = 0; r >= 0 && i < n; i++)
                r = sd_event_add_time(e, NULL, CLOCK_MONOTONIC, base + lcg_offset_usec(&x), 1, on_time, &c);
        int64_t t1 = now_ns();
        if (r >= 0)
                r = loop(e, &c, t0);
        sd_event_unref(e);
        if (r < 0)
                return r;
        *add = t1 - t0;
        *total = r;
        return 0;
}

static int on_rearm(sd_event_source *s, uint64_t usec, void *u) {
        struct counter *c = u;
        if (++c->count >= c->limit)
                return sd_event_exit(sd_event_source_get_event(s), 0);
        int r = sd_event_source_set_time(s, 0);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

int64_t sdb_rearm(long n) {
        struct counter c = { 0, n };
        sd_event *e = NULL;
        sd_event_source *s = NULL;
        int64_t r = sd_event_new(&e);
        if (r >= 0)
                r = sd_event_add_time(e, &s, CLOCK_MONOTONIC, 0, 0, on_rearm, &c);
        if (r >= 0)
                r = sd_event_source_set_exit_on_failure(s, 1);
        if (r >= 0)
                r = loop(e, &c, now_ns());
        sd_event_source_unref(s);
        sd_event_unref(e);
        return r;
}

/* The signal goes to this thread, which blocks it, not to the process:
 * another thread (the Go runtime's) would take a process-directed one. */
static int send_usr1_to_self(void) {
        if (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1) < 0)
                return -errno;
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *u) {
        struct counter *c = u;
        if (++c->count >= c->limit)
                return sd_event_exit(sd_event_source_get_event(s), 0);
        return send_usr1_to_self();
}

int64_t sdb_signal(long n) {
        struct counter c = { 0, n };
        sigset_t ss, old;
        sigemptyset(&ss);
        sigaddset(&ss, SIGUSR1);
        int64_t r = -pthread_sigmask(SIG_BLOCK, &ss, &old);
        if (r < 0)
                return r;
        sd_event *e = NULL;
        sd_event_source *s = NULL;
        r = sd_event_new(&e);
        if (r >= 0)
                r = sd_event_add_signal(e, &s, SIGUSR1, on_signal, &c);
        if (r >= 0)
                r = sd_event_source_set_exit_on_failure(s, 1);
        if (r >= 0)
                r = send_usr1_to_self();
        if (r >= 0)
                r = loop(e, &c, now_ns());
        sd_event_source_unref(s);
        sd_event_unref(e);
        /* Leave nothing pending for the Go runtime once unblocked. */
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&ss, NULL, &zero) > 0)
                ;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return r;
}

/* spawn_sh starts "sh -c 'read x'" with fa's file actions. posix_spawn
 * (glibc: clone with CLONE_VM|CLONE_VFORK) returns only once the child has
 * exec'd the shell or failed to, like Go's syscall.ForkExec, which waits on a
 * close-on-exec pipe: neither side starts its clock while children are
 * still between fork and exec. sdb_spawn_exe checks this. */
static int spawn_sh(pid_t *pid, const posix_spawn_file_actions_t *fa) {
        char *argv[] = { "sh", "-c", "read x", NULL };
        return -posix_spawn(pid, "/bin/sh", fa, NULL, argv, environ);
}

/* sdb_spawn_exe starts a child as the children workload does, blocked
 * reading a pipe, reads the target of its /proc/PID/exe into buf at once,
 * and kills and reaps it. */
int sdb_spawn_exe(char *buf, int size) {
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        int r = -posix_spawn_file_actions_init(&fa);
        if (r >= 0) {
                r = -posix_spawn_file_actions_adddup2(&fa, p[0], 0);
                if (r >= 0)
                        r = spawn_sh(&pid, &fa);
                posix_spawn_file_actions_destroy(&fa);
        }
        if (r >= 0) {
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/exe", (int) pid);
                ssize_t k = readlink(path, buf, size - 1);
                r = k < 0 ? -errno : 0;
                buf[k < 0 ? 0 : k] = 0;
                kill(pid, SIGKILL);
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        close(p[0]);
        close(p[1]);
        return r;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *u) {
        struct counter *c = u;
        if (si->si_code != CLD_EXITED)
                return -EPROTO;
        if (++c->count >= c->limit)
                return sd_event_exit(sd_event_source_get_event(s), 0);
        return 0;
}

int64_t sdb_children(long n) {
        struct counter c = { 0, n };
        sigset_t ss, old;
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        int64_t r = -pthread_sigmask(SIG_BLOCK, &ss, &old);
        if (r < 0)
                return r;
        sd_event *e = NULL;
        posix_spawn_file_actions_t fa;
        int p[2] = { -1, -1 };
        long started = 0;
        r = sd_event_new(&e);
        if (r >= 0 && pipe2(p, O_CLOEXEC) < 0)
                r = -errno;
        if (r >= 0)
                r = -posix_spawn_file_actions_init(&fa);
        if (r >= 0) {
                r = -posix_spawn_file_actions_adddup2(&fa, p[0], 0);
                for (long i = 0; r >= 0 && i < n; i++) {
                        pid_t pid;
                        r = spawn_sh(&pid, &fa);
                        if (r < 0)
                                break;
                        /* Floating, like sdbench.c's; the loop reaps the child
                         * after the handler. */
                        r = sd_event_add_child(e, NULL, pid, WEXITED, on_child, &c);
                        if (r < 0) {
                                kill(pid, SIGKILL);
                                waitpid(pid, NULL, 0);
                                break;
                        }
                        started++;
                }
                posix_spawn_file_actions_destroy(&fa);
        }
        if (p[0] >= 0)
                close(p[0]);
        int64_t t0 = now_ns();
        if (p[1] >= 0)
                close(p[1]);
        if (r >= 0) {
                r = loop(e, &c, t0);
        } else if (started > 0) {
                /* Let the children started so far exit and be reaped. */
                c.limit = started;
                sd_event_loop(e);
        }
        sd_event_unref(e);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return r;
}

/* The pingpong workload: a message of PING_SIZE bytes each way per
 * operation over a non-blocking SOCK_SEQPACKET socket, one IO source per
 * loop; the pinging end counts replies, the echoing end messages. */
#define PING_SIZE 64

struct ping {
        struct counter c;
        int echo;
        char buf[PING_SIZE];
};

static int on_ping(sd_event_source *s, int fd, uint32_t revents, void *u) {
        struct ping *p = u;
        ssize_t k = read(fd, p->buf, sizeof p->buf);
        if (k < 0)
                return -errno;
        if (k != PING_SIZE)
                return -EPROTO; /* end of file too */
        p->c.count++;
        if ((p->echo || p->c.count < p->c.limit) && write(fd, p->buf, sizeof p->buf) != PING_SIZE)
                return -errno;
        if (p->c.count >= p->c.limit)
                return sd_event_exit(sd_event_source_get_event(s), 0);
        return 0;
}

/* ping_loop runs the loop of one end and returns the elapsed ns from the
 * first ping (sent before the loop, unless echo) to the loop's end. */
static int64_t ping_loop(int fd, long n, int echo) {
        struct ping p = { { 0, n }, echo, { 0 } };
        sd_event *e = NULL;
        sd_event_source *s = NULL;
        int64_t r = sd_event_new(&e);
        if (r >= 0)
                r = sd_event_add_io(e, &s, fd, EPOLLIN, on_ping, &p);
        if (r >= 0)
                r = sd_event_source_set_exit_on_failure(s, 1);
        int64_t t0 = now_ns();
        if (r >= 0 && !echo && write(fd, p.buf, sizeof p.buf) != PING_SIZE)
                r = -errno;
        if (r >= 0)
                r = loop(e, &p.c, t0);
        sd_event_source_unref(s);
        sd_event_unref(e);
        return r;
}

int64_t sdb_ping(int fd, long n) {
        return ping_loop(fd, n, 0);
}

int64_t sdb_echo(int fd, long n) {
        return ping_loop(fd, n, 1);
}

/* malloc_in_use: the bytes malloc hands out, those of blocks it maps on
 * their own (hblkhd: from 128 KiB up, such as a large prioq's array) too,
 * as the Go side counts its slices' arrays. */
static size_t malloc_in_use(void) {
        struct mallinfo2 m = mallinfo2();
        return m.uordblks + m.hblkhd;
}

/* sdb_memory adds n idle IO sources (owning eventfds), then n timers an
 * hour away, and reports the growth of malloc's bytes in use per source. */
int sdb_memory(int n, double *io_bytes, double *timer_bytes) {
        sd_event *e = NULL;
        sd_event_source **s = calloc(2 * (size_t) n, sizeof *s);
        uint64_t base;
        int r = s ? sd_event_new(&e) : -ENOMEM;
        if (r >= 0)
                r = sd_event_now(e, CLOCK_MONOTONIC, &base);
        size_t before = malloc_in_use();
        for (int i = 0; r >= 0 && i < n; i++) {
                int fd = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);
                if (fd < 0) {
                        r = -errno;
                        break;
                }
                r = sd_event_add_io(e, &s[i], fd, EPOLLIN, on_io, NULL);
                if (r < 0) {
                        close(fd);
                        break;
                }
                r = sd_event_source_set_io_fd_own(s[i], 1);
        }
        size_t mid = malloc_in_use();
        for (int i = 0; r >= 0 && i < n; i++)
                r = sd_event_add_time(e, &s[n + i], CLOCK_MONOTONIC, base + 3600ULL * 1000000ULL + i, 1, on_time, NULL);
        size_t after = malloc_in_use();
        for (int i = 0; s && i < 2 * n; i++)
                sd_event_source_unref(s[i]);
        free(s);
        sd_event_unref(e);
        if (r < 0)
                return r;
        *io_bytes = (double) (mid - before) / n;
        *timer_bytes = (double) (after - mid) / n;
        return 0;
}

/* sdb_floor_eventfd is io_idle0 without a loop: n times epoll_wait on an
 * epoll fd that watches one eventfd, read it, write it again. It returns
 * the elapsed ns, or a negative errno. */
int64_t sdb_floor_eventfd(long n) {
        int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        int ep = epoll_create1(EPOLL_CLOEXEC);
        int64_t r = 0;
        if (efd < 0 || ep < 0)
                r = -errno;
        struct epoll_event ev = { .events = EPOLLIN };
        if (r == 0 && epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) < 0)
                r = -errno;
        uint64_t one = 1, v;
        if (r == 0 && write(efd, &one, sizeof one) != sizeof one)
                r = -errno;
        int64_t t0 = now_ns();
        for (long i = 0; r == 0 && i < n; i++) {
                struct epoll_event out[4];
                if (epoll_wait(ep, out, 4, -1) != 1 || read(efd, &v, sizeof v) != sizeof v ||
                    write(efd, &one, sizeof one) != sizeof one)
                        r = errno > 0 ? -errno : -EIO;
        }
        if (r == 0)
                r = now_ns() - t0;
        if (ep >= 0)
                close(ep);
        if (efd >= 0)
                close(efd);
        return r;
}

/* The proxy workload's proxy: systemd-socket-proxyd's logic on sd-event.
 * An IO source on the listening socket; for each connection accepted, a
 * non-blocking connect to the backend, then a pipe for each direction and
 * an IO source for each socket, whose events follow the pipes' fill:
 * EPOLLIN while the pipe it feeds has room, EPOLLOUT while the pipe it
 * drains has bytes. Unlike socket-proxyd, an error fails the run: every
 * source exits the loop on failure. */
#define PROXY_PIPE_SIZE (256 * 1024)

struct proxy;

struct splice_pipe {
        int fd[2];
        size_t full, size;
};

/* front is the accepted socket, back the one to the backend; each -1 once
 * closed. */
struct conn {
        struct proxy *p;
        struct conn *prev, *next;
        int front, back;
        sd_event_source *front_src, *back_src;
        struct splice_pipe to_back, to_front;
};

struct proxy {
        sd_event *e;
        struct sockaddr_in backend;
        long n, done;
        struct conn *conns; /* the open ones, closed with the loop */
};

static void hang_up(int *fd, sd_event_source **s) {
        *s = sd_event_source_unref(*s);
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static void conn_close(struct conn *c) {
        hang_up(&c->front, &c->front_src);
        hang_up(&c->back, &c->back_src);
        for (int i = 0; i < 2; i++) {
                if (c->to_back.fd[i] >= 0)
                        close(c->to_back.fd[i]);
                if (c->to_front.fd[i] >= 0)
                        close(c->to_front.fd[i]);
        }
        if (c->prev)
                c->prev->next = c->next;
        else
                c->p->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        free(c);
}

static int hung_up(int e) {
        return e == ECONNRESET || e == EPIPE || e == ENOTCONN || e == ECONNABORTED || e == ESHUTDOWN;
}

/* conn_move splices from *from into b and from b to *to while either moves
 * bytes; a side that ended, or hung up, is closed and its source freed. */
static int conn_move(int *from, struct splice_pipe *b, int *to, sd_event_source **from_src, sd_event_source **to_src) {
        int moved;
        do {
                ssize_t k;
                moved = 0;
                if (b->full < b->size && *from >= 0 && *to >= 0) {
                        k = splice(*from, NULL, b->fd[1], NULL, b->size - b->full, SPLICE_F_MOVE|SPLICE_F_NONBLOCK);
                        if (k > 0) {
                                b->full += k;
                                moved = 1;
                        } else if (k == 0 || hung_up(errno))
                                hang_up(from, from_src);
                        else if (errno != EAGAIN && errno != EINTR)
                                return -errno;
                }
                if (b->full > 0 && *to >= 0) {
                        k = splice(b->fd[0], NULL, *to, NULL, b->full, SPLICE_F_MOVE|SPLICE_F_NONBLOCK);
                        if (k > 0) {
                                b->full -= k;
                                moved = 1;
                        } else if (k == 0 || hung_up(errno))
                                hang_up(to, to_src);
                        else if (errno != EAGAIN && errno != EINTR)
                                return -errno;
                }
        } while (moved);
        return 0;
}

static int on_traffic(sd_event_source *s, int fd, uint32_t revents, void *u);

static int conn_watch_side(struct conn *c, int fd, sd_event_source **s, uint32_t events) {
        if (*s)
                return sd_event_source_set_io_events(*s, events);
        if (fd < 0)
                return 0;
        int r = sd_event_add_io(c->p->e, s, fd, events, on_traffic, c);
        if (r >= 0)
                r = sd_event_source_set_exit_on_failure(*s, 1);
        return r;
}

static int conn_watch(struct conn *c) {
        uint32_t front = 0, back = 0;
        if (c->to_front.full > 0)
                front |= EPOLLOUT;
        if (c->to_front.full < c->to_front.size)
                back |= EPOLLIN;
        if (c->to_back.full > 0)
                back |= EPOLLOUT;
        if (c->to_back.full < c->to_back.size)
                front |= EPOLLIN;
        int r = conn_watch_side(c, c->front, &c->front_src, front);
        if (r < 0)
                return r;
        return conn_watch_side(c, c->back, &c->back_src, back);
}

static int on_traffic(sd_event_source *s, int fd, uint32_t revents, void *u) {
        struct conn *c = u;
        struct proxy *p = c->p;
        int r = conn_move(&c->front, &c->to_back, &c->back, &c->front_src, &c->back_src);
        if (r >= 0)
                r = conn_move(&c->back, &c->to_front, &c->front, &c->back_src, &c->front_src);
        if (r < 0)
                return r;
        if ((c->front < 0 && c->to_back.full == 0) || (c->back < 0 && c->to_front.full == 0)) {
                conn_close(c);
                if (++p->done == p->n)
                        return sd_event_exit(p->e, 0);
                return 0;
        }
        return conn_watch(c);
}

static int pipe_open(struct splice_pipe *b) {
        if (pipe2(b->fd, O_CLOEXEC|O_NONBLOCK) < 0)
                return -errno;
        (void) fcntl(b->fd[0], F_SETPIPE_SZ, PROXY_PIPE_SIZE); /* a smaller pipe will do */
        int size = fcntl(b->fd[0], F_GETPIPE_SZ);
        if (size < 0)
                return -errno;
        b->size = size;
        return 0;
}

static int conn_complete(struct conn *c) {
        int r = pipe_open(&c->to_back);
        if (r >= 0)
                r = pipe_open(&c->to_front);
        if (r >= 0)
                r = conn_watch(c);
        return r;
}

static int on_connected(sd_event_source *s, int fd, uint32_t revents, void *u) {
        struct conn *c = u;
        int error = 0;
        socklen_t len = sizeof error;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                return -errno;
        if (error != 0)
                return -error;
        c->back_src = sd_event_source_unref(c->back_src);
        return conn_complete(c);
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *u) {
        struct proxy *p = u;
        int nfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK|SOCK_CLOEXEC);
        if (nfd < 0)
                return errno == EAGAIN || errno == EINTR || errno == ECONNABORTED ? 0 : -errno;
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
                close(nfd);
                return -ENOMEM;
        }
        *c = (struct conn) {
                .p = p, .next = p->conns, .front = nfd, .back = -1,
                .to_back = { { -1, -1 } }, .to_front = { { -1, -1 } },
        };
        if (p->conns)
                p->conns->prev = c;
        p->conns = c;
        c->back = socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0);
        if (c->back < 0)
                return -errno;
        if (connect(c->back, (struct sockaddr *) &p->backend, sizeof p->backend) == 0)
                return conn_complete(c);
        if (errno != EINPROGRESS)
                return -errno;
        int r = sd_event_add_io(p->e, &c->back_src, c->back, EPOLLOUT, on_connected, c);
        if (r >= 0)
                r = sd_event_source_set_exit_on_failure(c->back_src, 1);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->back_src, SD_EVENT_ONESHOT);
        return r;
}

/* sdb_proxy proxies connections accepted on listen_fd to 127.0.0.1:port
 * until n were proxied and closed; 0 or a negative errno. */
int sdb_proxy(int listen_fd, int port, long n) {
        struct proxy p = { .n = n };
        p.backend.sin_family = AF_INET;
        p.backend.sin_port = htons(port);
        p.backend.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sd_event_source *s = NULL;
        int flags = fcntl(listen_fd, F_GETFL);
        int r = flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -errno : 0;
        if (r >= 0)
                r = sd_event_new(&p.e);
        if (r >= 0)
                r = sd_event_add_io(p.e, &s, listen_fd, EPOLLIN, on_accept, &p);
        if (r >= 0)
                r = sd_event_source_set_exit_on_failure(s, 1);
        if (r >= 0)
                r = sd_event_loop(p.e);
        if (r >= 0 && (r != 0 || p.done != p.n))
                r = -EPROTO;
        while (p.conns)
                conn_close(p.conns);
        sd_event_source_unref(s);
        sd_event_unref(p.e);
        return r;
}
