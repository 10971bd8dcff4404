//go:build linux

package sdevent

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/go-sdevent/sdevent/internal/testutil"
)

// TestSourceLayout: Source is allocated from the 160-byte size class of
// Go's allocator, whose objects start on a 32-byte boundary (160 is five
// times 32, and a span starts on a page); what the time queues compare and
// write in a source (order.go's timeBefore, prioq's index) lies in its
// first 32 bytes, so a step through a timer heap of 200,000 sources costs
// one cache line per source it visits; what the pending queue reads
// besides lies in the first 64 bytes. It also bounds the pointer words the
// collector scans in each source. Adding a field that breaks any of these
// shows here; the floating-timer benchmark in timer_test.go shows what it
// costs, and the memory workload of sdevent bench what an idle source
// costs.
func TestSourceLayout(t *testing.T) {
	testutil.Check(t)
	var s Source
	if unsafe.Sizeof(uintptr(0)) != 8 {
		return // the layout is tuned for 64-bit platforms
	}
	// Go's size classes around it are 144 and 160 bytes.
	if size := unsafe.Sizeof(s); size <= 144 || size > 160 {
		t.Errorf("Source is %d bytes, want 145..160 (the 160-byte size class)", size)
	}
	type field struct {
		name        string
		offset, len uintptr
	}
	within := func(limit uintptr, fields []field) {
		for _, f := range fields {
			if f.offset+f.len > limit {
				t.Errorf("Source.%s at bytes %d..%d, outside the first %d bytes", f.name, f.offset, f.offset+f.len, limit)
			}
		}
	}
	// What timeBefore reads, and the indices the time queues write.
	within(32, []field{
		{"enabled", unsafe.Offsetof(s.enabledByte), unsafe.Sizeof(s.enabledByte)},
		{"kind", unsafe.Offsetof(s.kindByte), unsafe.Sizeof(s.kindByte)},
		{"ratelimited", unsafe.Offsetof(s.ratelimited), unsafe.Sizeof(s.ratelimited)},
		{"pending", unsafe.Offsetof(s.pending), unsafe.Sizeof(s.pending)},
		{"time.next", unsafe.Offsetof(s.time) + unsafe.Offsetof(s.time.next), unsafe.Sizeof(s.time.next)},
		{"time.accuracy", unsafe.Offsetof(s.time) + unsafe.Offsetof(s.time.accuracy), unsafe.Sizeof(s.time.accuracy)},
		{"earliestIdx", unsafe.Offsetof(s.earliestIdx), unsafe.Sizeof(s.earliestIdx)},
		{"latestIdx", unsafe.Offsetof(s.latestIdx), unsafe.Sizeof(s.latestIdx)},
	})
	// And what pendingBefore reads besides, and the pending queue's index.
	within(64, []field{
		{"priority", unsafe.Offsetof(s.priority), unsafe.Sizeof(s.priority)},
		{"pendingIter", unsafe.Offsetof(s.pendingIter), unsafe.Sizeof(s.pendingIter)},
		{"pendingIdx", unsafe.Offsetof(s.pendingIdx), unsafe.Sizeof(s.pendingIdx)},
	})
	// The collector scans each pointer word of every live source; the
	// union of all kinds had 22.
	if n := pointerWords(reflect.TypeFor[Source]()); n > 9 {
		t.Errorf("Source has %d pointer words, want at most 9", n)
	}
}

// pointerWords counts the words of a value of type t that the garbage
// collector scans as pointers.
func pointerWords(t reflect.Type) int {
	switch t.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Chan, reflect.UnsafePointer, reflect.String, reflect.Slice:
		return 1 // a string's or slice's data pointer
	case reflect.Interface:
		return 2 // type word and data word
	case reflect.Struct:
		n := 0
		for i := range t.NumField() {
			n += pointerWords(t.Field(i).Type)
		}
		return n
	case reflect.Array:
		return t.Len() * pointerWords(t.Elem())
	}
	return 0
}
