//go:build !linux

package bench

// affinity is Linux's (sched_getaffinity): elsewhere the report says "?".
func affinity() string { return "?" }

// Peer does nothing off Linux: the pingpong workload, which starts peers,
// runs on Linux only.
func Peer() {}
