//go:build linux

package sdevent_test

import (
	"fmt"
	"log"
	"os/exec"

	"golang.org/x/sys/unix"

	"github.com/go-sdevent/sdevent"
)

// Watch a child process: the handler runs while the exited child is still a
// zombie, then the loop reaps it (through cmd.Wait, for AddCommand).
func ExampleEvent_AddCommand() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()

	cmd := exec.Command("sh", "-c", "exit 3")
	child, err := e.AddCommand(cmd, unix.WEXITED, func(s *sdevent.Source, ci *sdevent.ChildInfo) error {
		fmt.Println("child", ci)
		return s.Event().Exit(ci.ExitStatus())
	})
	if err != nil {
		log.Fatal(err)
	}
	defer child.Unref()
	// Killed and reaped if freed before it exits.
	if err := child.SetChildProcessOwn(true); err != nil {
		log.Fatal(err)
	}

	code, err := e.Loop()
	fmt.Println("loop returned", code, err, "- cmd.Wait saw:", cmd.ProcessState)
	// Output:
	// child exited 3
	// loop returned 3 <nil> - cmd.Wait saw: exit status 3
}
