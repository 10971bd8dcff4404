// Package testutil holds the test hygiene harness of go-sdevent and small
// helpers for tests that use real kernel objects.
//
// A package's TestMain calls Main (or Run). Before the tests it records the
// open file descriptors and the goroutines of the process; after them it
// waits a little for things to settle and fails the run, listing the
// culprits, when a descriptor was left open, a goroutine was left running, or
// a child process was left unreaped. Each test calls Check (itself or through
// a helper) to have the same checks fail it by name; Run also records where
// each descriptor of the loop is opened (internal/sys), so that a report
// shows the stack that opened a leaked one.
//
// It builds only on Linux.
package testutil
