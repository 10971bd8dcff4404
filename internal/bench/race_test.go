//go:build race

package bench

// raceEnabled: the race detector allows at most 8128 live goroutines, fewer
// than the idiomatic contender's idle readers of io_idle10000.
const raceEnabled = true
