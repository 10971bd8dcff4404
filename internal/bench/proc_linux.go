package bench

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// osThreads returns the number of threads of the process, the "Threads:"
// line of /proc/self/status; 0 when it cannot be read.
func osThreads() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("Threads:")); ok {
			n, _ := strconv.Atoi(string(bytes.TrimSpace(v)))
			return n
		}
	}
	return 0
}

// affinity returns the CPUs the calling thread may run on (which, in a
// process started under that affinity, all its threads share), as a list
// such as "0-1" or "0,2-3"; "?" when it cannot be read.
func affinity() string {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return "?"
	}
	return cpuList(&set)
}

// cpuList formats set as a CPU list, ranges of consecutive CPUs joined with
// "-", the way the kernel's cpuset and /proc files write them.
func cpuList(set *unix.CPUSet) string {
	var b strings.Builder
	const n = len(unix.CPUSet{}) * 64
	for cpu := 0; cpu < n; cpu++ {
		if !set.IsSet(cpu) {
			continue
		}
		last := cpu
		for last+1 < n && set.IsSet(last+1) {
			last++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpu))
		if last > cpu {
			b.WriteString("-" + strconv.Itoa(last))
		}
		cpu = last
	}
	return b.String()
}
