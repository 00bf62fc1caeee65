// Package index is the Panoptes archive: flow records in time-split, compressed,
// checksummed segment files (segment.go), and a Pebble index that lets a query read only
// the blocks that overlap its time range and may hold a record its filter matches.
//
// # Layout
//
//	ARCHIVE/
//	  SRCID/YYYY/MM/DD/HH.MM.SS.seg     one segment per source and span (default 5 min),
//	                                     named by the span's start (UTC)
//	  SRCID/YYYY/MM/DD/.HH.MM.SS.seg.tmp the segment being written; renamed when sealed
//	  index/                             the Pebble database
//
// # Index keys (Pebble), all integers big-endian so that keys sort by them
//
//	'm' "version"                               -> uint32: index format version (6)
//	'n'                                         -> uint64: the last segment id given out
//	's' segid(8)                                -> segment: srcid(4) span(8) flags(1) path
//	                                               flags: 1 sealed, 2 summarized (below)
//	't' bucket(8) segid(8) offset(8)            -> block: length(8) records(4) minStart(8) maxLast(8)
//	'l' segid(8) offset(8)                      -> block, as above: a block spanning 64 buckets or more
//	'b' segid(8) offset(8)                      -> block(28, as in 't') and its summary: kinds(1)
//	                                               protos(32) srcports(256) dstports(256), then
//	                                               the block's totals: flows spkts dpkts sbytes
//	                                               dbytes (uvarints; none before version 4)
//	                                               (summary.go)
//	'a' addr(16) segid(8)                       -> srcid records (uvarints) first(8) last-first
//	                                               (uvarint) blocks(uvarints...): the address
//	                                               index (hosts.go); versions 1 and 2 wrote
//	                                               'a' addr(16) srcid(4) segid(8) -> records(8)
//	                                               first(8) last(8) blocks, still read
//	'd' segid(8) offset(8)                      -> length(8): a damaged block left out of the index
//	                                               (recorded by rebuild and recovery, checked by Verify)
//
// A query with a filter (QueryFilter, blocksel.go) reads the blocks of its time range
// that may hold a match:
//
//	filter "host 192.0.2.7 and tcp"  ->  Terms: (addr ::ffff:192.0.2.7 and proto 6)
//	    'a' ::ffff:192.0.2.7 ...     ->  segment 12: blocks 4096, 300112; segment 40: ...
//	    'b' 12 4096, 12 300112, ...  ->  each block's time span (kept if it overlaps [t0, t1])
//	                                     and summary (kept if its protos hold 6)
//
// A filter without such a required address (or with one in a segment not summarized)
// takes the blocks of the time range from the 't' keys and checks each against the terms.
//
// A segment marked summarized (written by format version 2) has its blocks' lists in
// its 'a' entries once sealed, and a 'b' summary per indexed block; the blocks of other
// segments (version 1's, or unsealed ones for address terms) are selected by time only.
//
// A block appears under every time bucket (one minute of Unix time, the start time
// divided by 60 s) that its records' [start, last] spans touch, so a query for [t0, t1]
// scans the 't' keys of buckets floor(t0)..floor(t1) and finds every block that can hold
// a matching record, and no other. Records seldom span more than the status interval,
// so a block sits under one or two buckets; the rare block that spans an hour or more
// (a management record covering a whole import) is listed once under 'l', and every
// query checks that short list too.
//
// The index is derived data: Rebuild recreates it from the segments, and Verify checks
// the two agree. A segment's index entry is written before its file, and a block is
// indexed only after it is written and fsynced; on opening, a segment left unsealed by a
// writer that died is scanned, a torn block at its end is truncated (and logged), its
// complete blocks are indexed, and it is sealed. A segment file the index does not list
// (written by an older panoptes, which created the file first) is adopted the same way,
// or removed if its header was cut short. A reader does not recover (it does not
// write): it reads the complete blocks of unsealed segments past their last indexed one
// from the files themselves, and Verify, with no writer running, reports unsealed
// segments and unindexed blocks as the recovery they wait for.
//
// A damaged block is skipped by readers (logged and counted; an error with
// Options.Strict) and left out of the index by a rebuild, which records it under a 'd'
// key so that Verify then agrees and lists it. A damaged index file is an error of the
// call that met it, never a panic or an exit; RebuildIndex builds a new index beside
// it and swaps it in.
package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable/block"
	"github.com/cockroachdb/pebble/v2/vfs"

	"panoptes/record"
)

const (
	minFreeToWrite = 64 << 20
	indexVersion   = 6
	bucketNanos    = int64(time.Minute)
)

// Archive is an open archive directory.
type Archive struct {
	dir      string
	db       *pebble.DB
	fatal    *fatalLogger // what Pebble could not go on from
	logf     func(format string, args ...any)
	readOnly bool
	now      func() int64     // ns since the epoch; see trustedClock
	warned   map[uint64]bool  // segments whose index entry retention refused, noted once
	sizes    map[uint64]int64 // sizes of sealed segment files, for retention
	// warnedSnap: the snapshots directory is a symlink, noted once.
	warnedSnap bool
	strict     bool
	snapshot   bool     // read-only, opened a writer's snapshot: a writer is running
	snapLock   *os.File // the snapshot's directory, share-locked while this reader uses it
	// dirLock is the index directory, flocked while the index is open: exclusively by
	// a writer, shared by a reader of the index itself (not of a snapshot). Pebble's
	// own lock admits one process, reader or writer; this one tells a second reader
	// that the holder is a reader, so that it may read too (sharedIndex).
	dirLock  *os.File
	damageMu sync.Mutex // queries may run at once on one Archive
	// segs caches a read-only archive's segment entries: its index does not change
	// while it is open (a snapshot, or an index no writer may open meanwhile), and a
	// query reads them twice (blocksFor or blocksOf, then addUnindexed), which was a
	// seventh of the time to the first record of a narrow window over 7,000 segments.
	segsMu     sync.Mutex
	segs       []segment
	damage     DamageStats
	lastSelect SelectStats // of the last QueryFilter (blocksel.go), under damageMu

	unsealedOnce sync.Once // Host's note of unsealed segments
}

// Options for opening an archive.
type Options struct {
	ReadOnly bool
	// Logf receives one-line notes (recovery of a torn segment, retention, a damaged
	// block a query skipped). Nil: discarded.
	Logf func(format string, args ...any)
	// Strict makes a damaged block met by a query an error that ends the query; by
	// default the query logs it (file, offset, records lost), counts it in Damage, and
	// goes on with the next block.
	Strict bool
}

