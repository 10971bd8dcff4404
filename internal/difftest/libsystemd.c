//go:build libsystemd && cgo

/* The C interpreter of difftest scenarios: each step is one call of
 * libsystemd's sd-event, made the way driver.go makes the matching call of
 * go-sdevent, and recorded the same way. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "libsystemd.h"

struct dt_ctx;

struct dt_src {
        struct dt_ctx *ctx;
        int64_t idx;
        sd_event_source *s; /* the scenario's reference, NULL once dropped */
        int64_t calls[IN_N];
};

struct dt_ctx {
        sd_event *e;
        uint64_t origin;
        const int64_t *steps;
        long nsteps;
        int64_t *rec;
        long nrec, cap;
        struct dt_src src[DT_MAX_SRCS];
        int fd[DT_MAX_FDS];
        int64_t ret; /* what the running callback returns */
        int observe;
        int64_t seen[DT_REC_WORDS]; /* the last REC_STATE written */
};

static void rec(struct dt_ctx *c, int64_t kind, int64_t a, int64_t b, int64_t x, int64_t y) {
        int64_t *r;

        if (c->nrec >= c->cap)
                return;
        if (c->nrec == c->cap - 1) /* keep the last one for the overflow mark */
                kind = REC_OVERFLOW, a = b = x = y = 0;
        r = c->rec + c->nrec++ * DT_REC_WORDS;
        r[0] = kind, r[1] = a, r[2] = b, r[3] = x, r[4] = y;
}

/* observe writes a REC_STATE when the scenario asks for them and the state
 * changed since the last one: which sources are pending, enabled and
 * rate-limited, and the iteration. The twin of observe in driver.go. */
static void observe(struct dt_ctx *c) {
        int64_t st[DT_REC_WORDS] = { REC_STATE };
        uint64_t it = 0;

        if (!c->observe)
                return;
        (void) sd_event_get_iteration(c->e, &it);
        st[4] = (int64_t) it;
        for (int i = 0; i < DT_MAX_SRCS; i++) {
                sd_event_source *s = c->src[i].s;
                int m = SD_EVENT_OFF;

                if (!s)
                        continue;
                if (sd_event_source_get_pending(s) > 0)
                        st[1] |= INT64_C(1) << i;
                if (sd_event_source_get_enabled(s, &m) >= 0 && m != SD_EVENT_OFF)
                        st[2] |= INT64_C(1) << i;
                if (sd_event_source_is_ratelimited(s) > 0)
                        st[3] |= INT64_C(1) << i;
        }
        if (memcmp(st, c->seen, sizeof st) == 0)
                return;
        memcpy(c->seen, st, sizeof st);
        rec(c, st[0], st[1], st[2], st[3], st[4]);
}

static uint64_t c_time(struct dt_ctx *c, int64_t t) {
        if (t == DT_INF)
                return UINT64_MAX;
        if (t == DT_ZERO)
                return 0;
        return c->origin + (uint64_t) t;
}

static int64_t enc_time(struct dt_ctx *c, uint64_t t) {
        if (t == UINT64_MAX)
                return DT_INF;
        if (t == 0)
                return DT_ZERO;
        return (int64_t) (t - c->origin);
}

static uint64_t c_dur(int64_t d) {
        return d == DT_INF ? UINT64_MAX : (uint64_t) d;
}

static int64_t now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void step(struct dt_ctx *c, long i, const int64_t *st);

/* run_block performs the steps that run in place in (for callbacks: of
 * source owner, on its call-th call), in the order of the scenario. */
static void run_block(struct dt_ctx *c, int64_t in, int64_t owner, int64_t call) {
        for (long i = 0; i < c->nsteps; i++) {
                const int64_t *st = c->steps + i * DT_STEP_WORDS;
                if (st[5] != in)
                        continue;
                if (in != IN_MAIN && (st[6] != owner || (st[7] != 0 && st[7] != call)))
                        continue;
                step(c, i, st);
        }
}

/* callback records a call of a source's callback with what it sees, runs its
 * steps and returns what they asked for. */
static int callback(sd_event_source *s, struct dt_src *x, int64_t in, int has_extra, int64_t extra) {
        struct dt_ctx *c = x->ctx;
        int64_t saved = c->ret, r;
        int m;

        if (sd_event_source_get_enabled(s, &m) < 0)
                m = -99;
        rec(c, REC_CALL, x->idx, in, m, sd_event_get_state(c->e));
        if (has_extra)
                rec(c, REC_EXTRA, x->idx, extra, 0, 0);
        observe(c);
        x->calls[in]++;
        c->ret = 0;
        run_block(c, in, x->idx, x->calls[in]);
        r = c->ret;
        c->ret = saved;
        observe(c);
        return (int) r;
}

static int on_handler(sd_event_source *s, void *u) {
        return callback(s, u, IN_HANDLER, 0, 0);
}

static int on_time(sd_event_source *s, uint64_t usec, void *u) {
        struct dt_src *x = u;
        return callback(s, x, IN_HANDLER, 1, enc_time(x->ctx, usec));
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *u) {
        (void) fd;
        return callback(s, u, IN_HANDLER, 1, revents);
}

