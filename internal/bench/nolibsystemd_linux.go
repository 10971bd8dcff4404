//go:build !libsystemd || !cgo

package bench

// libsystemd stands for the C contender, which only a build with the tag
// libsystemd (and cgo) has.
func libsystemd() Contender {
	return Missing{Label: "libsystemd", Why: "not built (-tags libsystemd)"}
}