// DamageStats counts what queries skipped: blocks that failed their checksum or did not
// decode, and the records the index says they held.
type DamageStats struct {
	Blocks  int
	Records uint64
}

// Damage returns what the queries on this archive skipped so far.
func (a *Archive) Damage() DamageStats {
	a.damageMu.Lock()
	defer a.damageMu.Unlock()
	return a.damage
}

// IsArchive reports whether path names an archive: an existing directory, or a path
// ending in a slash (created on first write).
func IsArchive(path string) bool {
	if strings.HasSuffix(path, "/") {
		return true
	}
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// Open opens (creating if needed, unless read-only) the archive in dir and recovers
// segments left unsealed by a writer that stopped without closing them.
func Open(dir string, o Options) (*Archive, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if !o.ReadOnly {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("archive %s: %w", dir, err)
		}
	} else if fi, err := os.Stat(filepath.Join(dir, "index")); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("archive %s: no index (not an archive, or never written)", dir)
	}
	if err := notSymlink(filepath.Join(dir, "index")); err != nil {
		return nil, err
	}
	if !o.ReadOnly {
		// Pebble retries a write that fails for want of space rather than failing it,
		// which would hang the writer at start: refuse a nearly full disk up front.
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err == nil && st.Bavail*uint64(st.Bsize) < minFreeToWrite {
			return nil, fmt.Errorf("archive %s: only %d bytes free; writing needs at least %d (free space, or lower --retain-size)",
				dir, st.Bavail*uint64(st.Bsize), minFreeToWrite)
		}
	}
	var dirLock *os.File
	if !o.ReadOnly {
		// Held for the writer's life; readers of the index itself hold it shared, and
		// a reader that shares the index with them (sharedIndex) relies on no writer
		// starting while it reads: none can compact files away under it.
		if err := os.MkdirAll(filepath.Join(dir, "index"), 0o755); err != nil {
			return nil, fmt.Errorf("archive %s: %w", dir, err)
		}
		l, err := lockDir(filepath.Join(dir, "index"), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil {
			return nil, fmt.Errorf("archive %s: the index is held by another process (a writer, or a reader)", dir)
		}
		dirLock = l
	}
	logger := &fatalLogger{dir: dir, readOnly: o.ReadOnly}
	listener := corruptionIsAnError()
	var opened atomic.Bool // until Open returns, the damage reaches its caller as an error
	if !o.ReadOnly {
		listener = corruptionNoted(dir, o.Logf, &opened)
	}
	db, err := pebble.Open(filepath.Join(dir, "index"), tableOptions(&pebble.Options{ReadOnly: o.ReadOnly, Logger: logger, EventListener: listener, MaxOpenFiles: maxOpenFiles()}))
	snapshot := false
	var snapLock *os.File
	if err == nil && o.ReadOnly {
		// Shared: a writer cannot start while this reader reads, nor can a second
		// reader mistake this one for a writer. (If a writer holds it for the moment
		// between its lock and Pebble's, which it then fails to get, read without.)
		dirLock, _ = lockDir(filepath.Join(dir, "index"), syscall.LOCK_SH|syscall.LOCK_NB)
	}
	if err != nil && o.ReadOnly && isLocked(err) {
		// A writer holds the index: read the newest snapshot it published instead.
		db, snapLock, err = openSnapshot(dir, logger)
		snapshot = true
		if err != nil {
			// Or another reader holds it (no writer has the directory's lock): read the
			// index beside it. Or the writer has closed (and removed its snapshots)
			// since: the index itself may now be free.
			if db2, l, err2 := sharedIndex(dir, logger, listener); err2 == nil {
				db, err, snapshot, dirLock = db2, nil, false, l
			}
		}
	}
	if err != nil {
		if dirLock != nil {
			dirLock.Close()
		}
		if isLocked(err) {
			return nil, fmt.Errorf("archive %s: the index is held by another process writing to the archive", dir)
		}
		if pebble.IsCorruptionError(err) {
			return nil, indexErr(dir, err)
		}
		// Pebble's errors may run over several lines (one per table of a damaged
		// manifest): the user sees the first.
		return nil, fmt.Errorf("archive %s: opening the index: %w (panoptes index rebuild %s recreates it from the segments)", dir, oneLine{err}, dir)
	}
	if ferr := logger.err(); ferr != nil {
		db.Close()
		if snapLock != nil {
			snapLock.Close()
		}
		if dirLock != nil {
			dirLock.Close()
		}
		return nil, ferr
	}
	a := &Archive{dir: dir, db: db, fatal: logger, logf: o.Logf, readOnly: o.ReadOnly, strict: o.Strict, snapshot: snapshot,
		snapLock: snapLock, dirLock: dirLock, now: trustedClock(time.Now(), time.Now)}
	if err := a.checkVersion(); err != nil {
		a.closeDB()
		return nil, err
	}
	if !o.ReadOnly {
		if err := a.recover(); err != nil {
			err = a.failed(err)
			a.closeDB()
			return nil, err
		}
	}
	opened.Store(true)
	return a, nil
}

// indexBlockSize is the size of the index's table blocks (Pebble's default: 4 KiB).
const indexBlockSize = 16 << 10

// tableOptions sets how the index's tables are written: zstd-compressed blocks of
// indexBlockSize (Pebble's default is Snappy, 4 KiB). The address entries are nearly
// all of the index, and they compress far better so: on a sample of 2 M entries of the
// 100 M-record benchmark archive, 53.0 MB of tables against 67.9 MB (zstd in 4 KiB
// blocks: 57.1 MB). A lookup decompresses one 16 KiB block more slowly than a 4 KiB
// Snappy one, tens of microseconds: a query seeks a few hundred blocks at most. Every
// table records its own compression, so tables of either kind are read alike, and an
// index written before is rewritten this way as Pebble compacts it (or at once by
// `index rebuild`): not a change of the index format.
func tableOptions(o *pebble.Options) *pebble.Options {
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings {
		return pebble.UniformDBCompressionSettings(block.ZstdCompression)
	})
	for i := range o.Levels {
		o.Levels[i].BlockSize = indexBlockSize
	}
	// Every query opens the index and replays its MANIFEST, the log of the files
	// added and removed since the MANIFEST was started: Pebble starts a new one (the
	// current files alone) only past 128 MB by default. After a 100 M-record import it
	// held 285 KB of edits, whose replay was a quarter of the time to first record of a
	// narrow query (allocations and page faults); a new MANIFEST every 64 KB keeps it
	// to the current files (about 100 at that size) and a little history.
	o.MaxManifestFileSize = maxManifest
	return o
}

