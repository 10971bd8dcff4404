package prioq

import (
	"math/rand"
	"slices"
	"testing"
)

type item struct {
	key int
	idx int32
}

func newQueue() *Queue[*item] {
	return &Queue[*item]{
		Less:  func(a, b *item) bool { return a.key < b.key },
		Index: func(x *item) *int32 { return &x.idx },
	}
}

// TestAgainstSortedModel drives random puts, removes and key changes and
// checks that Peek always yields the model's minimum and indices stay true.
func TestAgainstSortedModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	q := newQueue()
	var live []*item
	for step := 0; step < 20000; step++ {
		switch op := rng.Intn(4); {
		case op <= 1 || len(live) == 0:
			it := &item{key: rng.Intn(1000), idx: -1}
			q.Put(it)
			live = append(live, it)
		case op == 2:
			k := rng.Intn(len(live))
			if !q.Remove(live[k]) {
				t.Fatalf("step %d: remove of a queued item failed", step)
			}
			if live[k].idx != -1 {
				t.Fatalf("removed item keeps index %d", live[k].idx)
			}
			if q.Remove(live[k]) {
				t.Fatal("second remove reported true")
			}
			live = slices.Delete(live, k, k+1)
		default:
			k := rng.Intn(len(live))
			live[k].key = rng.Intn(1000)
			q.Reshuffle(live[k])
		}
		if q.Len() != len(live) {
			t.Fatalf("len %d, model %d", q.Len(), len(live))
		}
		for i := 0; i < q.Len(); i++ {
			if int(q.At(i).idx) != i {
				t.Fatalf("item at %d records index %d", i, q.At(i).idx)
			}
		}
		if len(live) > 0 {
			least := live[0].key
			for _, it := range live {
				if it.key < least {
					least = it.key
				}
			}
			if top, _ := q.Peek(); top.key != least {
				t.Fatalf("step %d: peek %d, model min %d", step, top.key, least)
			}
		}
	}
}

// TestEqualKeysAsSystemd: elements with equal keys come out in the order
// systemd's prioq.c gives them, which sd-event's ties depend on. Five equal
// puts pop as 0 4 3 2 1 (the last element fills the hole and stays, equal
// children never move). With keys that differ a sift down takes the smaller
// child, the left one on a tie.
func TestEqualKeysAsSystemd(t *testing.T) {
	q := &Queue[*item]{Less: func(a, b *item) bool { return a.key/10 < b.key/10 }, Index: func(x *item) *int32 { return &x.idx }}
	for i := range 5 {
		q.Put(&item{key: i, idx: -1}) // all equal to Less: key/10 is 0
	}
	var order []int
	for q.Len() > 0 {
		top, _ := q.Peek()
		order = append(order, top.key)
		q.Remove(top)
	}
	if want := []int{0, 4, 3, 2, 1}; !slices.Equal(order, want) {
		t.Errorf("equal keys popped as %v, want %v", order, want)
	}
	// [a b c] all equal; a rises: sifted down, it swaps with b (left), not c.
	a, b, c := &item{key: 0, idx: -1}, &item{key: 0, idx: -1}, &item{key: 0, idx: -1}
	q = newQueue()
	q.Put(a)
	q.Put(b)
	q.Put(c)
	a.key = 1
	q.Reshuffle(a)
	if q.At(0) != b || q.At(1) != a || q.At(2) != c {
		t.Errorf("after sifting down the top: %d %d %d, want b a c", q.At(0).key, q.At(1).key, q.At(2).key)
	}
}

func TestEmpty(t *testing.T) {
	q := newQueue()
	if _, ok := q.Peek(); ok {
		t.Fatal("peek on empty queue reported an element")
	}
	q.Reshuffle(&item{idx: -1}) // not queued: no effect, no panic
	if q.Remove(&item{idx: 3}) {
		t.Fatal("remove of a foreign index reported true")
	}
}

func BenchmarkPutPop(b *testing.B) {
	q := newQueue()
	items := make([]*item, 1024)
	for i := range items {
		items[i] = &item{key: i * 7919 % 1024, idx: -1}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		it := items[i%len(items)]
		if it.idx < 0 {
			q.Put(it)
		} else {
			q.Remove(it)
		}
	}
}