static int on_expire(sd_event_source *s, void *u) {
        return callback(s, u, IN_EXPIRE, 0, 0);
}

static int on_prepare(sd_event_source *s, void *u) {
        return callback(s, u, IN_PREPARE, 0, 0);
}

static void on_destroy(void *u) {
        struct dt_src *x = u;
        rec(x->ctx, REC_DESTROY, x->idx, 0, 0, 0);
}

static int needs_src(int64_t op) {
        switch (op) {
        case OP_ADD_DEFER: case OP_ADD_POST: case OP_ADD_EXIT: case OP_ADD_EXIT_NIL:
        case OP_ADD_TIME: case OP_ADD_IO: case OP_ADD_IO_RAW_FD:
        case OP_PREPARE: case OP_WAIT: case OP_DISPATCH: case OP_RUN: case OP_LOOP:
        case OP_EXIT: case OP_GET_EXIT_CODE: case OP_GET_STATE: case OP_GET_ITERATION:
        case OP_SET_EXIT_ON_IDLE: case OP_EVENTFD: case OP_WRITE: case OP_READ:
        case OP_SLEEP: case OP_RETURN: case OP_PIPE: case OP_CLOSE:
                return 0;
        }
        return 1;
}

static void step(struct dt_ctx *c, long i, const int64_t *st) {
        int64_t op = st[0], a = st[2], b = st[3], cc = st[4];
        struct dt_src *x = &c->src[st[1]];
        sd_event_source *s = x->s;
        int64_t r = 0, v = 0, v2 = 0;

        if (needs_src(op) && !s) {
                rec(c, REC_STEP, i, DT_NOSRC, 0, 0);
                return;
        }

        switch (op) {
        case OP_ADD_DEFER:
                r = sd_event_add_defer(c->e, &x->s, on_handler, x);
                break;
        case OP_ADD_POST:
                r = sd_event_add_post(c->e, &x->s, on_handler, x);
                break;
        case OP_ADD_EXIT:
                r = sd_event_add_exit(c->e, &x->s, on_handler, x);
                break;
        case OP_ADD_EXIT_NIL:
                r = sd_event_add_exit(c->e, &x->s, NULL, x);
                break;
        case OP_ADD_TIME:
                r = sd_event_add_time(c->e, &x->s, (clockid_t) cc, c_time(c, a), c_dur(b), on_time, x);
                break;
        case OP_ADD_IO:
                r = sd_event_add_io(c->e, &x->s, c->fd[a], (uint32_t) b, on_io, x);
                break;
        case OP_ADD_IO_RAW_FD:
                r = sd_event_add_io(c->e, &x->s, (int) a, EPOLLIN, on_io, x);
                break;
        case OP_SET_ENABLED:
                r = sd_event_source_set_enabled(s, (int) a);
                break;
        case OP_GET_ENABLED: {
                int m = 0;
                r = sd_event_source_get_enabled(s, &m);
                /* C returns whether the source is enabled; go-sdevent returns the mode. */
                r = r < 0 ? r : 0;
                v = m;
                break;
        }
        case OP_SET_PRIORITY:
                r = sd_event_source_set_priority(s, a);
                break;
        case OP_GET_PENDING:
                r = sd_event_source_get_pending(s);
                break;
        case OP_SET_RATELIMIT:
                r = sd_event_source_set_ratelimit(s, (uint64_t) a, (unsigned) b);
                break;
        case OP_GET_RATELIMIT: {
                uint64_t iv = 0;
                unsigned bu = 0;
                r = sd_event_source_get_ratelimit(s, &iv, &bu);
                v = (int64_t) iv, v2 = bu;
                break;
        }
        case OP_IS_RATELIMITED:
                r = sd_event_source_is_ratelimited(s);
                break;
        case OP_LEAVE_RATELIMIT:
                /* libsystemd 252 has no sd_event_source_leave_ratelimit
                 * (LIBSYSTEMD_254). Upstream's is event_source_leave_ratelimit(s,
                 * false), returning 1 when the source was limited; 252's
                 * sd_event_source_set_ratelimit calls just that and resets
                 * the counters as it does, so setting the same limit again
                 * is the same operation. */
                r = sd_event_source_is_ratelimited(s);
                if (r > 0) {
                        uint64_t iv;
                        unsigned bu;
                        int q = sd_event_source_get_ratelimit(s, &iv, &bu);
                        if (q >= 0)
                                q = sd_event_source_set_ratelimit(s, iv, bu);
                        if (q < 0)
                                r = q;
                }
                break;
        case OP_SET_EXPIRE_CALLBACK:
                r = sd_event_source_set_ratelimit_expire_callback(s, on_expire);
                break;
        case OP_SET_PREPARE:
                r = sd_event_source_set_prepare(s, on_prepare);
                break;
        case OP_SET_TIME:
                r = sd_event_source_set_time(s, c_time(c, a));
                break;
        case OP_GET_TIME: {
                uint64_t t = 0;
                r = sd_event_source_get_time(s, &t);
                v = enc_time(c, t);
                break;
        }
        case OP_SET_TIME_ACCURACY:
                r = sd_event_source_set_time_accuracy(s, c_dur(a));
                break;
        case OP_GET_TIME_ACCURACY: {
                uint64_t t = 0;
                r = sd_event_source_get_time_accuracy(s, &t);
                v = (int64_t) t;
                break;
        }
        case OP_SET_IO_EVENTS:
                r = sd_event_source_set_io_events(s, (uint32_t) a);
                break;
        case OP_GET_IO_REVENTS: {
                uint32_t ev = 0;
                r = sd_event_source_get_io_revents(s, &ev);
                v = ev;
                break;
        }
        case OP_SET_FLOATING:
                r = sd_event_source_set_floating(s, a != 0);
                break;
        case OP_GET_FLOATING:
                r = sd_event_source_get_floating(s);
                break;
        case OP_SET_EXIT_ON_FAILURE:
                r = sd_event_source_set_exit_on_failure(s, a != 0);
                break;
        case OP_UNREF:
                x->s = sd_event_source_unref(s);
                break;
        case OP_DISABLE_UNREF:
                x->s = sd_event_source_disable_unref(s);
                break;
        case OP_PREPARE:
                r = sd_event_prepare(c->e);
                break;
        case OP_WAIT:
                r = sd_event_wait(c->e, c_dur(a));
                break;
        case OP_DISPATCH:
                r = sd_event_dispatch(c->e);
                break;
        case OP_RUN: {
                int64_t t0 = now_us(), took;
                r = sd_event_run(c->e, c_dur(a));
                took = now_us() - t0;
                v = b > 0 && took >= b;
                v2 = cc > 0 && took < cc;
                break;
        }
        case OP_LOOP:
                r = sd_event_loop(c->e);
                break;
        case OP_EXIT:
                r = sd_event_exit(c->e, (int) a);
                break;
        case OP_GET_EXIT_CODE: {
                int code = 0;
                r = sd_event_get_exit_code(c->e, &code);
                v = code;
                break;
        }
        case OP_GET_STATE:
                r = sd_event_get_state(c->e);
                break;
        case OP_GET_ITERATION: {
                uint64_t it = 0;
                r = sd_event_get_iteration(c->e, &it);
                v = (int64_t) it;
                break;
        }
        case OP_SET_EXIT_ON_IDLE:
                /* sd_event_set_exit_on_idle came after 252. */
                r = -EOPNOTSUPP;
                break;
        case OP_EVENTFD:
                c->fd[a] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
                r = c->fd[a] < 0 ? -errno : 0;
                break;
        case OP_WRITE: {
                uint64_t n = (uint64_t) b;
                r = write(c->fd[a], &n, sizeof n) < 0 ? -errno : 0;
                break;
        }
        case OP_READ: {
                uint64_t n = 0;
                r = read(c->fd[a], &n, sizeof n) < 0 ? -errno : 0;
                v = (int64_t) n;
                break;
        }
        case OP_PIPE: {
                int p[2];
                r = pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0 ? -errno : 0;
                if (r == 0)
                        c->fd[a] = p[0], c->fd[b] = p[1];
                break;
        }
        case OP_CLOSE:
                r = close(c->fd[a]) < 0 ? -errno : 0;
                c->fd[a] = -1;
                break;
        case OP_SLEEP: {
                struct timespec ts = { .tv_sec = a / 1000000, .tv_nsec = (a % 1000000) * 1000 };
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
                break;
        }
        case OP_RETURN:
                c->ret = a;
                break;
        default:
                r = -ENOSYS;
        }

        if (op == OP_ADD_DEFER || op == OP_ADD_POST || op == OP_ADD_EXIT || op == OP_ADD_EXIT_NIL ||
            op == OP_ADD_TIME || op == OP_ADD_IO || op == OP_ADD_IO_RAW_FD) {
                if (r >= 0)
                        (void) sd_event_source_set_destroy_callback(x->s, on_destroy);
        }
        rec(c, REC_STEP, i, r, v, v2);
        observe(c);
}

long dt_run(const int64_t *steps, long nsteps, int observe, int64_t *recs, long cap) {
        struct dt_ctx c = { .steps = steps, .nsteps = nsteps, .rec = recs, .cap = cap, .observe = observe };
        int r;

        for (int i = 0; i < DT_MAX_SRCS; i++)
                c.src[i] = (struct dt_src) { .ctx = &c, .idx = i };
        for (int i = 0; i < DT_MAX_FDS; i++)
                c.fd[i] = -1;

        r = sd_event_new(&c.e);
        if (r < 0)
                return r;
        r = sd_event_now(c.e, CLOCK_MONOTONIC, &c.origin);
        if (r < 0) {
                sd_event_unref(c.e);
                return r;
        }

        run_block(&c, IN_MAIN, 0, 0);

        rec(&c, REC_TEARDOWN, 0, 0, 0, 0);
        for (int i = 0; i < DT_MAX_SRCS; i++)
                c.src[i].s = sd_event_source_unref(c.src[i].s);
        c.e = sd_event_unref(c.e);
        for (int i = 0; i < DT_MAX_FDS; i++)
                if (c.fd[i] >= 0)
                        close(c.fd[i]);
        return c.nrec;
}
