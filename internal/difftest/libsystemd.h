//go:build libsystemd && cgo

/* The C interpreter of difftest scenarios (libsystemd.c). The values of the
 * ops, places and record kinds are those of script.go; libsystemd.go checks
 * that they agree before every run. */
#pragma once
#include <stdint.h>

enum dt_op {
        OP_ADD_DEFER = 1,
        OP_ADD_POST,
        OP_ADD_EXIT,
        OP_ADD_EXIT_NIL,
        OP_ADD_TIME,
        OP_ADD_IO,
        OP_ADD_IO_RAW_FD,
        OP_SET_ENABLED,
        OP_GET_ENABLED,
        OP_SET_PRIORITY,
        OP_GET_PENDING,
        OP_SET_RATELIMIT,
        OP_GET_RATELIMIT,
        OP_IS_RATELIMITED,
        OP_LEAVE_RATELIMIT,
        OP_SET_EXPIRE_CALLBACK,
        OP_SET_PREPARE,
        OP_SET_TIME,
        OP_GET_TIME,
        OP_SET_TIME_ACCURACY,
        OP_GET_TIME_ACCURACY,
        OP_SET_IO_EVENTS,
        OP_GET_IO_REVENTS,
        OP_SET_FLOATING,
        OP_GET_FLOATING,
        OP_SET_EXIT_ON_FAILURE,
        OP_UNREF,
        OP_DISABLE_UNREF,
        OP_PREPARE,
        OP_WAIT,
        OP_DISPATCH,
        OP_RUN,
        OP_LOOP,
        OP_EXIT,
        OP_GET_EXIT_CODE,
        OP_GET_STATE,
        OP_GET_ITERATION,
        OP_SET_EXIT_ON_IDLE,
        OP_EVENTFD,
        OP_WRITE,
        OP_READ,
        OP_SLEEP,
        OP_RETURN,
        OP_PIPE,
        OP_CLOSE,
        OP_END,
};

enum dt_in { IN_MAIN = 0, IN_HANDLER = 1, IN_EXPIRE = 2, IN_PREPARE = 3, IN_N };

enum dt_rec {
        REC_STEP = 1,
        REC_CALL = 2,
        REC_EXTRA = 3,
        REC_DESTROY = 4,
        REC_TEARDOWN = 5,
        REC_OVERFLOW = 6,
        REC_STATE = 7,
};

enum {
        DT_STEP_WORDS = 8,
        DT_REC_WORDS = 5,
        DT_MAX_SRCS = 16,
        DT_MAX_FDS = 4,
        DT_INF = -1,
        DT_ZERO = -2,
        DT_NOSRC = -100000,
};

/* dt_run runs the nsteps encoded steps on a new sd_event and writes at most
 * cap records to rec; with observe, also REC_STATE records (Scenario.Observe
 * in script.go). It returns the number of records written, or a negative
 * errno when the loop could not be created. */
long dt_run(const int64_t *steps, long nsteps, int observe, int64_t *rec, long cap);
