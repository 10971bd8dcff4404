package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      int
	}{
		{"empty", "", 0},
		{"blank and comments", "\n\n// a\n/* b\n c */\n\t\n", 0},
		{"code", "package p\n\nfunc f() {\n}\n", 3},
		{"code then comment", "package p // the package\nvar x = 1 /* one */\n", 2},
		{"comment then code", "package p\n/* c */ var x = 1\n", 2},
		{"block comment inside code", "package p\nvar x = /* a\nb\n*/ 1\n", 3},
		{"raw string", "package p\nvar s = `a\n\n// not a comment\n`\n", 5},
		{"no final newline", "package p", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := count([]byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("count(%q) = %d, want %d", tc.src, got, tc.want)
			}
		})
	}
}

func TestCountBadSource(t *testing.T) {
	if _, err := count([]byte("package p\nvar s = `unterminated\n")); err == nil {
		t.Error("count of an unterminated raw string: no error")
	}
}

// TestCountDir checks that tests and other files are left out, that
// subdirectories count, and that a directory without Go files is an error.
func TestCountDir(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a.go":        "package a\n\nvar x = 1\n",
		"a_test.go":   "package a\n\nvar y = 2\n",
		"README.md":   "package a\n",
		"sub/b.go":    "package b\n// b\n",
		"empty/x.txt": "",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := countDir(dir); err != nil || n != 3 {
		t.Errorf("countDir = %d, %v; want 3, nil", n, err)
	}
	if _, err := countDir(filepath.Join(dir, "empty")); err == nil {
		t.Error("countDir of a directory without Go files: no error")
	}
	if _, err := countDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("countDir of a missing directory: no error")
	}
}
