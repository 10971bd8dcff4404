// Package prioq is an indexed binary heap: every element remembers its own
// position, so it can be removed or re-sorted in O(log n) after its sort key
// changed. It is the analogue of systemd's Prioq, used by the loop for its
// pending, prepare, exit and per-clock timer queues.
//
// It moves its elements exactly as systemd's prioq.c does: Put sifts up
// past strictly greater parents only, Remove fills the hole with the last
// element and sifts that down, then up, and a sift down takes the left
// child over an equal right one. Elements that compare equal therefore come
// out in the order they do in sd-event, and the loop relies on that for
// sources its order does not tell apart.
package prioq

// Queue is a min-heap of T ordered by Less. Index returns a pointer to the
// element's own slot field, which the queue keeps up to date (-1 when the
// element is not queued). The zero Queue is not usable; set Less and Index.
// The index is an int32, as in systemd's prioq (unsigned), so that it takes
// half the room in the element: a queue never holds 2^31 elements.
type Queue[T any] struct {
	items []T
	Less  func(a, b T) bool
	Index func(T) *int32
}

// Len returns the number of queued elements.
func (q *Queue[T]) Len() int { return len(q.items) }

// Peek returns the smallest element, or ok=false when the queue is empty.
func (q *Queue[T]) Peek() (x T, ok bool) {
	if len(q.items) == 0 {
		return x, false
	}
	return q.items[0], true
}

// At returns the i-th element in heap order (for iteration, not sorted).
func (q *Queue[T]) At(i int) T { return q.items[i] }

// Put inserts x. x must not be queued already.
func (q *Queue[T]) Put(x T) {
	i := len(q.items)
	if i == cap(q.items) {
		// Double, as systemd's prioq (GREEDY_REALLOC): append grows large
		// slices by a quarter, copying a growing queue five times over
		// and leaving that much garbage to the collector.
		items := make([]T, i, 2*i+16)
		copy(items, q.items)
		q.items = items
	}
	q.items = append(q.items, x)
	*q.Index(x) = int32(i)
	q.up(i)
}

// Remove takes x out of the queue; it reports false if x was not queued.
func (q *Queue[T]) Remove(x T) bool {
	idx := q.Index(x)
	i := int(*idx)
	if i < 0 || i >= len(q.items) {
		return false
	}
	*idx = -1
	last := len(q.items) - 1
	if i != last {
		q.items[i] = q.items[last]
		*q.Index(q.items[i]) = int32(i)
	}
	var zero T
	q.items[last] = zero
	q.items = q.items[:last]
	if i != last {
		q.fix(i)
	}
	return true
}

// Reshuffle restores the heap order after x's sort key changed. It does
// nothing when x is not queued.
func (q *Queue[T]) Reshuffle(x T) {
	i := int(*q.Index(x))
	if i < 0 || i >= len(q.items) {
		return
	}
	q.fix(i)
}

func (q *Queue[T]) fix(i int) {
	if !q.down(i) {
		q.up(i)
	}
}

func (q *Queue[T]) swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	*q.Index(q.items[i]) = int32(i)
	*q.Index(q.items[j]) = int32(j)
}

func (q *Queue[T]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !q.Less(q.items[j], q.items[i]) {
			break
		}
		q.swap(i, j)
		j = i
	}
}

func (q *Queue[T]) down(i0 int) bool {
	i, n := i0, len(q.items)
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if r := j + 1; r < n && q.Less(q.items[r], q.items[j]) {
			j = r
		}
		if !q.Less(q.items[j], q.items[i]) {
			break
		}
		q.swap(i, j)
		i = j
	}
	return i > i0
}
