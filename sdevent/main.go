// Command sdevent is the companion tool of go-sdevent, a Go port of systemd's
// sd-event loop.
//
// Usage:
//
//	sdevent <command> [flags]
//
// The commands are:
//
//	run       supervise a command for systemd: READY=1, watchdog, signals, exit status;
//	          as a container's pid 1 (or with -subreaper) it reaps orphans
//	doctor    check the kernel features and systemd variables the loop uses
//	demo      run a small event loop and print one line per dispatch
//	bench     run the reference workloads on go-sdevent, libsystemd's
//	          sd-event (with -tags libsystemd) and the idiomatic Go way,
//	          and print the time per operation of each side by side
//	version   print the version of this build
//	help      print the usage text
//
// Commands that are announced but not written yet are listed as planned;
// asking for one prints a note and exits with status 3 (the LSB's
// "unimplemented feature"). None is planned at the moment.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/go-sdevent/sdevent/internal/bench"
)

// Exit statuses of the command. 2 is what flag and most Unix tools use for a
// usage error; 3 is EXIT_NOTIMPLEMENTED of the LSB (systemd's exit code table).
const (
	exitOK             = 0
	exitFailure        = 1
	exitUsage          = 2
	exitNotImplemented = 3
)

func main() {
	// 'sdevent bench' starts this executable again as the peer of its
	// pingpong and proxy workloads; that process runs nothing else.
	bench.Peer()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand: its one-line summary for the usage text and
// what it runs.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// planned are the subcommands that are announced but not written yet.
var planned = []struct{ name, summary string }{}

func commands() []command {
	return []command{
		{"run", "supervise COMMAND for systemd: READY=1 once started, watchdog pings,\n" +
			"signals forwarded, SIGKILL after -kill-after, its exit status or signal passed on;\n" +
			"as a container's pid 1 or with -subreaper, orphans reaped", runCommand},
		{"doctor", "one line per kernel feature and systemd variable the loop uses;\n" +
			"exit status 0 only when every required feature is there", doctor},
		{"demo", "run a small event loop and print one line per dispatch", demo},
		{"bench", "run the reference workloads of sdbench.c (defer, IO ping-pong, timers,\n" +
			"signals, children) on go-sdevent, libsystemd's sd-event (-tags libsystemd)\n" +
			"and the idiomatic Go way; print the median time per operation side by side", benchCommand},
		{"version", "print the version of this build", version},
		{"help", "print this text, or 'sdevent help demo' for a command's flags", help},
	}
}

// run runs the command line args (without the program name) and returns the
// process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(args[1:], stdout, stderr)
		}
	}
	for _, p := range planned {
		if p.name == name {
			sayf(stderr, "sdevent: %s is not implemented yet; it will\n  %s\n", name, indent(p.summary, "  "))
			return exitNotImplemented
		}
	}
	sayf(stderr, "sdevent: unknown command %q\n\n", name)
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	say(w, `sdevent - companion tool of go-sdevent, a Go port of systemd's sd-event loop

Usage:
  sdevent <command> [flags]

Commands:
`)
	for _, c := range commands() {
		sayf(w, "  %-9s %s\n", c.name, indent(c.summary, "            "))
	}
	if len(planned) > 0 {
		say(w, "\nPlanned, not implemented yet (they exit with status 3 for now):\n")
		for _, p := range planned {
			sayf(w, "  %-9s %s\n", p.name, indent(p.summary, "            "))
		}
	}
	say(w, `
Run 'sdevent help <command>' or 'sdevent <command> -h' for a command's flags.
The library's manual is man/sd-event.3 in the source tree ('man -l man/sd-event.3').
`)
}

// indent puts prefix before every line of s but the first.
func indent(s, prefix string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, s[i])
		if s[i] == '\n' {
			out = append(out, prefix...)
		}
	}
	return string(out)
}

func help(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		usage(stdout)
		return exitOK
	case 1:
		switch args[0] {
		case "help":
			usage(stdout)
			return exitOK
		case "demo", "bench", "version", "run", "doctor":
			// The command's own -h prints its flags on the writer given.
			return run([]string{args[0], "-h"}, stdout, stdout)
		}
		for _, p := range planned {
			if p.name == args[0] {
				sayf(stdout, "sdevent %s (not implemented yet): %s\n", p.name, indent(p.summary, "  "))
				return exitOK
			}
		}
		sayf(stderr, "sdevent help: unknown command %q\n\n", args[0])
	default:
		say(stderr, "sdevent help: takes at most one command name\n\n")
	}
	usage(stderr)
	return exitUsage
}

// newFlagSet returns a flag set for a subcommand that reports errors instead
// of exiting, writing its usage to stderr.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sdevent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		sayf(fs.Output(), "Usage: sdevent %s %s\n\n%s\n", name, synopsis, about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			say(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args into fs and returns the exit status to stop with,
// or -1 to go on: 0 after -h, 2 after a bad flag or a stray argument.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		sayf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	return -1
}

func version(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "", "Prints the module version this binary was built from, or (devel).", stderr)
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	sayf(stdout, "sdevent %s\n", buildVersion())
	return exitOK
}

// buildVersion is the main module's version as the go command recorded it:
// a tag such as v0.1.0 for 'go install ...@v0.1.0', a pseudo-version for a
// build in a git checkout, or "(devel)" when nothing was recorded.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// say, sayf and sayln write the command's output and diagnostics to its
// stdout or stderr. A write that fails there has nowhere else to be
// reported (and a closed pipe already ends the process with SIGPIPE), so
// their errors are dropped here, the one place that does it.
func say(w io.Writer, a ...any) { _, _ = fmt.Fprint(w, a...) }

func sayf(w io.Writer, format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }

func sayln(w io.Writer, a ...any) { _, _ = fmt.Fprintln(w, a...) }
