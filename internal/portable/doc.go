// Package portable holds the test, run on Linux, that keeps the public API
// the same on every platform: the root package's exported names,
// signatures, struct fields and method sets off Linux
// (unsupported_others.go) must match the Linux build's. It has no code of
// its own.
package portable
