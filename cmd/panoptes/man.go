package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"panoptes/internal/buildinfo"
	"panoptes/internal/cli"
	"panoptes/internal/mangen"
)

// manCommand is the hidden command `make man` runs: `panoptes __man DIR` writes
// DIR/man1/panoptes.1, DIR/man1/panoptes-COMMAND.1 for each command and
// DIR/man7/panoptes-filter.7, from the text --help prints.
const manCommand = "__man"

func writeMan(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "panoptes %s: want one directory\n", manCommand)
		return cli.ExitUsage
	}
	if err := manPages(args[0]); err != nil {
		fmt.Fprintf(stderr, "panoptes %s: %v\n", manCommand, err)
		return cli.ExitUsage
	}
	return cli.ExitOK
}

// manDate is the pages' date: SOURCE_DATE_EPOCH if set (reproducible builds), else the
// date of the commit built, else today.
func manDate(in buildinfo.Info) string {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC().Format(time.DateOnly)
		}
	}
	if t, err := time.Parse(time.RFC3339, in.Time); err == nil {
		return t.UTC().Format(time.DateOnly)
	}
	return time.Now().UTC().Format(time.DateOnly)
}

func manPages(dir string) error {
	in := buildinfo.Read()
	m := mangen.Meta{Date: manDate(in), Version: "panoptes " + buildinfo.Label(in.Version)}
	for _, sub := range []string{"man1", "man7"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	write := func(path string, gen func(io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, path))
		if err != nil {
			return err
		}
		if err := gen(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	var entries, extra []mangen.Entry
	for _, n := range names() {
		c, err := describe(n)
		if err != nil {
			return err
		}
		entries = append(entries, mangen.Entry{Name: n, Summary: commands[n].summary})
		if err := write(filepath.Join("man1", mangen.PageName(n)+".1"), func(w io.Writer) error { return mangen.Command(w, c, m) }); err != nil {
			return err
		}
	}
	for _, b := range builtins {
		extra = append(extra, mangen.Entry{Name: b.name, Summary: b.summary})
	}
	if err := write(filepath.Join("man1", "panoptes.1"), func(w io.Writer) error {
		return mangen.Overview(w, "network audit sensor: packets to bidirectional flow records, and Argus-style tools", entries, extra, m)
	}); err != nil {
		return err
	}
	return write(filepath.Join("man7", "panoptes-filter.7"), func(w io.Writer) error {
		return mangen.Text(w, "panoptes-filter", 7, filterHelp, m)
	})
}
