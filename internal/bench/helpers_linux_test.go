package bench

import (
	"os"
	"os/signal"
	"regexp"
	"testing"

	"golang.org/x/sys/unix"
)

func sigusr1Watch(ch chan os.Signal) { signal.Notify(ch, unix.SIGUSR1) }
func sigusr1Stop(ch chan os.Signal)  { signal.Stop(ch) }

func regexpMust(t *testing.T, re string) *regexp.Regexp {
	t.Helper()
	return regexp.MustCompile(re)
}
