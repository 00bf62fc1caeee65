package natsstream

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// givenSet is the set of stream sequences whose records Consume gave (and, once
// saved, made durable): ranges of consecutive sequences, sorted and apart. A consumer
// reads a stream in order, so the set is a range or a few; a message redelivered
// because its acknowledgement was lost (with a cluster node that failed) is
// recognised by its sequence, also by a relay restarted since, when the set is kept
// in a file beside the output (ConsumeOptions.StatePath).
type givenSet struct {
	r []rng // [lo, hi], inclusive
}

// maxGivenRanges bounds the set: beyond it the oldest range is forgotten (its
// messages were acknowledged long ago). Gaps come only from messages Consume did not
// give (terminated, or deleted from the stream before it read them).
const maxGivenRanges = 1 << 14

// has reports whether seq was given.
func (g *givenSet) has(seq uint64) bool {
	i := sort.Search(len(g.r), func(i int) bool { return g.r[i][1] >= seq })
	return i < len(g.r) && g.r[i][0] <= seq
}

type rng = [2]uint64

// add puts seq into the set.
func (g *givenSet) add(seq uint64) {
	if n := len(g.r); n > 0 && g.r[n-1][1]+1 == seq { // the usual case: the next one
		g.r[n-1][1] = seq
		return
	}
	i := sort.Search(len(g.r), func(i int) bool { return g.r[i][0] > seq }) // first range after seq
	if i > 0 && g.r[i-1][1] >= seq {
		return // already there
	}
	prev := i > 0 && g.r[i-1][1]+1 == seq
	next := i < len(g.r) && g.r[i][0] == seq+1
	switch {
	case prev && next:
		g.r[i-1][1] = g.r[i][1]
		g.r = append(g.r[:i], g.r[i+1:]...)
	case prev:
		g.r[i-1][1] = seq
	case next:
		g.r[i][0] = seq
	default:
		g.r = append(g.r, rng{})
		copy(g.r[i+1:], g.r[i:])
		g.r[i] = rng{seq, seq}
	}
	if len(g.r) > maxGivenRanges {
		g.r = append(g.r[:0], g.r[1:]...)
	}
}

// givenMagic starts a state file; the format is text, a line per range.
const givenMagic = "panoptes-nats-given 1"

// streamID names one incarnation of a stream: a stream deleted and created again
// numbers its messages from 1 again, so a state file of the old one must not apply.
type streamID struct {
	name    string
	created time.Time
}

// marshal writes the state file's content: the magic line, the stream, then
// "LO-HI" per range.
func (g *givenSet) marshal(id streamID) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nstream %s %d\n", givenMagic, id.name, id.created.UnixNano())
	for _, r := range g.r {
		fmt.Fprintf(&b, "%d-%d\n", r[0], r[1])
	}
	return b.Bytes()
}

// unmarshalGiven parses a state file's content; an error names the line. The ranges
// must be sorted and apart, as marshal writes them.
func unmarshalGiven(b []byte) (streamID, *givenSet, error) {
	var id streamID
	g := &givenSet{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		switch line {
		case 1:
			if s != givenMagic {
				return id, nil, fmt.Errorf("line 1: not %q", givenMagic)
			}
			continue
		case 2:
			f := strings.Fields(s)
			if len(f) != 3 || f[0] != "stream" {
				return id, nil, fmt.Errorf("line 2: want \"stream NAME CREATED\", have %.40q", s)
			}
			ns, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				return id, nil, fmt.Errorf("line 2: creation time %.20q", f[2])
			}
			id = streamID{name: f[1], created: time.Unix(0, ns)}
			continue
		}
		los, his, ok := strings.Cut(s, "-")
		lo, err1 := strconv.ParseUint(los, 10, 64)
		hi, err2 := strconv.ParseUint(his, 10, 64)
		if !ok || err1 != nil || err2 != nil || lo == 0 || hi < lo {
			return id, nil, fmt.Errorf("line %d: want a range LO-HI, have %.40q", line, s)
		}
		if n := len(g.r); n > 0 && lo <= g.r[n-1][1]+1 {
			return id, nil, fmt.Errorf("line %d: range %d-%d not after %d-%d", line, lo, hi, g.r[n-1][0], g.r[n-1][1])
		}
		if len(g.r) == maxGivenRanges {
			return id, nil, fmt.Errorf("line %d: more than %d ranges", line, maxGivenRanges)
		}
		g.r = append(g.r, rng{lo, hi})
	}
	if err := sc.Err(); err != nil {
		return id, nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if line < 2 {
		return id, nil, fmt.Errorf("line %d: cut short", line+1)
	}
	return id, g, nil
}

// loadGiven reads the state file at path for the stream id. A missing file is an
// empty set; a damaged one, or one of another stream, is an empty set and a warning:
// the cost is that records whose acknowledgement was lost may come twice.
func loadGiven(path string, id streamID, logf func(string, ...any)) *givenSet {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &givenSet{}
	}
	if err != nil {
		logf("warning: %v; records redelivered by NATS may be stored again", err)
		return &givenSet{}
	}
	fid, g, err := unmarshalGiven(b)
	if err != nil {
		logf("warning: %s: %v (ignored); records redelivered by NATS may be stored again", path, err)
		return &givenSet{}
	}
	if fid.name != id.name || !fid.created.Equal(id.created) {
		logf("%s: for stream %s created %s, not this one (%s created %s): starting afresh", path,
			fid.name, fid.created.UTC().Format(time.RFC3339Nano), id.name, id.created.UTC().Format(time.RFC3339Nano))
		return &givenSet{}
	}
	return g
}

// saveGiven replaces the state file at path, durably: written beside, synced, renamed
// over, and the directory synced, so that after a crash the file is the old set or
// the new one.
func saveGiven(path string, id streamID, g *givenSet) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(g.marshal(id))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
