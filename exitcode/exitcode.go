package exitcode

import "strconv"

// Code is a process exit status. A process can exit with 0..255; other values
// exist only as input to the mapping functions.
type Code int

// The codes of ISO C.
const (
	Success Code = 0 // EXIT_SUCCESS
	Failure Code = 1 // EXIT_FAILURE
)

// The LSB codes for the "start" verb of init scripts. Not to be confused with
// the LSB codes of the "status" verb, which mean something else.
const (
	InvalidArgument Code = 2 // EXIT_INVALIDARGUMENT: invalid or excess arguments
	NotImplemented  Code = 3 // EXIT_NOTIMPLEMENTED: unimplemented feature
	NoPermission    Code = 4 // EXIT_NOPERMISSION: insufficient privileges
	NotInstalled    Code = 5 // EXIT_NOTINSTALLED: program not installed
	NotConfigured   Code = 6 // EXIT_NOTCONFIGURED: program not configured
	NotRunning      Code = 7 // EXIT_NOTRUNNING: program not running
)

// The codes of BSD's sysexits.h, which systemd names too.
const (
	Usage       Code = 64 // EX_USAGE: command line usage error
	DataErr     Code = 65 // EX_DATAERR: data format error
	NoInput     Code = 66 // EX_NOINPUT: cannot open input
	NoUser      Code = 67 // EX_NOUSER: addressee unknown
	NoHost      Code = 68 // EX_NOHOST: host name unknown
	Unavailable Code = 69 // EX_UNAVAILABLE: service unavailable
	Software    Code = 70 // EX_SOFTWARE: internal software error
	OSErr       Code = 71 // EX_OSERR: system error, such as a failed fork
	OSFile      Code = 72 // EX_OSFILE: critical OS file missing
	CantCreate  Code = 73 // EX_CANTCREAT: cannot create output file
	IOErr       Code = 74 // EX_IOERR: input/output error
	TempFail    Code = 75 // EX_TEMPFAIL: temporary failure, retry
	Protocol    Code = 76 // EX_PROTOCOL: remote error in protocol
	NoPerm      Code = 77 // EX_NOPERM: permission denied
	Config      Code = 78 // EX_CONFIG: configuration error
)

// The codes with which the service manager's child exits when it fails to set
// up the execution environment, before execve(2). The comment names the C
// constant and the step that failed.
const (
	Chdir                  Code = 200 // EXIT_CHDIR: WorkingDirectory=
	Nice                   Code = 201 // EXIT_NICE: Nice=
	FDs                    Code = 202 // EXIT_FDS: closing or passing file descriptors
	Exec                   Code = 203 // EXIT_EXEC: execve(2) itself
	Memory                 Code = 204 // EXIT_MEMORY: out of memory
	Limits                 Code = 205 // EXIT_LIMITS: LimitCPU= and friends
	OOMAdjust              Code = 206 // EXIT_OOM_ADJUST: OOMScoreAdjust=
	SignalMask             Code = 207 // EXIT_SIGNAL_MASK: resetting the signal mask
	Stdin                  Code = 208 // EXIT_STDIN: StandardInput=
	Stdout                 Code = 209 // EXIT_STDOUT: StandardOutput=
	Chroot                 Code = 210 // EXIT_CHROOT: RootDirectory=, RootImage=
	IOPrio                 Code = 211 // EXIT_IOPRIO: IOSchedulingClass=, IOSchedulingPriority=
	TimerSlack             Code = 212 // EXIT_TIMERSLACK: TimerSlackNSec=
	SecureBits             Code = 213 // EXIT_SECUREBITS: SecureBits=
	SetScheduler           Code = 214 // EXIT_SETSCHEDULER: CPUSchedulingPolicy=, CPUSchedulingPriority=
	CPUAffinity            Code = 215 // EXIT_CPUAFFINITY: CPUAffinity=
	Group                  Code = 216 // EXIT_GROUP: Group=, SupplementaryGroups=
	User                   Code = 217 // EXIT_USER: User=, PrivateUsers=
	Capabilities           Code = 218 // EXIT_CAPABILITIES: CapabilityBoundingSet=, AmbientCapabilities=
	CGroup                 Code = 219 // EXIT_CGROUP: the unit's control group
	SetSID                 Code = 220 // EXIT_SETSID: setsid(2)
	Confirm                Code = 221 // EXIT_CONFIRM: cancelled at systemd.confirm_spawn=
	Stderr                 Code = 222 // EXIT_STDERR: StandardError=
	PAM                    Code = 224 // EXIT_PAM: PAMName=
	Network                Code = 225 // EXIT_NETWORK: PrivateNetwork=
	Namespace              Code = 226 // EXIT_NAMESPACE: mount, UTS or IPC namespace
	NoNewPrivileges        Code = 227 // EXIT_NO_NEW_PRIVILEGES: NoNewPrivileges=
	Seccomp                Code = 228 // EXIT_SECCOMP: SystemCallFilter= and friends
	SELinuxContext         Code = 229 // EXIT_SELINUX_CONTEXT: SELinuxContext=
	Personality            Code = 230 // EXIT_PERSONALITY: Personality=
	AppArmorProfile        Code = 231 // EXIT_APPARMOR_PROFILE: AppArmorProfile=; named "APPARMOR"
	AddressFamilies        Code = 232 // EXIT_ADDRESS_FAMILIES: RestrictAddressFamilies=
	RuntimeDirectory       Code = 233 // EXIT_RUNTIME_DIRECTORY: RuntimeDirectory=
	Chown                  Code = 235 // EXIT_CHOWN: socket ownership, socket units only
	SmackProcessLabel      Code = 236 // EXIT_SMACK_PROCESS_LABEL: SmackProcessLabel=
	Keyring                Code = 237 // EXIT_KEYRING: the kernel keyring
	StateDirectory         Code = 238 // EXIT_STATE_DIRECTORY: StateDirectory=
	CacheDirectory         Code = 239 // EXIT_CACHE_DIRECTORY: CacheDirectory=
	LogsDirectory          Code = 240 // EXIT_LOGS_DIRECTORY: LogsDirectory=
	ConfigurationDirectory Code = 241 // EXIT_CONFIGURATION_DIRECTORY: ConfigurationDirectory=
	NUMAPolicy             Code = 242 // EXIT_NUMA_POLICY: NUMAPolicy=, NUMAMask=
	Credentials            Code = 243 // EXIT_CREDENTIALS: LoadCredential= and friends
	BPF                    Code = 244 // EXIT_BPF: RestrictFileSystems= and other BPF programs
	KSM                    Code = 245 // EXIT_KSM: MemoryKSM=
	MemoryTHP              Code = 246 // EXIT_MEMORY_THP: MemoryTHP=

	// Exception is EXIT_EXCEPTION: systemd exits with it to pass on a death
	// by signal or another end that one byte cannot express, as bash does.
	Exception Code = 255
)