const maxManifest = 64 << 10

// indexMigrations upgrade an index of an older format version in place: entry v turns
// version v into v+1. A format change adds its step here (or, as the index is derived
// data, a step that rebuilds it from the segments), and a fixture of the old format
// under testdata/ that the tests open.
var indexMigrations = map[uint32]func(*Archive) error{
	// 1 -> 2 added block summaries ('b'), block lists in the address entries and the
	// segment flag "summarized". Version 1's entries are valid version 2 entries of
	// segments not summarized, whose blocks queries select by time only: nothing to
	// rewrite (a step that summarized them would read every segment when a writer
	// opens the archive). `panoptes index rebuild` summarizes them.
	1: func(*Archive) error { return nil },
	// 2 -> 3 wrote address entries without the source id in the key and with varints
	// in the value (hosts.go). Queries read entries of both layouts, told apart by the
	// key's length, so nothing is rewritten when a writer opens the archive (15 M
	// entries for 100 M records would be rewritten before the first record is
	// written); new segments get version 3 entries, and `panoptes index rebuild`
	// rewrites the old ones.
	2: func(*Archive) error { return nil },
	// 3 -> 4 ended block summaries with the block's totals (summary.go). A summary
	// without them is read as before, and its block is read by a count rather than
	// added from the index; new blocks get totals, and `panoptes index rebuild` adds
	// them to the old ones.
	3: func(*Archive) error { return nil },
	// 4 -> 5 changed no index entry: it marks the archive whose new segments are of
	// segment format version 2 (blocks of columns, segment.go), so that a panoptes that
	// reads only version 1 segments refuses the archive when it opens it, before any
	// query, rather than a segment at a time. Version 1 segments are read as they are;
	// `panoptes index rebuild` does not rewrite segments.
	4: func(*Archive) error { return nil },
	// 5 -> 6 changed no index entry either: new segments are of segment format version
	// 3 (blocks of columns split into three parts, segment.go), which a panoptes
	// of version 5 would refuse segment by segment. Version 1 and 2 segments are read
	// as they are.
	5: func(*Archive) error { return nil },
}

// checkVersion checks the index's format version ('m' "version"): a newer one is
// refused (ErrNewer) before anything is read or written; an older one is migrated by
// a writer, and read by a reader as far as indexMigrations allows. An index without the
// entry is an empty one a writer has not opened yet: a writer records the version.
func (a *Archive) checkVersion() error {
	name := filepath.Join(a.dir, "index")
	v, closer, err := a.db.Get([]byte("mversion"))
	if errors.Is(err, pebble.ErrNotFound) {
		if a.readOnly {
			return nil
		}
		return a.setVersion()
	}
	if err != nil {
		return a.failed(err)
	}
	if len(v) != 4 {
		closer.Close()
		return fmt.Errorf("%s: %w: format version entry of %d bytes, want 4 (panoptes index rebuild %s recreates the index)", name, ErrCorrupt, len(v), a.dir)
	}
	n := binary.BigEndian.Uint32(v)
	closer.Close()
	switch {
	case n > indexVersion:
		return fmt.Errorf("%s: %w: index format version %d, this panoptes reads up to %d (upgrade panoptes to read it)", name, ErrNewer, n, indexVersion)
	case n == indexVersion:
		return nil
	}
	for ; n < indexVersion; n++ {
		step, ok := indexMigrations[n]
		if !ok {
			return fmt.Errorf("%s: %w: index format version %d, which this panoptes cannot migrate (panoptes index rebuild %s recreates the index from the segments)",
				name, record.ErrVersion, n, a.dir)
		}
		if a.readOnly {
			continue // read as it is: each step's reader-side support is in the code
		}
		if err := step(a); err != nil {
			return fmt.Errorf("%s: migrating from format version %d: %w", name, n, a.failed(err))
		}
	}
	if a.readOnly {
		return nil
	}
	return a.setVersion()
}

// setVersion records the format version of the index this panoptes writes.
func (a *Archive) setVersion() error {
	if err := a.db.Set([]byte("mversion"), binary.BigEndian.AppendUint32(nil, indexVersion), pebble.Sync); err != nil {
		return a.failed(err)
	}
	return a.failed(nil)
}

// Close closes the index.
//
// A writable archive's memtable is flushed first: Pebble would otherwise keep the recent
// index entries only in its write-ahead log, and every later open — each query — would
// replay that log into a new memtable before reading anything (measured: 20–30 ms of
// a 50 ms time to first record, with a 1.8 MB log). On a nearly full disk the log is
// left to replay.
func (a *Archive) Close() error {
	// After a fatal error of Pebble nothing more is written to the index (the next
	// open replays or rebuilds it); the error is the archive's, and Close returns it.
	err := a.fatal.err()
	// Pebble retries a write that fails for want of space rather than failing it: flush
	// only with room for the memtable several times over, else leave the log to replay.
	var st syscall.Statfs_t
	if err == nil && !a.readOnly && syscall.Statfs(a.dir, &st) == nil &&
		st.Bavail*uint64(st.Bsize) >= minFreeToWrite+4*a.db.Metrics().MemTable.Size {
		if ferr := a.db.Flush(); ferr != nil {
			err = fmt.Errorf("archive %s: flushing the index: %w", a.dir, ferr)
		}
	}
	if cerr := a.closeDB(); err == nil {
		err = cerr
	}
	if !a.readOnly {
		// Readers now open the index itself: the snapshots, whose hard links would keep
		// files the next writer compacts away, go (but those a reader still holds).
		pruneSnapshots(a.dir, 0)
	}
	return err
}

// closeDB closes the index and lets go of the snapshot it was opened from.
func (a *Archive) closeDB() error {
	err := a.db.Close()
	if a.snapLock != nil {
		a.snapLock.Close() // releases the shared lock
		a.snapLock = nil
	}
	if a.dirLock != nil {
		a.dirLock.Close()
		a.dirLock = nil
	}
	return err
}

// sharedIndex opens the index itself for reading when Pebble's lock on it is taken:
// by another reader, which is safe to read beside (nothing changes the files of an
// index no writer has open), or by nobody any more. It refuses (so the caller reports
// the lock) when a writer holds the directory's lock, whose compactions could remove
// files under the reader. The directory's shared lock, returned, keeps a writer from
// starting until the reader closes.
func sharedIndex(dir string, logger pebble.Logger, listener *pebble.EventListener) (*pebble.DB, *os.File, error) {
	lock, err := lockDir(filepath.Join(dir, "index"), syscall.LOCK_SH|syscall.LOCK_NB)
	if err != nil {
		return nil, nil, err // a writer
	}
	db, err := pebble.Open(filepath.Join(dir, "index"), tableOptions(&pebble.Options{ReadOnly: true, Logger: logger, EventListener: listener,
		FS: noLockFS{vfs.Default}, MaxOpenFiles: maxOpenFiles()}))
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	return db, lock, nil
}

