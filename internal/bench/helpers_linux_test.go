package bench

import (
	"regexp"
	"testing"
)

func regexpMust(t *testing.T, re string) *regexp.Regexp {
	t.Helper()
	return regexp.MustCompile(re)
}
