package index

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"panoptes/internal/cli"
)

// Main is `panoptes index rebuild|verify ARCHIVE`: maintenance of an archive's time index.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("index", "rebuild ARCHIVE | verify [--repair] ARCHIVE", stderr)
	repair := fs.Bool("repair", false, "verify: rebuild the index if it disagrees with the segments or cannot be read")
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 || (rest[0] != "rebuild" && rest[0] != "verify") {
		return cli.Usagef("want `rebuild ARCHIVE` or `verify [--repair] ARCHIVE`")
	}
	dir := rest[1]
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || !looksLikeArchive(dir) {
		return cli.Usagef("%s is not an archive directory (no index and no segment files)", dir)
	}
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "panoptes index: "+format+"\n", args...) }
	rebuild := func() error {
		progress := terminalProgress(stdout, stderr)
		st, err := RebuildIndex(dir, Options{Logf: logf}, progress)
		if progress != nil {
			fmt.Fprintln(stderr)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rebuilt the index of %s: %d segments, %d blocks, %d records (%d torn blocks truncated, %d damaged blocks skipped)\n",
			dir, st.Segments, st.Blocks, st.Records, st.Truncated, st.Damaged)
		return nil
	}
	if rest[0] == "rebuild" {
		return rebuild()
	}
	// verify only reads (it works on a full disk or while a writer runs); with --repair,
	// an index that cannot be opened or read, or that disagrees, is rebuilt.
	err = verify(dir, logf, stdout)
	if err != nil && *repair && !errors.Is(err, ErrNewer) {
		fmt.Fprintf(stderr, "panoptes index: %v; rebuilding the index\n", err)
		return rebuild()
	}
	return err
}

// verify compares the index with the segments and prints each difference.
func verify(dir string, logf func(string, ...any), stdout io.Writer) error {
	a, err := Open(dir, Options{Logf: logf, ReadOnly: true})
	if err != nil {
		return err
	}
	defer a.Close()
	diffs, err := a.Verify()
	if err != nil {
		return err
	}
	for _, d := range diffs {
		fmt.Fprintln(stdout, d)
	}
	if len(diffs) == 0 {
		return agrees(a, dir, stdout)
	}
	return fmt.Errorf("%s: %d differences between the index and the segments (--repair rebuilds the index)", dir, len(diffs))
}

// agrees says that the index agrees with the segments, and lists the damaged blocks it
// records as lost: they are known, not a difference, but an operator should see them.
func agrees(a *Archive, dir string, stdout io.Writer) error {
	damaged, err := a.RecordedDamage()
	if err != nil {
		return err
	}
	for _, d := range damaged {
		fmt.Fprintf(stdout, "segment %s: damaged block at byte %d (%d bytes) is left out of the index; its records are lost\n", d.Path, d.Offset, d.Length)
	}
	if len(damaged) > 0 {
		fmt.Fprintf(stdout, "%s: the index agrees with the segments (%d damaged blocks recorded)\n", dir, len(damaged))
		return nil
	}
	fmt.Fprintf(stdout, "%s: the index agrees with the segments\n", dir)
	return nil
}

// terminalProgress returns a progress reporter drawing one line on stderr when stdout
// and stderr are terminals, else nil.
func terminalProgress(stdout, stderr io.Writer) func(done, total int) {
	w := cli.ProgressWriter(stdout, stderr)
	if w == nil {
		return nil
	}
	return func(done, total int) {
		fmt.Fprintf(w, "\r\033[Krebuilding the index: %d/%d segments (%.0f%%)", done, total, 100*float64(done)/float64(max(total, 1)))
	}
}

// looksLikeArchive says whether dir holds an archive's index or at least one segment
// file, so that rebuild recreates a lost index but does not make an archive of any
// directory it is pointed at.
func looksLikeArchive(dir string) bool {
	if fi, err := os.Stat(filepath.Join(dir, "index")); err == nil && fi.IsDir() {
		return true
	}
	found := false
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: look at the rest
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".seg") || strings.HasSuffix(path, ".seg.tmp")) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}
