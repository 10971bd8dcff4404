//go:build linux

package sdevent

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// TestParseUint64: WATCHDOG_USEC (and LISTEN_PID, WATCHDOG_PID) are read as
// libsystemd 252's safe_atou64 reads them. Each row is what
// sd_watchdog_enabled(0, &usec) of libsystemd 252 returned for WATCHDOG_USEC
// set to the input, from a C program run against it (0 and 2^64-1, which C
// parses but sd_watchdog_enabled refuses as "no timestamp", are in
// TestWatchdogPeriod).
func TestParseUint64(t *testing.T) {
	testutil.Check(t)
	for _, tc := range []struct {
		in   string
		want uint64
		err  unix.Errno
	}{
		{"1", 1, 0},
		{"1000000", 1000000, 0},
		{" 5", 5, 0},
		{"\t5", 5, 0},
		{"\n5", 5, 0},
		{"\v5", 5, 0},
		{"+5", 5, 0},
		{"  +0x1F", 31, 0},
		{"0x10", 16, 0},
		{"0X10", 16, 0},
		{"010", 8, 0},
		{"0o10", 8, 0},
		{"0O7", 7, 0},
		{"0b101", 5, 0},
		{"0B11", 3, 0},
		{"00", 0, 0},
		{"18446744073709551614", 18446744073709551614, 0},
		{"18446744073709552", 18446744073709552, 0},
		{"9223372036854776", 9223372036854776, 0},
		{"9223372036854775807", 9223372036854775807, 0},
		{"0x8000000000000000", 1 << 63, 0},
		// strtoull skips \v and \f itself, after systemd looked for '-':
		// C takes "\v-5" as 2^64-5.
		{"\v-5", 18446744073709551611, 0},
		{"\f-5", 18446744073709551611, 0},
		{"-5", 0, unix.ERANGE},
		{"-0x5", 0, unix.ERANGE},
		{"0b-1", 0, unix.ERANGE},
		{"18446744073709551616", 0, unix.ERANGE},
		{"99999999999999999999", 0, unix.ERANGE},
		{"5 ", 0, unix.EINVAL},
		{"5\n", 0, unix.EINVAL},
		{"abc", 0, unix.EINVAL},
		{"5abc", 0, unix.EINVAL},
		{"1e3", 0, unix.EINVAL},
		{"1_000", 0, unix.EINVAL},
		{"+-5", 0, unix.EINVAL},
		{" - 5", 0, unix.EINVAL},
		{"0x", 0, unix.EINVAL},
		{"0b", 0, unix.EINVAL},
		{"0o", 0, unix.EINVAL},
		{"08", 0, unix.EINVAL},
		{"0x-5", 0, unix.EINVAL},
		{"+0b1", 0, unix.EINVAL},
		{"５", 0, unix.EINVAL},
		{"", 0, unix.EINVAL},
	} {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := parseUint64(tc.in)
			if tc.err != 0 {
				if !errors.Is(err, tc.err) {
					t.Fatalf("parseUint64(%q) = %d, %v; want %v", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseUint64(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestParseInt: LISTEN_FDS is read as safe_atoi reads it; rows from
// sd_listen_fds of libsystemd 252 (" 1", "+1" and "0x1" are one fd; "-1"
// parses, and sd_listen_fds refuses it as a count).
func TestParseInt(t *testing.T) {
	testutil.Check(t)
	for _, tc := range []struct {
		in   string
		want int32
		err  unix.Errno
	}{
		{" 1", 1, 0},
		{"+1", 1, 0},
		{"0x1", 1, 0},
		{"-1", -1, 0},
		{"2147483647", 2147483647, 0},
		{"2147483648", 0, unix.ERANGE},
		{"-2147483649", 0, unix.ERANGE},
		{"9223372036854775808", 0, unix.ERANGE},
		{"abc", 0, unix.EINVAL},
		{"1 ", 0, unix.EINVAL},
	} {
		got, err := parseInt(tc.in)
		if (tc.err != 0 && !errors.Is(err, tc.err)) || (tc.err == 0 && (err != nil || got != tc.want)) {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestParsePid: WATCHDOG_PID and LISTEN_PID are read as parse_pid reads
// them; rows from sd_watchdog_enabled of libsystemd 252 with WATCHDOG_PID
// set (0, negative and out of pid_t's range are ERANGE).
func TestParsePid(t *testing.T) {
	testutil.Check(t)
	for _, tc := range []struct {
		in   string
		want int
		err  unix.Errno
	}{
		{"1", 1, 0},
		{" 42", 42, 0},
		{"+42", 42, 0},
		{"0", 0, unix.ERANGE},
		{"0x0", 0, unix.ERANGE},
		{"-1", 0, unix.ERANGE},
		{"2147483648", 0, unix.ERANGE},
		{"4294967296", 0, unix.ERANGE},
		{"abc", 0, unix.EINVAL},
		{"42 ", 0, unix.EINVAL},
	} {
		got, err := parsePid(tc.in)
		if (tc.err != 0 && !errors.Is(err, tc.err)) || (tc.err == 0 && (err != nil || got != tc.want)) {
			t.Errorf("parsePid(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestParseUint32: the CID and port of a vsock $NOTIFY_SOCKET are read as
// safe_atou reads them; rows from sd_notify of libsystemd 262 (the port it
// connected to, traced with strace, or its errno).
func TestParseUint32(t *testing.T) {
	testutil.Check(t)
	for _, tc := range []struct {
		in   string
		want uint32
		err  unix.Errno
	}{
		{"5555", 5555, 0},
		{"+5", 5, 0},
		{" 2", 2, 0},
		{"0x10", 16, 0},
		{"0b11", 3, 0},
		{"-0", 0, 0},
		{"4294967295", 4294967295, 0},
		{"4294967296", 0, unix.ERANGE},
		{"99999999999", 0, unix.ERANGE},
		{"-5", 0, unix.ERANGE},
		{"x", 0, unix.EINVAL},
		{"5 ", 0, unix.EINVAL},
		{"", 0, unix.EINVAL},
	} {
		got, err := parseUint32(tc.in)
		if (tc.err != 0 && !errors.Is(err, tc.err)) || (tc.err == 0 && (err != nil || got != tc.want)) {
			t.Errorf("parseUint32(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
