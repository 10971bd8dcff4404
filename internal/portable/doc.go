// Package portable holds the test, run on Linux, that keeps the public API
// the same on every platform: the exported names, signatures, struct
// fields and method sets of the root package (unsupported_others.go) and
// of the toolkit packages sdnet and filewatch (*_others.go) off Linux must
// match the Linux build's. It has no code of its own.
package portable
