package exitcode_test

import (
	"strconv"
	"testing"

	"github.com/go-sdevent/sdevent/exitcode"
)

// named is systemd's table written out by hand from exit-status.h and
// exit-status.c, independently of the package's own table.
var named = []struct {
	code  exitcode.Code
	value int
	name  string
	class exitcode.Class
}{
	{exitcode.Success, 0, "SUCCESS", exitcode.ClassLibc},
	{exitcode.Failure, 1, "FAILURE", exitcode.ClassLibc},
	{exitcode.InvalidArgument, 2, "INVALIDARGUMENT", exitcode.ClassLSB},
	{exitcode.NotImplemented, 3, "NOTIMPLEMENTED", exitcode.ClassLSB},
	{exitcode.NoPermission, 4, "NOPERMISSION", exitcode.ClassLSB},
	{exitcode.NotInstalled, 5, "NOTINSTALLED", exitcode.ClassLSB},
	{exitcode.NotConfigured, 6, "NOTCONFIGURED", exitcode.ClassLSB},
	{exitcode.NotRunning, 7, "NOTRUNNING", exitcode.ClassLSB},
	{exitcode.Usage, 64, "USAGE", exitcode.ClassBSD},
	{exitcode.DataErr, 65, "DATAERR", exitcode.ClassBSD},
	{exitcode.NoInput, 66, "NOINPUT", exitcode.ClassBSD},
	{exitcode.NoUser, 67, "NOUSER", exitcode.ClassBSD},
	{exitcode.NoHost, 68, "NOHOST", exitcode.ClassBSD},
	{exitcode.Unavailable, 69, "UNAVAILABLE", exitcode.ClassBSD},
	{exitcode.Software, 70, "SOFTWARE", exitcode.ClassBSD},
	{exitcode.OSErr, 71, "OSERR", exitcode.ClassBSD},
	{exitcode.OSFile, 72, "OSFILE", exitcode.ClassBSD},
	{exitcode.CantCreate, 73, "CANTCREAT", exitcode.ClassBSD},
	{exitcode.IOErr, 74, "IOERR", exitcode.ClassBSD},
	{exitcode.TempFail, 75, "TEMPFAIL", exitcode.ClassBSD},
	{exitcode.Protocol, 76, "PROTOCOL", exitcode.ClassBSD},
	{exitcode.NoPerm, 77, "NOPERM", exitcode.ClassBSD},
	{exitcode.Config, 78, "CONFIG", exitcode.ClassBSD},
	{exitcode.Chdir, 200, "CHDIR", exitcode.ClassSystemd},
	{exitcode.Nice, 201, "NICE", exitcode.ClassSystemd},
	{exitcode.FDs, 202, "FDS", exitcode.ClassSystemd},
	{exitcode.Exec, 203, "EXEC", exitcode.ClassSystemd},
	{exitcode.Memory, 204, "MEMORY", exitcode.ClassSystemd},
	{exitcode.Limits, 205, "LIMITS", exitcode.ClassSystemd},
	{exitcode.OOMAdjust, 206, "OOM_ADJUST", exitcode.ClassSystemd},
	{exitcode.SignalMask, 207, "SIGNAL_MASK", exitcode.ClassSystemd},
	{exitcode.Stdin, 208, "STDIN", exitcode.ClassSystemd},
	{exitcode.Stdout, 209, "STDOUT", exitcode.ClassSystemd},
	{exitcode.Chroot, 210, "CHROOT", exitcode.ClassSystemd},
	{exitcode.IOPrio, 211, "IOPRIO", exitcode.ClassSystemd},
	{exitcode.TimerSlack, 212, "TIMERSLACK", exitcode.ClassSystemd},
	{exitcode.SecureBits, 213, "SECUREBITS", exitcode.ClassSystemd},
	{exitcode.SetScheduler, 214, "SETSCHEDULER", exitcode.ClassSystemd},
	{exitcode.CPUAffinity, 215, "CPUAFFINITY", exitcode.ClassSystemd},
	{exitcode.Group, 216, "GROUP", exitcode.ClassSystemd},
	{exitcode.User, 217, "USER", exitcode.ClassSystemd},
	{exitcode.Capabilities, 218, "CAPABILITIES", exitcode.ClassSystemd},
	{exitcode.CGroup, 219, "CGROUP", exitcode.ClassSystemd},
	{exitcode.SetSID, 220, "SETSID", exitcode.ClassSystemd},
	{exitcode.Confirm, 221, "CONFIRM", exitcode.ClassSystemd},
	{exitcode.Stderr, 222, "STDERR", exitcode.ClassSystemd},
	{exitcode.PAM, 224, "PAM", exitcode.ClassSystemd},
	{exitcode.Network, 225, "NETWORK", exitcode.ClassSystemd},
	{exitcode.Namespace, 226, "NAMESPACE", exitcode.ClassSystemd},
	{exitcode.NoNewPrivileges, 227, "NO_NEW_PRIVILEGES", exitcode.ClassSystemd},
	{exitcode.Seccomp, 228, "SECCOMP", exitcode.ClassSystemd},
	{exitcode.SELinuxContext, 229, "SELINUX_CONTEXT", exitcode.ClassSystemd},
	{exitcode.Personality, 230, "PERSONALITY", exitcode.ClassSystemd},
	{exitcode.AppArmorProfile, 231, "APPARMOR", exitcode.ClassSystemd},
	{exitcode.AddressFamilies, 232, "ADDRESS_FAMILIES", exitcode.ClassSystemd},
	{exitcode.RuntimeDirectory, 233, "RUNTIME_DIRECTORY", exitcode.ClassSystemd},
	{exitcode.Chown, 235, "CHOWN", exitcode.ClassSystemd},
	{exitcode.SmackProcessLabel, 236, "SMACK_PROCESS_LABEL", exitcode.ClassSystemd},
	{exitcode.Keyring, 237, "KEYRING", exitcode.ClassSystemd},
	{exitcode.StateDirectory, 238, "STATE_DIRECTORY", exitcode.ClassSystemd},
	{exitcode.CacheDirectory, 239, "CACHE_DIRECTORY", exitcode.ClassSystemd},
	{exitcode.LogsDirectory, 240, "LOGS_DIRECTORY", exitcode.ClassSystemd},
	{exitcode.ConfigurationDirectory, 241, "CONFIGURATION_DIRECTORY", exitcode.ClassSystemd},
	{exitcode.NUMAPolicy, 242, "NUMA_POLICY", exitcode.ClassSystemd},
	{exitcode.Credentials, 243, "CREDENTIALS", exitcode.ClassSystemd},
	{exitcode.BPF, 244, "BPF", exitcode.ClassSystemd},
	{exitcode.KSM, 245, "KSM", exitcode.ClassSystemd},
	{exitcode.MemoryTHP, 246, "MEMORY_THP", exitcode.ClassSystemd},
	{exitcode.Exception, 255, "EXCEPTION", exitcode.ClassSystemd},
}

