//go:build linux

package filewatch_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/go-sdevent/sdevent"
	"github.com/go-sdevent/sdevent/filewatch"
)

// A daemon reloads its configuration whenever it is saved, here twice by
// an "editor" that writes a new file and renames it over the old one (as
// vim and sed -i do, and a watch on the file itself would miss from the
// second save on).
func Example() {
	e, err := sdevent.New()
	if err != nil {
		log.Fatal(err)
	}
	defer e.Unref()
	dir, err := os.MkdirTemp("", "filewatch")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "app.conf")
	save := func(content string) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err == nil {
			_ = os.Rename(tmp, path)
		}
	}
	save("level=info")

	w, err := filewatch.Watch(e, path, func(w *filewatch.Watcher, exists bool, err error) {
		if err != nil { // the directory went away
			fmt.Println(err)
			_ = e.Exit(1)
			return
		}
		b, _ := os.ReadFile(w.Path())
		fmt.Printf("reload: %s (exists %v)\n", b, exists)
		if string(b) == "level=debug" {
			save("level=warn") // saved again: seen again
		} else {
			_ = e.Exit(0)
		}
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	first, err := e.AddDefer(func(*sdevent.Source) error { save("level=debug"); return nil })
	if err != nil {
		log.Fatal(err)
	}
	defer first.Unref()
	if _, err := e.Loop(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// reload: level=debug (exists true)
	// reload: level=warn (exists true)
}