// Class is the family a named code belongs to, as exit_status_class reports
// it. The zero Class is that of codes outside the table.
type Class int

// The classes of systemd's table.
const (
	ClassLibc    Class = iota + 1 // EXIT_STATUS_LIBC: 0 and 1
	ClassSystemd                  // EXIT_STATUS_SYSTEMD: 200.. and 255
	ClassLSB                      // EXIT_STATUS_LSB: 2..7
	ClassBSD                      // EXIT_STATUS_BSD: 64..78
)

// String returns the name exit_status_class gives the class: "libc",
// "systemd", "LSB" or "BSD"; the empty string for the zero Class.
func (k Class) String() string {
	switch k {
	case ClassLibc:
		return "libc"
	case ClassSystemd:
		return "systemd"
	case ClassLSB:
		return "LSB"
	case ClassBSD:
		return "BSD"
	}
	if k == 0 {
		return ""
	}
	return "Class(" + strconv.Itoa(int(k)) + ")"
}

type entry struct {
	name  string
	class Class
}

// table is systemd's exit_status_mappings, indexed by code. Entries left zero
// are unnamed codes.
var table = [256]entry{
	Success: {"SUCCESS", ClassLibc},
	Failure: {"FAILURE", ClassLibc},

	InvalidArgument: {"INVALIDARGUMENT", ClassLSB},
	NotImplemented:  {"NOTIMPLEMENTED", ClassLSB},
	NoPermission:    {"NOPERMISSION", ClassLSB},
	NotInstalled:    {"NOTINSTALLED", ClassLSB},
	NotConfigured:   {"NOTCONFIGURED", ClassLSB},
	NotRunning:      {"NOTRUNNING", ClassLSB},

	Usage:       {"USAGE", ClassBSD},
	DataErr:     {"DATAERR", ClassBSD},
	NoInput:     {"NOINPUT", ClassBSD},
	NoUser:      {"NOUSER", ClassBSD},
	NoHost:      {"NOHOST", ClassBSD},
	Unavailable: {"UNAVAILABLE", ClassBSD},
	Software:    {"SOFTWARE", ClassBSD},
	OSErr:       {"OSERR", ClassBSD},
	OSFile:      {"OSFILE", ClassBSD},
	CantCreate:  {"CANTCREAT", ClassBSD},
	IOErr:       {"IOERR", ClassBSD},
	TempFail:    {"TEMPFAIL", ClassBSD},
	Protocol:    {"PROTOCOL", ClassBSD},
	NoPerm:      {"NOPERM", ClassBSD},
	Config:      {"CONFIG", ClassBSD},

	Chdir:                  {"CHDIR", ClassSystemd},
	Nice:                   {"NICE", ClassSystemd},
	FDs:                    {"FDS", ClassSystemd},
	Exec:                   {"EXEC", ClassSystemd},
	Memory:                 {"MEMORY", ClassSystemd},
	Limits:                 {"LIMITS", ClassSystemd},
	OOMAdjust:              {"OOM_ADJUST", ClassSystemd},
	SignalMask:             {"SIGNAL_MASK", ClassSystemd},
	Stdin:                  {"STDIN", ClassSystemd},
	Stdout:                 {"STDOUT", ClassSystemd},
	Chroot:                 {"CHROOT", ClassSystemd},
	IOPrio:                 {"IOPRIO", ClassSystemd},
	TimerSlack:             {"TIMERSLACK", ClassSystemd},
	SecureBits:             {"SECUREBITS", ClassSystemd},
	SetScheduler:           {"SETSCHEDULER", ClassSystemd},
	CPUAffinity:            {"CPUAFFINITY", ClassSystemd},
	Group:                  {"GROUP", ClassSystemd},
	User:                   {"USER", ClassSystemd},
	Capabilities:           {"CAPABILITIES", ClassSystemd},
	CGroup:                 {"CGROUP", ClassSystemd},
	SetSID:                 {"SETSID", ClassSystemd},
	Confirm:                {"CONFIRM", ClassSystemd},
	Stderr:                 {"STDERR", ClassSystemd},
	PAM:                    {"PAM", ClassSystemd},
	Network:                {"NETWORK", ClassSystemd},
	Namespace:              {"NAMESPACE", ClassSystemd},
	NoNewPrivileges:        {"NO_NEW_PRIVILEGES", ClassSystemd},
	Seccomp:                {"SECCOMP", ClassSystemd},
	SELinuxContext:         {"SELINUX_CONTEXT", ClassSystemd},
	Personality:            {"PERSONALITY", ClassSystemd},
	AppArmorProfile:        {"APPARMOR", ClassSystemd},
	AddressFamilies:        {"ADDRESS_FAMILIES", ClassSystemd},
	RuntimeDirectory:       {"RUNTIME_DIRECTORY", ClassSystemd},
	Chown:                  {"CHOWN", ClassSystemd},
	SmackProcessLabel:      {"SMACK_PROCESS_LABEL", ClassSystemd},
	Keyring:                {"KEYRING", ClassSystemd},
	StateDirectory:         {"STATE_DIRECTORY", ClassSystemd},
	CacheDirectory:         {"CACHE_DIRECTORY", ClassSystemd},
	LogsDirectory:          {"LOGS_DIRECTORY", ClassSystemd},
	ConfigurationDirectory: {"CONFIGURATION_DIRECTORY", ClassSystemd},
	NUMAPolicy:             {"NUMA_POLICY", ClassSystemd},
	Credentials:            {"CREDENTIALS", ClassSystemd},
	BPF:                    {"BPF", ClassSystemd},
	KSM:                    {"KSM", ClassSystemd},
	MemoryTHP:              {"MEMORY_THP", ClassSystemd},
	Exception:              {"EXCEPTION", ClassSystemd},
}

