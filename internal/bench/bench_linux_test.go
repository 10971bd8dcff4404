package bench

import "testing"

// BenchmarkSdevent runs the go-sdevent workloads as Go benchmarks, b.N operations in one run:
// ns/op is the workload's own measure (setup excluded), allocs/op and
// B/op count the setup too, spread over b.N. Profile one with, e.g.,
//
//	go test -run '^$' -bench 'Sdevent/signal' -cpuprofile cpu.out ./internal/bench
func BenchmarkSdevent(b *testing.B) { benchContender(b, GoSdevent{}) }

// BenchmarkIdiomatic runs the idiomatic contender's workloads the same way,
// for profiles and traces of the plain Go way beside go-sdevent's.
func BenchmarkIdiomatic(b *testing.B) { benchContender(b, Idiomatic{}) }

func benchContender(b *testing.B, c Contender) {
	for _, w := range Workloads {
		b.Run(w.Name, func(b *testing.B) {
			b.ReportAllocs()
			s, err := w.Run(c, b.N)
			if err != nil {
				b.Fatal(err)
			}
			// The first metric's time is ns/op; the others are named.
			for i, m := range w.Metrics {
				switch {
				case i >= len(s.Elapsed):
					b.ReportMetric(s.Counts[i-len(s.Elapsed)]/float64(b.N), m+"/op")
				case i == 0:
					b.ReportMetric(float64(s.Elapsed[i].Nanoseconds())/float64(b.N), "ns/op")
				default:
					b.ReportMetric(float64(s.Elapsed[i].Nanoseconds())/float64(b.N), m+"-ns/op")
				}
			}
		})
	}
}