// Dir returns the archive directory.
func (a *Archive) Dir() string { return a.dir }

func isLocked(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || strings.Contains(err.Error(), "temporarily unavailable") ||
		strings.Contains(err.Error(), "lock held")
}

// Snapshots let queries run while a writer holds the index: the writer publishes a
// Pebble checkpoint (hard links, cheap) of the index every snapshotEvery, under
// ARCHIVE/snapshots/NANOS; a reader that finds the index locked opens the newest
// snapshot. A snapshot never changes, so a reader cannot meet a file compacted away
// under it; it is at most snapshotEvery behind the writer. A reader holds a shared
// flock on its snapshot's directory while it reads; the writer removes every snapshot
// but the newest few that it can lock exclusively (so none in use), and all of them
// when it closes. A snapshot's hard links keep index files the writer has compacted
// away, so old snapshots must not pile up: under a heavy writer they did, gigabytes
// within the minutes a time-based grace kept them.
var snapshotEvery = 5 * time.Second // a variable for tests

const (
	snapshotsKept = 3
)

// noLockFS is the default file system without the lock: several readers may open one
// snapshot, which nobody writes.
type noLockFS struct{ vfs.FS }

func (noLockFS) Lock(string) (io.Closer, error) { return io.NopCloser(nil), nil }

func snapshotDirs(dir string) []string {
	ents, _ := os.ReadDir(filepath.Join(dir, "snapshots"))
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, "snapshots", e.Name()))
		}
	}
	sort.Strings(out) // names are fixed-width nanoseconds: oldest first
	return out
}

// openSnapshot opens the newest snapshot it can lock (shared) and returns it with the
// locked directory, which the caller closes when done with the snapshot.
func openSnapshot(dir string, logger pebble.Logger) (*pebble.DB, *os.File, error) {
	snaps := snapshotDirs(dir)
	var err error = errors.New("no snapshot of the index yet (the writer publishes one every 5 s)")
	for i := len(snaps) - 1; i >= 0; i-- {
		lock, lerr := lockDir(snaps[i], syscall.LOCK_SH)
		if lerr != nil {
			continue // pruned since it was listed
		}
		var db *pebble.DB
		if db, err = pebble.Open(snaps[i], &pebble.Options{ReadOnly: true, Logger: logger, FS: noLockFS{vfs.Default}, EventListener: corruptionIsAnError(), MaxOpenFiles: maxOpenFiles()}); err == nil {
			return db, lock, nil
		}
		lock.Close()
	}
	return nil, nil, err
}

