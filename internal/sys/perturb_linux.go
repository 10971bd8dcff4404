package sys

import (
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"time"
)

var perturb = sync.OnceValue(func() time.Duration {
	for _, p := range []string{"/proc/sys/kernel/random/boot_id", "/etc/machine-id"} {
		if id, ok := readID128(p); ok {
			q0 := binary.NativeEndian.Uint64(id[:8])
			q1 := binary.NativeEndian.Uint64(id[8:])
			// The same spot within the minute as every sd-event program on
			// this boot: sd-event keeps the offset in microseconds.
			return time.Duration((q0^q1)%uint64(time.Minute/time.Microsecond)) * time.Microsecond
		}
	}
	return 0
})

// Perturb returns the per-boot offset within a minute at which loops on this
// machine prefer to wake up, derived from the boot id (else the machine id)
// exactly as sd-event derives it, so that Go and C loops coalesce wake-ups.
func Perturb() time.Duration { return perturb() }

func readID128(path string) (id [16]byte, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return id, false
	}
	s := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
	if len(s) != 32 {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, false
	}
	return id, true
}