func (c Code) entry() entry {
	if c < 0 || int(c) >= len(table) {
		return entry{}
	}
	return table[c]
}

// String returns the code's name in systemd's table, as the service manager
// logs it after "status=203/" ("EXEC", "NOPERMISSION", "SUCCESS"), or the
// decimal number for codes without a name. Like exit_status_to_string with
// EXIT_STATUS_FULL it names all four classes; systemctl status prints only
// the libc and systemd names on its Process: lines, which [Code.Class] lets a
// caller reproduce.
func (c Code) String() string {
	if e := c.entry(); e.name != "" {
		return e.name
	}
	return strconv.Itoa(int(c))
}

// Class returns the family of a named code, or the zero Class for a code
// without a name. It mirrors exit_status_class.
func (c Code) Class() Class {
	return c.entry().class
}

// Lookup returns the code whose name is name, matched exactly as [Code.String]
// spells it, or the code a decimal number 0..255 stands for. It mirrors
// exit_status_from_string, which parses SuccessExitStatus= and friends.
func Lookup(name string) (Code, bool) {
	for c, e := range table {
		if e.name != "" && e.name == name {
			return Code(c), true
		}
	}
	n, err := strconv.ParseUint(name, 10, 8)
	if err != nil {
		return 0, false
	}
	return Code(n), true
}
