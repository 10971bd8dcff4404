// Command mangen turns the Markdown sources of the manual pages in man/ into
// roff for man(1).
//
// Run it from the repository root:
//
//	go run ./internal/mangen          # regenerate man/NAME.SECTION from man/NAME.SECTION.md
//	go run ./internal/mangen -check   # exit 1, listing stale pages, if any is out of date
//
// It reads every man/NAME.SECTION.md (README.md and other files are left
// alone) and writes man/NAME.SECTION next to it. The Markdown it accepts is
// the subset the pages use; see render for the list. Anything else is kept as
// text, so a page that looks wrong in man(1) probably uses more than that.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mangen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "man", "directory holding the pages")
	check := fs.Bool("check", false, "write nothing; fail if a generated page differs from its source")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		sayf(stderr, "mangen: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	pages, err := generate(*dir)
	if err != nil {
		sayf(stderr, "mangen: %v\n", err)
		return 1
	}
	stale := 0
	for _, p := range pages {
		old, err := os.ReadFile(p.out)
		if err == nil && bytes.Equal(old, p.roff) {
			continue
		}
		if *check {
			sayf(stderr, "mangen: %s is not up to date with %s\n", p.out, p.src)
			stale++
			continue
		}
		if err := os.WriteFile(p.out, p.roff, 0o644); err != nil {
			sayf(stderr, "mangen: %v\n", err)
			return 1
		}
		sayf(stdout, "wrote %s\n", p.out)
	}
	if stale > 0 {
		sayf(stderr, "mangen: run 'go run ./internal/mangen' from the repository root\n")
		return 1
	}
	return 0
}

// sayf writes a progress line or a diagnostic: one that cannot be written
// has nowhere else to go, so the error is dropped here.
func sayf(w io.Writer, format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }

// sourceName matches the file name of a page's source: NAME.SECTION.md.
var sourceName = regexp.MustCompile(`^([A-Za-z0-9_.+-]+)\.([1-9][a-z]*)\.md$`)

// page is one manual page rendered in memory.
type page struct {
	src, out string // paths of the Markdown source and of the roff page
	roff     []byte
}

// generate renders every page source in dir, in name order, without
// writing anything.
func generate(dir string) ([]page, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var pages []page
	for _, ent := range entries {
		m := sourceName.FindStringSubmatch(ent.Name())
		if m == nil || ent.IsDir() {
			continue
		}
		src := filepath.Join(dir, ent.Name())
		md, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		roff, err := render(md, ent.Name())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		pages = append(pages, page{src: src, out: filepath.Join(dir, m[1]+"."+m[2]), roff: roff})
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("no NAME.SECTION.md page sources in %s", dir)
	}
	sort.Slice(pages, func(i, j int) bool { return pages[i].src < pages[j].src })
	return pages, nil
}
