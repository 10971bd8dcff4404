//go:build linux

package sdevent_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/exitcode"
)

// A Type=notify-reload service reloads on SIGHUP, which is what
// `systemctl reload` sends it: it tells systemd that the reload has begun,
// and that it is ready again once done. Here the process sends itself the
// SIGHUP and stops after one reload.
func ExampleNotifyReloading() {
	e, err := sdevent.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Unref()

	reload := func() error {
		fmt.Println("configuration reloaded")
		return nil
	}
	hup, err := e.AddSignal(unix.SIGHUP, func(s *sdevent.Source, _ *unix.SignalfdSiginfo) error {
		// Without a service manager, these send nothing and report false.
		_, _ = sdevent.NotifyReloading() // RELOADING=1, MONOTONIC_USEC=...
		err := reload()
		_, _ = sdevent.NotifyReady() // READY=1: the reload is over
		if err != nil {
			return err
		}
		return s.Event().Exit(0)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hup.Unref()

	if err := unix.Kill(os.Getpid(), unix.SIGHUP); err != nil {
		fmt.Println(err)
		return
	}
	code, err := e.Loop()
	fmt.Println("loop returned", code, err)
	// Output:
	// configuration reloaded
	// loop returned 0 <nil>
}

// A start-up of several long steps asks for more time before each, so
// that TimeoutStartSec= bounds a step rather than the whole start-up.
func ExampleNotifyExtendTimeout() {
	for _, step := range []string{"load index", "replay journal", "warm cache"} {
		_, _ = sdevent.NotifyExtendTimeout(time.Minute)
		_, _ = sdevent.NotifyStatus(step)
		fmt.Println(step)
	}
	_, _ = sdevent.NotifyReady()
	// Output:
	// load index
	// replay journal
	// warm cache
}

// A service that cannot start tells systemd why, as an errno that
// `systemctl status` shows, and with which status it exits.
func ExampleNotifyErrno() {
	_, err := os.ReadFile("/nonexistent/app.conf")
	var errno unix.Errno
	if errors.As(err, &errno) {
		_, _ = sdevent.NotifyErrno(errno) // ERRNO=2
		_, _ = sdevent.NotifyExitStatus(int(exitcode.NotConfigured))
		fmt.Println("cannot start:", err)
		fmt.Println("exit status", int(exitcode.NotConfigured))
	}
	// Output:
	// cannot start: open /nonexistent/app.conf: no such file or directory
	// exit status 6
}
