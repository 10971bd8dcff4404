// Command loc counts lines of Go code: the lines of .go files, tests left
// out, that hold something other than comments and blanks. It reads every
// .go file below each directory it is given and prints one count per
// directory. The line counts of examples/ in the README come from it:
//
//	go run ./internal/loc examples/workerd examples/workerd-plain
package main

import (
	"fmt"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loc DIR...")
		os.Exit(2)
	}
	for _, dir := range os.Args[1:] {
		n, err := countDir(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "loc: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("%d\t%s\n", n, dir)
	}
}

// countDir returns the code lines of the .go files below dir, _test.go
// files left out. A directory without any is an error: a count of 0 would
// hide a mistyped name.
func countDir(dir string) (int, error) {
	total, files := 0, 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n, err := count(src)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		total += n
		files++
		return nil
	})
	if err == nil && files == 0 {
		err = fmt.Errorf("%s: no Go files", dir)
	}
	return total, err
}

// count returns the number of lines of the Go source src that hold a token
// other than a comment; a token that spans lines (a raw string) counts each.
func count(src []byte) (int, error) {
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	var errs scanner.ErrorList
	var s scanner.Scanner
	s.Init(file, src, errs.Add, scanner.ScanComments)
	lines := map[int]bool{}
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		// Semicolons the scanner inserts at line ends belong to lines
		// already counted, or to a comment.
		if tok == token.COMMENT || tok == token.SEMICOLON && lit == "\n" {
			continue
		}
		line := file.Line(pos)
		for i := 0; i <= strings.Count(lit, "\n"); i++ {
			lines[line+i] = true
		}
	}
	return len(lines), errs.Err()
}
