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
#include <sys/epoll.h>
#include <sys/eventfd.h>
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
