//go:build linux

package sdevent

import (
	"math"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// What systemd's environment hands the daemon ($WATCHDOG_USEC,
// $WATCHDOG_PID, $LISTEN_FDS, $LISTEN_PIDFDID, the CID and port of a vsock
// $NOTIFY_SOCKET, ...) is parsed here the way libsystemd 262 parses it (for
// these numbers, as 252 did), so that a value C accepts is accepted with
// the same meaning and a value C refuses is refused with the same errno.
// The one difference: an empty variable counts as unset, since "VAR=" is how Go programs (os/exec,
// t.Setenv) clear one; C's getenv tells them apart and refuses "".

// getenv returns the variable's value, or false when it is unset or empty.
func getenv(key string) (string, bool) {
	v := os.Getenv(key)
	return v, v != ""
}

// secureLookupEnv is os.LookupEnv as glibc's secure_getenv, which sd-event
// reads its pressure variables with: in a process the kernel started
// AT_SECURE (set-user-ID or set-group-ID, or with file capabilities) every
// variable reads as unset, so that whoever starts such a program cannot
// choose what it opens and writes to.
func secureLookupEnv(key string) (string, bool) {
	if atSecure() {
		return "", false
	}
	return os.LookupEnv(key)
}

// atSecure reports the kernel's AT_SECURE flag for this process. Where the
// auxiliary vector cannot be read, it falls back on what glibc checked
// before AT_SECURE: whether the real and effective ids differ.
func atSecure() bool {
	const atSecureKey = 23 // AT_SECURE of <elf.h>
	auxv, err := unix.Auxv()
	if err != nil {
		return os.Getuid() != os.Geteuid() || os.Getgid() != os.Getegid()
	}
	for _, kv := range auxv {
		if kv[0] == atSecureKey {
			return kv[1] != 0
		}
	}
	return false
}

// cWhitespace is systemd's WHITESPACE, skipped before a number;
// cSpace is what strtoul skips itself (isspace in the C locale).
const (
	cWhitespace = " \t\n\r"
	cSpace      = " \t\n\v\f\r"
)

// strto is strtoull/strtol of glibc 2.36 in the C locale: it skips
// isspace, takes one sign, and with base 0 reads a "0x" prefix as hex and a
// leading "0" as octal. It returns the magnitude, whether a '-' came first,
// whether the magnitude overflowed uint64, and whether the digits ran to the
// end of s (false when there were none or something follows them).
func strto(s string, base uint64) (mag uint64, neg, overflow, whole bool) {
	s = strings.TrimLeft(s, cSpace)
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	s, base = strtoBase(s, base)
	n := 0
	for ; n < len(s); n++ {
		d := digit(s[n])
		if d >= base {
			break
		}
		if mag > (math.MaxUint64-d)/base {
			overflow = true
		} else {
			mag = mag*base + d
		}
	}
	return mag, neg, overflow, n > 0 && n == len(s)
}

// strtoBase is the base that base 0 stands for, read from the prefix as
// strtoull does ("0x" hexadecimal, skipped; "0" octal; else decimal), and
// s without a "0x".
func strtoBase(s string, base uint64) (string, uint64) {
	switch {
	case base != 0:
		return s, base
	case len(s) > 2 && s[0] == '0' && s[1]|0x20 == 'x' && digit(s[2]) < 16:
		return s[2:], 16
	case s != "" && s[0] == '0':
		return s, 8
	}
	return s, 10
}

// digit is the value of a digit of any base up to 36, or 36 for none.
func digit(c byte) uint64 {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0')
	case 'a' <= c|0x20 && c|0x20 <= 'z':
		return uint64(c|0x20-'a') + 10
	}
	return 36
}

// mangleBase skips systemd's WHITESPACE and reads the "0b" and "0o"
// prefixes systemd adds to C's (base 2 and 8); base 0 leaves the choice to
// strto.
func mangleBase(s string) (string, uint64) {
	s = strings.TrimLeft(s, cWhitespace)
	if len(s) >= 2 && s[0] == '0' {
		switch s[1] | 0x20 {
		case 'b':
			return s[2:], 2
		case 'o':
			return s[2:], 8
		}
	}
	return s, 0
}

// parseUint64 is systemd's safe_atou64: "  +0x10" is 16, "-5" is ERANGE
// (but "\v-5", which only strtoull's own skipping reaches, wraps around as in
// C), trailing garbage is EINVAL, more than 64 bits is ERANGE.
func parseUint64(s string) (uint64, error) {
	s, base := mangleBase(s)
	mag, neg, overflow, whole := strto(s, base)
	switch {
	case overflow:
		return 0, unix.ERANGE
	case !whole:
		return 0, unix.EINVAL
	case neg && mag != 0 && s[0] == '-':
		return 0, unix.ERANGE
	case neg:
		return -mag, nil
	}
	return mag, nil
}

// parseUint32 is systemd's safe_atou: safe_atou64's rules, then ERANGE
// past 32 bits.
func parseUint32(s string) (uint32, error) {
	v, err := parseUint64(s)
	if err == nil && v > math.MaxUint32 {
		err = unix.ERANGE
	}
	if err != nil {
		return 0, err
	}
	return uint32(v), nil
}

// parseInt is systemd's safe_atoi: strtol's rules, then the int range.
func parseInt(s string) (int32, error) {
	s, base := mangleBase(s)
	mag, neg, overflow, whole := strto(s, base)
	switch {
	case overflow, !neg && mag > math.MaxInt64, neg && mag > 1<<63:
		return 0, unix.ERANGE
	case !whole:
		return 0, unix.EINVAL
	}
	v := int64(mag)
	if neg {
		v = -v
	}
	if v != int64(int32(v)) {
		return 0, unix.ERANGE
	}
	return int32(v), nil
}

// parsePid is systemd's parse_pid: an unsigned number that fits pid_t and
// is not 0 (ERANGE otherwise).
func parsePid(s string) (int, error) {
	v, err := parseUint64(s)
	if err != nil {
		return 0, err
	}
	if v == 0 || v > math.MaxInt32 {
		return 0, unix.ERANGE
	}
	return int(v), nil
}
