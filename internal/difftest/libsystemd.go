//go:build linux && libsystemd && cgo

package difftest

/*
#cgo pkg-config: libsystemd
#cgo CFLAGS: -std=gnu11 -Wall -Werror
#include "libsystemd.h"
*/
import "C"

import (
	"fmt"
	"syscall"
	"unsafe"
)

// cOps maps every Op to the value libsystemd.c gives it, so that a step
// added on one side only is caught before it is misread.
var cOps = [...]C.int{
	OpAddDefer: C.OP_ADD_DEFER, OpAddPost: C.OP_ADD_POST, OpAddExit: C.OP_ADD_EXIT,
	OpAddExitNil: C.OP_ADD_EXIT_NIL, OpAddTime: C.OP_ADD_TIME, OpAddIO: C.OP_ADD_IO,
	OpAddIORawFd: C.OP_ADD_IO_RAW_FD, OpSetEnabled: C.OP_SET_ENABLED,
	OpGetEnabled: C.OP_GET_ENABLED, OpSetPriority: C.OP_SET_PRIORITY,
	OpGetPending: C.OP_GET_PENDING, OpSetRatelimit: C.OP_SET_RATELIMIT,
	OpGetRatelimit: C.OP_GET_RATELIMIT, OpIsRatelimited: C.OP_IS_RATELIMITED,
	OpLeaveRatelimit: C.OP_LEAVE_RATELIMIT, OpSetExpireCallback: C.OP_SET_EXPIRE_CALLBACK,
	OpSetPrepare: C.OP_SET_PREPARE, OpSetTime: C.OP_SET_TIME, OpGetTime: C.OP_GET_TIME,
	OpSetTimeAccuracy: C.OP_SET_TIME_ACCURACY, OpGetTimeAccuracy: C.OP_GET_TIME_ACCURACY,
	OpSetIOEvents: C.OP_SET_IO_EVENTS, OpGetIORevents: C.OP_GET_IO_REVENTS,
	OpSetFloating: C.OP_SET_FLOATING, OpGetFloating: C.OP_GET_FLOATING,
	OpSetExitOnFailure: C.OP_SET_EXIT_ON_FAILURE, OpUnref: C.OP_UNREF,
	OpDisableUnref: C.OP_DISABLE_UNREF, OpPrepare: C.OP_PREPARE, OpWait: C.OP_WAIT,
	OpDispatch: C.OP_DISPATCH, OpRun: C.OP_RUN, OpLoop: C.OP_LOOP, OpExit: C.OP_EXIT,
	OpGetExitCode: C.OP_GET_EXIT_CODE, OpGetState: C.OP_GET_STATE,
	OpGetIteration: C.OP_GET_ITERATION, OpSetExitOnIdle: C.OP_SET_EXIT_ON_IDLE,
	OpEventfd: C.OP_EVENTFD, OpWrite: C.OP_WRITE, OpRead: C.OP_READ, OpSleep: C.OP_SLEEP,
	OpReturn: C.OP_RETURN, OpPipe: C.OP_PIPE, OpClose: C.OP_CLOSE, opEnd: C.OP_END,
}

// checkABI reports a value of script.go that libsystemd.c does not share.
func checkABI() error {
	for op, c := range cOps {
		if op > 0 && int(c) != op {
			return fmt.Errorf("op %s is %d in Go, %d in C", opNames[min(op, len(opNames)-1)], op, c)
		}
	}
	for _, p := range [][2]int{
		{InMain, C.IN_MAIN}, {InHandler, C.IN_HANDLER}, {InExpire, C.IN_EXPIRE}, {InPrepare, C.IN_PREPARE},
		{RecStep, C.REC_STEP}, {RecCall, C.REC_CALL}, {RecExtra, C.REC_EXTRA},
		{RecDestroy, C.REC_DESTROY}, {RecTeardown, C.REC_TEARDOWN}, {RecOverflow, C.REC_OVERFLOW},
		{RecState, C.REC_STATE},
		{stepWords, C.DT_STEP_WORDS}, {recWords, C.DT_REC_WORDS}, {MaxSrcs, C.DT_MAX_SRCS},
		{MaxFds, C.DT_MAX_FDS}, {Inf, C.DT_INF}, {Zero, C.DT_ZERO}, {NoSrc, C.DT_NOSRC},
	} {
		if p[0] != p[1] {
			return fmt.Errorf("constant %d in Go is %d in C", p[0], p[1])
		}
	}
	return nil
}

// RunC runs sc on a new sd_event of libsystemd and returns its trace
// records. The whole scenario runs in one cgo call, on one thread.
func RunC(sc *Scenario) ([]Record, error) {
	if err := checkABI(); err != nil {
		return nil, err
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	steps := sc.Encode()
	steps = append(steps, 0) // never empty, so &steps[0] exists
	buf := make([]int64, MaxRecs*recWords)
	observe := C.int(0)
	if sc.Observe {
		observe = 1
	}
	n := C.dt_run((*C.int64_t)(unsafe.Pointer(&steps[0])), C.long(len(sc.Steps)), observe,
		(*C.int64_t)(unsafe.Pointer(&buf[0])), C.long(MaxRecs))
	if n < 0 {
		return nil, fmt.Errorf("sd_event_new: %w", syscall.Errno(-n))
	}
	recs := make([]Record, n)
	for i := range recs {
		copy(recs[i][:], buf[i*recWords:])
	}
	return recs, nil
}
