package supervise

// LineMax is the longest line delivered in one piece: a longer one comes
// in chunks of LineMax bytes, each its own Write, as journald splits lines
// at its LineMax= (whose default this is).
const LineMax = 48 << 10

// LineFunc is a function that takes the output of a supervised command
// line by line: set it as the command's Stdout or Stderr (it is an
// io.Writer). The line comes without its newline; a last line the command
// did not end comes as it is, at the end of the output. line is valid
// during the call only.
type LineFunc func(line []byte)

// Write calls f with p, less one trailing newline. The loop calls it once
// per line; used elsewhere, it takes whatever p is for a line.
func (f LineFunc) Write(p []byte) (int, error) {
	n := len(p)
	if n > 0 && p[n-1] == '\n' {
		p = p[:n-1]
	}
	f(p)
	return n, nil
}