func TestNamedCodes(t *testing.T) {
	for _, tc := range named {
		t.Run(tc.name, func(t *testing.T) {
			if int(tc.code) != tc.value {
				t.Errorf("value = %d, want %d", int(tc.code), tc.value)
			}
			if got := tc.code.String(); got != tc.name {
				t.Errorf("Code(%d).String() = %q, want %q", tc.value, got, tc.name)
			}
			if got := tc.code.Class(); got != tc.class {
				t.Errorf("Code(%d).Class() = %v, want %v", tc.value, got, tc.class)
			}
			if got, ok := exitcode.Lookup(tc.name); !ok || got != tc.code {
				t.Errorf("Lookup(%q) = %d, %v; want %d, true", tc.name, int(got), ok, tc.value)
			}
		})
	}
}

// TestTableComplete checks that every status 0..255 is named exactly when the
// list above names it, so that a name added to the package but not here (or
// the reverse) fails.
func TestTableComplete(t *testing.T) {
	want := make(map[int]bool, len(named))
	for _, tc := range named {
		if want[tc.value] {
			t.Fatalf("value %d listed twice", tc.value)
		}
		want[tc.value] = true
	}
	for v := 0; v <= 255; v++ {
		c := exitcode.Code(v)
		isNamed := c.Class() != 0
		if isNamed != want[v] {
			t.Errorf("Code(%d): named = %v (String %q, Class %v), want %v", v, isNamed, c.String(), c.Class(), want[v])
		}
		if !isNamed && c.String() != strconv.Itoa(v) {
			t.Errorf("Code(%d).String() = %q, want the number", v, c.String())
		}
		if got, ok := exitcode.Lookup(c.String()); !ok || got != c {
			t.Errorf("Lookup(Code(%d).String() = %q) = %d, %v; want round trip", v, c.String(), int(got), ok)
		}
	}
}

func TestUnnamedCodes(t *testing.T) {
	for _, tc := range []struct {
		code exitcode.Code
		want string
	}{
		{8, "8"},
		{63, "63"},
		{79, "79"},
		{199, "199"},
		{223, "223"}, // retired: tcpwrap
		{234, "234"}, // retired: kdbus
		{247, "247"},
		{254, "254"},
		{-1, "-1"},
		{256, "256"},
		{-251, "-251"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.code.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if got := tc.code.Class(); got != 0 {
				t.Errorf("Class() = %v, want the zero Class", got)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want exitcode.Code
		ok   bool
	}{
		{"EXEC", exitcode.Exec, true},
		{"APPARMOR", exitcode.AppArmorProfile, true},
		{"0", exitcode.Success, true},
		{"203", exitcode.Exec, true},
		{"223", 223, true},
		{"255", exitcode.Exception, true},
		{"exec", 0, false}, // names are matched exactly, as in C
		{"EXIT_EXEC", 0, false},
		{"APPARMOR_PROFILE", 0, false},
		{"", 0, false},
		{"256", 0, false},
		{"-1", 0, false},
		{" 1", 0, false},
		{"0x10", 0, false},
	} {
		t.Run(strconv.Quote(tc.in), func(t *testing.T) {
			got, ok := exitcode.Lookup(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Lookup(%q) = %d, %v; want %d, %v", tc.in, int(got), ok, int(tc.want), tc.ok)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	for _, tc := range []struct {
		class exitcode.Class
		want  string
	}{
		{exitcode.ClassLibc, "libc"},
		{exitcode.ClassSystemd, "systemd"},
		{exitcode.ClassLSB, "LSB"},
		{exitcode.ClassBSD, "BSD"},
		{0, ""},
		{9, "Class(9)"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.class.String(); got != tc.want {
				t.Errorf("Class(%d).String() = %q, want %q", int(tc.class), got, tc.want)
			}
		})
	}
}