// lockDir opens a directory and flocks it (how: LOCK_SH, or LOCK_EX|LOCK_NB).
func lockDir(dir string, how int) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// pruneSnapshots removes all but the newest keep snapshots, except those a reader holds.
func pruneSnapshots(dir string, keep int) {
	if notSymlink(filepath.Join(dir, "snapshots")) != nil {
		return // pruning would delete in the symlink's target (see publishSnapshot)
	}
	snaps := snapshotDirs(dir)
	for i := 0; i < len(snaps)-keep; i++ {
		lock, err := lockDir(snaps[i], syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil {
			continue // a reader is using it: a later prune removes it
		}
		os.RemoveAll(snaps[i])
		lock.Close()
	}
}

// publishSnapshot checkpoints the index for readers and prunes old snapshots.
func (a *Archive) publishSnapshot() error {
	root := filepath.Join(a.dir, "snapshots")
	if err := notSymlink(root); err != nil {
		// Pruning would delete in the symlink's target: publish nothing, say so once,
		// and go on writing (queries during writing then wait for the writer).
		if !a.warnedSnap {
			a.warnedSnap = true
			a.logf("%v; no snapshots are published for queries during writing", err)
		}
		return nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	name := fmt.Sprintf("%020d", time.Now().UnixNano())
	tmp := filepath.Join(root, "."+name)
	if err := a.db.Checkpoint(tmp, pebble.WithFlushedWAL()); err != nil {
		os.RemoveAll(tmp) // a part-made snapshot (a full disk): nobody would remove it
		return fmt.Errorf("archive %s: snapshot of the index: %w", a.dir, err)
	}
	if err := os.Rename(tmp, filepath.Join(root, name)); err != nil {
		return err
	}
	pruneSnapshots(a.dir, snapshotsKept)
	return nil
}

// corruptionIsAnError keeps Pebble from calling its logger's Fatalf (which would stop the
// whole archive with ErrIndexFailed) when it finds a damaged index file: the read that found it
// returns the error, which the caller reports as damage of the index (indexErr).
func corruptionIsAnError() *pebble.EventListener {
	return &pebble.EventListener{DataCorruption: func(pebble.DataCorruptionInfo) {}}
}

// corruptionNoted is corruptionIsAnError for a writer, which also notes the damage once:
// Pebble may meet it in a background compaction, where no caller gets the error. The
// writer goes on writing segments, which a rebuild indexes.
func corruptionNoted(dir string, logf func(string, ...any), opened *atomic.Bool) *pebble.EventListener {
	var once sync.Once
	return &pebble.EventListener{DataCorruption: func(info pebble.DataCorruptionInfo) {
		if !opened.Load() {
			return
		}
		once.Do(func() {
			logf("archive %s: the index is damaged (%s); the segments are kept: run panoptes index rebuild %s once this writer stops",
				dir, firstLine(info.String()), dir)
		})
	}}
}

// indexErr turns an error of the index that is damage into one line naming the archive
// and the way out; other errors are returned as they are.
func (a *Archive) indexErr(err error) error { return indexErr(a.dir, err) }

func indexErr(dir string, err error) error {
	if err == nil || !pebble.IsCorruptionError(err) {
		return err
	}
	return fmt.Errorf("archive %s: %w: the index is damaged (%s); panoptes index rebuild %s recreates it from the segments",
		dir, ErrCorrupt, firstLine(err.Error()), dir)
}

// oneLine is an error shown by its first line only.
type oneLine struct{ err error }

func (e oneLine) Error() string { return firstLine(e.err.Error()) }
func (e oneLine) Unwrap() error { return e.err }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// ErrIndexFailed marks an error Pebble could not go on from (its logger's Fatalf: a
// commit to the index that failed halfway, a manifest that could not be written, a file
// of the index that vanished under a reader). The archive stops there: every operation
// after it returns the same error. The segment files are untouched, and the next
// writable open (or `panoptes index rebuild`) re-derives the index from them.
var ErrIndexFailed = errors.New("the index failed")

// fatalLogger is the Pebble logger of an archive. Pebble calls Fatalf where it cannot go
// on and expects the process to end; a library must not end it, so the first such error
// is recorded and returned by the archive's operations (err), which check it after every
// call into Pebble that can meet it. Pebble goes on after Fatalf returns (its own
// NoopLoggerAndTracer does the same); what it does afterwards is not trusted: the
// archive refuses further work.
type fatalLogger struct {
	dir      string
	readOnly bool
	failed   atomic.Pointer[error] // the first; an atomic load, as writers check per record
}

func (*fatalLogger) Infof(string, ...any)  {}
func (*fatalLogger) Errorf(string, ...any) {}
func (l *fatalLogger) Fatalf(format string, args ...any) {
	msg := firstLine(strings.TrimSpace(fmt.Sprintf(format, args...)))
	err := fmt.Errorf("archive %s: %w: the index cannot be written (%s); the segments written so far are kept and the next open re-indexes them",
		l.dir, ErrIndexFailed, msg)
	if l.readOnly {
		err = fmt.Errorf("archive %s: %w: the index could not be read (%s); run it again, and if it fails again, panoptes index rebuild %s recreates the index from the segments",
			l.dir, ErrIndexFailed, msg, l.dir)
	}
	l.failed.CompareAndSwap(nil, &err)
}

// err returns the error Pebble called fatal, if any.
func (l *fatalLogger) err() error {
	if l == nil {
		return nil
	}
	if p := l.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// failed returns the archive's fatal index error, if Pebble met one; else err, turned
// into one line if it is damage of the index (indexErr).
func (a *Archive) failed(err error) error {
	if ferr := a.fatal.err(); ferr != nil {
		return ferr
	}
	return a.indexErr(err)
}

// segment is an index entry for a segment file.
type segment struct {
	id     uint64
	srcid  uint32
	span   int64
	sealed bool
	// summarized: written by index format version 2 or later: its blocks have summaries
	// ('b' keys) and, once sealed, its address entries list their blocks.
	summarized bool
	path       string // relative to the archive directory
}

func segKey(id uint64) []byte { return binary.BigEndian.AppendUint64([]byte{'s'}, id) }

func encodeSegment(s *segment) []byte {
	b := binary.BigEndian.AppendUint32(nil, s.srcid)
	b = binary.BigEndian.AppendUint64(b, uint64(s.span))
	flags := byte(0)
	if s.sealed {
		flags |= 1
	}
	if s.summarized {
		flags |= 2
	}
	return append(append(b, flags), s.path...)
}

func decodeSegment(id uint64, v []byte) (segment, error) {
	if len(v) < 13 {
		return segment{}, fmt.Errorf("%w: index entry of segment %d is %d bytes", ErrCorrupt, id, len(v))
	}
	return segment{id: id, srcid: binary.BigEndian.Uint32(v), span: int64(binary.BigEndian.Uint64(v[4:])),
		sealed: v[12]&1 != 0, summarized: v[12]&2 != 0, path: string(v[13:])}, nil
}

func blockKey(bucket int64, segid uint64, off int64) []byte {
	k := binary.BigEndian.AppendUint64([]byte{'t'}, uint64(bucket))
	k = binary.BigEndian.AppendUint64(k, segid)
	return binary.BigEndian.AppendUint64(k, uint64(off))
}

func encodeBlock(b *BlockInfo) []byte {
	v := binary.BigEndian.AppendUint64(nil, uint64(b.Length))
	v = binary.BigEndian.AppendUint32(v, b.Records)
	v = binary.BigEndian.AppendUint64(v, uint64(b.MinStart))
	return binary.BigEndian.AppendUint64(v, uint64(b.MaxLast))
}

func bucketOf(ns int64) int64 {
	b := ns / bucketNanos
	if ns < 0 && ns%bucketNanos != 0 {
		b--
	}
	return b
}

// maxBuckets bounds the buckets a block is indexed under; a block whose records span
// longer (a management record covering a whole import, timestamps years apart in a
// damaged capture) goes on the short list of long blocks, which every query reads.
const maxBuckets = 64

func longKey(segid uint64, off int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte{'l'}, segid), uint64(off))
}

// indexBlock adds a block's keys, and its summary, to a batch.
func indexBlock(batch *pebble.Batch, segid uint64, b *BlockInfo, sum *blockSummary) error {
	if err := indexSummary(batch, segid, b, sum); err != nil {
		return err
	}
	v := encodeBlock(b)
	if bucketOf(b.MaxLast)-bucketOf(b.MinStart) >= maxBuckets {
		return batch.Set(longKey(segid, b.Offset), v, nil)
	}
	for k := bucketOf(b.MinStart); k <= bucketOf(b.MaxLast); k++ {
		if err := batch.Set(blockKey(k, segid, b.Offset), v, nil); err != nil {
			return err
		}
	}
	return nil
}

// segments lists the index's segments.
func (a *Archive) segments() ([]segment, error) {
	if !a.readOnly {
		return a.readSegments()
	}
	a.segsMu.Lock()
	defer a.segsMu.Unlock()
	if a.segs == nil {
		segs, err := a.readSegments()
		if err != nil {
			return nil, err
		}
		a.segs = segs
	}
	return slices.Clone(a.segs), nil
}

// readSegments reads every segment entry of the index.
func (a *Archive) readSegments() ([]segment, error) {
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'s'}, UpperBound: []byte{'t'}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []segment
	for it.First(); it.Valid(); it.Next() {
		id := binary.BigEndian.Uint64(it.Key()[1:])
		s, err := decodeSegment(id, it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, it.Error()
}

// nextSegmentID takes the next segment id: it adds the counter's new value to batch,
// which the caller commits (with the segment's index entry, in one sync).
func (a *Archive) nextSegmentID(batch *pebble.Batch) (uint64, error) {
	v, closer, err := a.db.Get([]byte{'n'})
	var n uint64
	if err == nil {
		n = binary.BigEndian.Uint64(v)
		closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return 0, err
	}
	n++
	return n, batch.Set([]byte{'n'}, binary.BigEndian.AppendUint64(nil, n), nil)
}

// segmentPath returns the relative path of a segment of srcid starting at span.
func segmentPath(srcid uint32, span int64) string {
	t := time.Unix(0, span).UTC()
	return filepath.Join(fmt.Sprint(srcid), t.Format("2006/01/02"), t.Format("15.04.05")+".seg")
}

func tmpPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
}

// recover seals segments that a writer left open: their torn last block is truncated,
// their complete blocks are (re)indexed, and they are renamed to their final name.
func (a *Archive) recover() error {
	segs, err := a.segments()
	if err != nil {
		return err
	}
	indexed := map[uint64]bool{}
	for _, s := range segs {
		indexed[s.id] = true
		if s.sealed {
			continue
		}
		if err := checkSegmentPath(s.path); err != nil {
			// Planted or damaged: nothing of the archive's to recover there.
			a.logf("archive %s: index entry of unsealed segment %d: %v; left alone (index rebuild recreates the index from the segment files)", a.dir, s.id, err)
			continue
		}
		if err := a.sealRecovered(s); err != nil {
			return err
		}
	}
	// A segment file the index does not list: an archive written by an older panoptes,
	// which created the file before its index entry and could die in between. Adopt it.
	files, err := a.segmentFiles()
	if err != nil {
		return err
	}
	for _, s := range files {
		if indexed[s.id] || s.sealed {
			continue
		}
		if err := a.sealRecovered(s); err != nil {
			return err
		}
	}
	return nil
}

func (a *Archive) sealRecovered(s segment) error {
	tmp := filepath.Join(a.dir, tmpPath(s.path))
	f, err := a.openFile(tmpPath(s.path), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if _, ferr := a.statFile(s.path); ferr == nil {
			// Died between publishing the file and marking it sealed: finish the job.
			return a.reindexSealed(s)
		}
		// Never created (died before the file existed): forget the entry.
		return a.db.Delete(segKey(s.id), pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("recovering %s: %w", tmp, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("recovering %s: %w", tmp, err)
	}
	sh, herr := readSegmentHeader(f, tmp)
	if herr != nil && !errors.Is(herr, ErrCorrupt) {
		// A newer format (or an unknown one) is not a header cut short: refuse it,
		// and leave it as it is.
		return fmt.Errorf("recovering: %w", herr)
	}
	if (herr != nil || fi.Size() < sh.size) && nextBlock(f, 0) < 0 {
		// Died while writing the header: the segment holds no block, nothing was
		// acknowledged from it. (A damaged header before whole blocks is not removed:
		// the blocks are indexed past it, below.)
		a.logf("archive: %s: removing a segment whose header was cut short (%d bytes)", tmp, fi.Size())
		if err := a.removeFile(tmpPath(s.path)); err != nil {
			return fmt.Errorf("recovering %s: %w", tmp, err)
		}
		return a.db.Delete(segKey(s.id), pebble.Sync)
	}
	if herr == nil {
		s.srcid, s.span = sh.srcid, sh.spanStart
	} else if src, span, ok := segmentFromPath(s.path); ok && s.span == 0 && s.srcid == 0 {
		s.srcid, s.span = src, span // adopted without an index entry: the name says it
	}
	batch := a.db.NewBatch()
	defer batch.Close()
	as, _, end, scanErr := a.indexSegmentFile(batch, s.id, f, tmp)
	if scanErr != nil && !isDamage(scanErr) {
		return fmt.Errorf("recovering %s: %w", tmp, scanErr)
	}
	if scanErr != nil {
		a.logf("archive: %s: keeping %d bytes of complete blocks, truncating a torn block at byte %d (%v; file was %d bytes)",
			tmp, end, end, scanErr, fi.Size())
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("truncating %s at byte %d: %w", tmp, end, err)
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	s.sealed, s.summarized = true, true
	if err := a.renameFile(tmpPath(s.path), s.path); err != nil {
		return fmt.Errorf("sealing %s: %w", tmp, err)
	}
	if err := indexAddrs(batch, s.srcid, s.id, as); err != nil {
		return err
	}
	if err := batch.Set(segKey(s.id), encodeSegment(&s), nil); err != nil {
		return err
	}
	return batch.Commit(pebble.Sync)
}

// indexSegmentFile adds the block keys of a segment file's complete blocks to batch and
// collects its addresses. It returns where the complete blocks end, and the error that
// stopped the scan early (a torn or damaged block), if any.
//
// A damaged block followed by complete ones (changed bytes, not a torn tail) is left out
// of the index and logged, and the blocks after it are indexed: a repair never throws
// away complete blocks.
func (a *Archive) indexSegmentFile(batch *pebble.Batch, segid uint64, f *os.File, path string) (as addrSet, st RebuildStats, end int64, err error) {
	as = addrSet{}
	end, err = scanSegmentKeeping(f, path, func(info BlockInfo, raw []byte, wire *[256]int8) error {
		st.Blocks++
		st.Records += int(info.Records)
		var sum blockSummary
		if err := summarizeBlock(as, &sum, raw, info.Columns, wire, info.Offset, path); err != nil {
			return err
		}
		return indexBlock(batch, segid, &info, &sum)
	}, func(off, next int64, err error) {
		st.Damaged++
		a.logf("archive: %s: skipping a damaged block at byte %d (%d bytes, %v); the blocks from byte %d on are kept",
			path, off, next-off, err, next)
		if derr := batch.Set(damageKey(segid, off), binary.BigEndian.AppendUint64(nil, uint64(next-off)), nil); derr != nil {
			a.logf("archive: %s: recording the damaged block at byte %d: %v", path, off, derr)
		}
	})
	return as, st, end, err
}

// isDamage says whether err is damage of a segment (ErrCorrupt, or a record in it that
// does not decode), which recovery and rebuild may cut off a segment's tail; an error
// of another kind (a newer format, an I/O error) leaves the file alone.
func isDamage(err error) bool {
	return !errors.Is(err, ErrNewer) && (errors.Is(err, ErrCorrupt) || errors.Is(err, record.ErrCorrupt))
}

// damageKey is the key recording a damaged block: verify then knows the damage as
// recorded, and an index rebuilt around it agrees with its segments.
func damageKey(segid uint64, off int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte{'d'}, segid), uint64(off))
}

// reindexSealed indexes a published segment's blocks and addresses and marks it sealed.
func (a *Archive) reindexSealed(s segment) error {
	path := filepath.Join(a.dir, s.path)
	f, err := a.openFile(s.path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("recovering %s: %w", path, err)
	}
	defer f.Close()
	batch := a.db.NewBatch()
	defer batch.Close()
	as, _, _, err := a.indexSegmentFile(batch, s.id, f, path)
	if err != nil {
		return fmt.Errorf("recovering %s: %w", path, err)
	}
	s.sealed, s.summarized = true, true
	if err := indexAddrs(batch, s.srcid, s.id, as); err != nil {
		return err
	}
	if err := batch.Set(segKey(s.id), encodeSegment(&s), nil); err != nil {
		return err
	}
	return batch.Commit(pebble.Sync)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Query calls fn for every record of the archive that passes match and whose time span
// intersects [t0, t1] (ns, inclusive), in order of start time. It reads only the blocks
// the time index lists for those buckets.
//
// The record passed to fn is valid only until fn returns: its storage is reused for
// later records (as a stream reader's is), so fn copies what it keeps. fn is called
// from one goroutine at a time; match is called from several at once (it runs where the
// blocks are decoded) and must be safe for that, as a compiled filter is.
func (a *Archive) Query(t0, t1 int64, match func(*record.Record) bool, fn func(*record.Record) error) error {
	if err := a.fatal.err(); err != nil {
		return err
	}
	blocks, err := a.rangeBlocks(t0, t1)
	// Pebble may call a file that vanished under a reader (a snapshot removed under a
	// long query) fatal: its iterators then end early, and the answer is not whole.
	if err := a.failed(err); err != nil {
		return err
	}
	return a.readBlocks(blocks, func(r *record.Record) bool {
		return r.StartTime <= t1 && r.LastTime >= t0 && (match == nil || match(r))
	}, fn)
}

// Scan calls fn for every record of the archive that passes match, in order of start
// time, reading every block (the brute-force path Query is checked against).
func (a *Archive) Scan(match func(*record.Record) bool, fn func(*record.Record) error) error {
	return a.Query(-1<<62, 1<<62, match, fn)
}

// rangeBlocks returns the blocks that may hold a record of [t0, t1]: those the time
// index lists, and for a reader those of unsealed segments not indexed yet.
func (a *Archive) rangeBlocks(t0, t1 int64) ([]blockRef, error) {
	blocks, err := a.blocksFor(t0, t1)
	if err == nil && a.readOnly {
		blocks, err = a.addUnindexed(blocks, t0, t1)
	}
	return blocks, err
}

// addUnindexed adds to blocks the complete blocks of unsealed segments that the index
// does not list and that overlap [t0, t1]. A writer indexes a block after writing it,
// without syncing the index, so after a crash or a kill the index may lag its unsealed
// segments by many blocks until a writable open recovers them; a reader does not
// recover (it does not write), but reads those blocks from the segment itself. While a
// writer runs it finds the blocks written since the snapshot it reads.
func (a *Archive) addUnindexed(blocks []blockRef, t0, t1 int64) ([]blockRef, error) {
	segs, err := a.segments()
	if err != nil {
		return nil, err
	}
	have := make(map[[2]uint64]bool, len(blocks))
	for _, b := range blocks {
		have[[2]uint64{b.seg.id, uint64(b.info.Offset)}] = true
	}
	for _, s := range segs {
		if s.sealed {
			continue
		}
		infos, err := a.unsealedBlocks(s)
		if err != nil {
			return nil, err
		}
		for _, info := range infos {
			if !have[[2]uint64{s.id, uint64(info.Offset)}] && info.MinStart <= t1 && info.MaxLast >= t0 {
				blocks = append(blocks, blockRef{seg: s, info: info})
			}
		}
	}
	return blocks, nil
}

// unsealedBlocks lists the complete blocks of an unsealed segment from their headers
// (readBlocks checks the payloads). The walk ends at the file's end or at a torn block
// (a writer killed, or still writing, mid-block); if complete blocks follow what stopped
// it (damage, not a torn tail), the reader cannot find them without recovery and says so.
func (a *Archive) unsealedBlocks(s segment) ([]BlockInfo, error) {
	f, err := a.openSegment(s)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // the entry comes before the file; or retention removed it
	}
	if err != nil {
		return nil, fmt.Errorf("archive: segment %d: %w", s.id, err)
	}
	defer f.Close()
	infos, end, err := walkBlockHeaders(f, f.Name())
	if errors.Is(err, ErrNewer) {
		return nil, err // not a torn tail: blocks this panoptes cannot read
	}
	if err != nil && !a.snapshot && nextBlock(f, end+1) >= 0 {
		a.logf("warning: %s: unsealed segment not readable past byte %d (%v); the archive needs recovery (panoptes index verify --repair)",
			f.Name(), end, err)
	}
	return infos, nil
}

type blockRef struct {
	seg  segment
	info BlockInfo
}

// blocksFor returns the distinct blocks indexed under the buckets of [t0, t1] whose
// time span overlaps it.
func (a *Archive) blocksFor(t0, t1 int64) ([]blockRef, error) {
	segs, err := a.segments()
	if err != nil {
		return nil, err
	}
	byID := make(map[uint64]segment, len(segs))
	for _, s := range segs {
		byID[s.id] = s
	}
	lo := []byte{'t'}
	hi := []byte{'u'}
	if t0 > -1<<62 {
		lo = blockKey(bucketOf(t0), 0, 0)
	}
	if t1 < 1<<62 {
		hi = blockKey(bucketOf(t1)+1, 0, 0)
	}
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	seen := map[[2]uint64]bool{}
	var out []blockRef
	long, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'l'}, UpperBound: []byte{'m'}})
	if err != nil {
		return nil, err
	}
	defer long.Close()
	for _, iter := range []*pebble.Iterator{long, it} {
		for iter.First(); iter.Valid(); iter.Next() {
			ref, ok, err := a.blockRef(iter.Key(), iter.Value(), t0, t1, byID, seen)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, ref)
			}
		}
		if err := iter.Error(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// blockRef decodes one index entry ('t' or 'l' key) and reports whether it is a block
// not seen yet that overlaps [t0, t1].
func (a *Archive) blockRef(k, v []byte, t0, t1 int64, byID map[uint64]segment, seen map[[2]uint64]bool) (blockRef, bool, error) {
	{
		if (k[0] == 't' && len(k) != 25) || (k[0] == 'l' && len(k) != 17) || len(v) != 28 {
			return blockRef{}, false, fmt.Errorf("archive %s: %w: index entry of %d/%d bytes", a.dir, ErrCorrupt, len(k), len(v))
		}
		segid, off := binary.BigEndian.Uint64(k[len(k)-16:]), int64(binary.BigEndian.Uint64(k[len(k)-8:]))
		if seen[[2]uint64{segid, uint64(off)}] {
			return blockRef{}, false, nil
		}
		seen[[2]uint64{segid, uint64(off)}] = true
		info := BlockInfo{Offset: off, Length: int64(binary.BigEndian.Uint64(v)), Records: binary.BigEndian.Uint32(v[8:]),
			MinStart: int64(binary.BigEndian.Uint64(v[12:])), MaxLast: int64(binary.BigEndian.Uint64(v[20:]))}
		if info.MinStart > t1 || info.MaxLast < t0 {
			return blockRef{}, false, nil
		}
		s, ok := byID[segid]
		if !ok {
			return blockRef{}, false, fmt.Errorf("archive %s: %w: block of unknown segment %d", a.dir, ErrCorrupt, segid)
		}
		return blockRef{seg: s, info: info}, true, nil
	}
}

// readBlocks reads the blocks, keeps the records keep accepts, and passes them to fn in
// order of start time (then source, then sequence number). It streams: blocks are read
// in order of their earliest start time, and a record goes out as soon as no block still
// to be read can hold an earlier one (every record of a block starts at or after the
// block's MinStart), so memory holds only the records of blocks that overlap in time,
// and the first record leaves after the first blocks are read. The blocks are
// decompressed and decoded on every core (parread.go); fn runs on the caller's
// goroutine, one record at a time, and keep on the workers.
//
// A damaged block (checksum, decompression or record framing) is skipped, logged and
// counted, and the next block is read: one flipped bit costs the records of its block,
// not those of every later block. With Strict it ends the query with the error.
func (a *Archive) readBlocks(blocks []blockRef, keep func(*record.Record) bool, fn func(*record.Record) error) error {
	return a.readBlocksParallel(blocks, readSpec{keep: keep, fields: record.AllFields, ordered: true}, fn)
}

func sortBlocks(blocks []blockRef) {
	sort.Slice(blocks, func(i, j int) bool {
		if blocks[i].info.MinStart != blocks[j].info.MinStart {
			return blocks[i].info.MinStart < blocks[j].info.MinStart
		}
		if blocks[i].seg.id != blocks[j].seg.id {
			return blocks[i].seg.id < blocks[j].seg.id
		}
		return blocks[i].info.Offset < blocks[j].info.Offset
	})
}

// damaged handles a block that failed to read: with Strict, or for an error other than
// damage (an I/O error), it is returned; else it is logged and counted, and nil returned.
func (a *Archive) damaged(name string, b blockRef, err error) error {
	if a.strict || !errors.Is(err, ErrCorrupt) && !errors.Is(err, record.ErrCorrupt) {
		return err
	}
	a.damageMu.Lock()
	a.damage.Blocks++
	a.damage.Records += uint64(b.info.Records)
	a.damageMu.Unlock()
	a.logf("warning: %s: damaged block at byte %d skipped, %d records lost (%v); reading goes on with the next block (index verify lists the damage, --strict makes it an error)",
		name, b.info.Offset, b.info.Records, err)
	return nil
}

// maxSegFiles bounds the segment files a query holds open at once: an archive has
// thousands of segments, and a full scan must not run out of file descriptors.
const maxSegFiles = 64

// segFiles opens the segment files of a query's blocks as they are needed, closes each
// after its last block, and keeps at most maxSegFiles open.
type segFiles struct {
	a       *Archive
	open    map[uint64]*os.File
	wire    map[uint64]*[256]int8 // segment id -> its field schema (nil: damaged header)
	last    map[uint64]int        // segment id -> index of its last block
	skipped map[uint64]bool
}

func newSegFiles(a *Archive, blocks []blockRef) *segFiles {
	sf := &segFiles{a: a, open: map[uint64]*os.File{}, wire: map[uint64]*[256]int8{}, last: map[uint64]int{}, skipped: map[uint64]bool{}}
	for i, b := range blocks {
		sf.last[b.seg.id] = i
	}
	return sf
}

// get returns the open file of block i's segment, or nil (and no error) if the segment
// is gone from a read-only archive.
func (sf *segFiles) get(i int, b blockRef) (*os.File, error) {
	if f := sf.open[b.seg.id]; f != nil {
		return f, nil
	}
	if sf.skipped[b.seg.id] {
		return nil, nil
	}
	if len(sf.open) >= maxSegFiles {
		for id, f := range sf.open { // any: a file closed too early is opened again
			f.Close()
			delete(sf.open, id)
			break
		}
	}
	f, err := sf.a.openSegment(b.seg)
	if errors.Is(err, os.ErrNotExist) && sf.a.readOnly {
		// A reader sees the index as it was when it opened; a writer's retention
		// may have deleted the segment since. It is no longer in the archive, so
		// it is not in the answer either (index verify tells a lost file apart).
		sf.a.logf("archive: %s is gone (removed by retention during the query?); skipped", b.seg.path)
		sf.skipped[b.seg.id] = true
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("archive: segment %d: %w", b.seg.id, err)
	}
	// The header gives the field schema the blocks decode with. A newer format is an
	// error of the query (its blocks would look damaged); a damaged header is not: the
	// blocks need nothing from it but the schema, and this version's is taken.
	sh, err := readSegmentHeader(f, f.Name())
	if err != nil && !errors.Is(err, ErrCorrupt) {
		f.Close()
		return nil, err
	}
	sf.open[b.seg.id], sf.wire[b.seg.id] = f, sh.wire
	return f, nil
}

// done closes block i's segment file if no later block is in it.
func (sf *segFiles) done(i int, b blockRef) {
	if f := sf.open[b.seg.id]; f != nil && sf.last[b.seg.id] == i {
		f.Close()
		delete(sf.open, b.seg.id)
	}
}

func (sf *segFiles) closeAll() {
	for _, f := range sf.open {
		f.Close()
	}
}

// openSegment opens a segment's file under the name the index gives it, or under the
// other one (a writer sealed, renamed, it since the index was read).
func (a *Archive) openSegment(s segment) (*os.File, error) {
	first, second := s.path, tmpPath(s.path)
	if !s.sealed {
		first, second = second, first
	}
	f, err := a.openFile(first, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		f, err = a.openFile(second, os.O_RDONLY, 0)
	}
	return f, err
}

// maxOpenFiles bounds the index's table cache to a quarter of the process's descriptor
// limit (Pebble's default, 1000, is about all of a default limit of 1024), so that the
// index cannot take the descriptors the segments, capture sockets and clients need.
func maxOpenFiles() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur == 0 {
		return 256
	}
	return int(min(1000, max(16, l.Cur/4)))
}
