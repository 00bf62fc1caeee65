package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// updateFixtures rewrites the format fixtures. Only for a new format version, and then
// as new files beside the old ones: a fixture of a version panoptes still reads is never
// rewritten, or the test that reads it could no longer fail.
var updateFixtures = flag.Bool("update-fixtures", false, "write the format fixtures under testdata/ (see TestStreamFixtureV1)")

// fixtureRecords are the records of the format fixtures: random values in every field
// (zero included), labels, and management records with every counter and queues.
func fixtureRecords() []Record {
	rng := rand.New(rand.NewPCG(2026, 16))
	var recs []Record
	for i := range 60 {
		r := randomRecord(rng)
		if i%7 == 3 {
			r.SrcCountry, r.DstCountry, r.SrcAS, r.DstAS, r.Label = [2]byte{'U', 'S'}, [2]byte{'D', 'E'}, 15169, 3320, "web;google"
		}
		if r.Man != nil {
			r.Man.Future, r.Man.ClientsRefused, r.Man.ClientDrops = uint64(i), uint64(i+1), uint64(i+2)
			r.Man.Queues = r.Man.Queues[:min(len(r.Man.Queues), 2)] // two show the layout; more only add bytes
		}
		recs = append(recs, r)
	}
	return recs
}

// TestStreamFixtureV1 reads a record stream of format version 1 committed under
// testdata/ and compares its records with the expected ones (the JSON lines beside it): a
// change of the format (a field id renumbered, a wire type changed) that would make
// old files read wrong fails here. The fixture was made once, by
//
//	go test ./record -run TestStreamFixtureV1 -update-fixtures
//
// with the format as it was (field ids then assigned by iota); the stream holds two
// streams one after the other, as a writer that appended to the file leaves.
func TestStreamFixtureV1(t *testing.T) {
	stream, want := filepath.Join("testdata", "stream-v1.pnpt"), filepath.Join("testdata", "stream-v1.json")
	if *updateFixtures {
		recs := fixtureRecords()
		var b bytes.Buffer
		for _, part := range [][]Record{recs[:40], recs[40:]} {
			w, err := NewWriter(&b)
			if err != nil {
				t.Fatal(err)
			}
			for i := range part {
				if err := w.Write(&part[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		var js []byte // one record a line
		for i := range recs {
			l, err := json.Marshal(&recs[i])
			if err != nil {
				t.Fatal(err)
			}
			js = append(append(js, l...), '\n')
		}
		if err := os.WriteFile(stream, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(want, js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	js, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	var expected []Record
	for i, l := range bytes.Split(bytes.TrimSpace(js), []byte("\n")) {
		var r Record
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("%s: line %d: %v", want, i+1, err)
		}
		expected = append(expected, r)
	}
	f, err := os.Open(stream)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(f, stream)
	if err != nil {
		t.Fatal(err)
	}
	var got []Record
	for {
		var r Record
		err := rd.Read(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got) != len(expected) {
		t.Fatalf("%s: %d records, want %d", stream, len(got), len(expected))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], expected[i]) {
			t.Fatalf("%s: record %d:\n got %+v\nwant %+v", stream, i, got[i], expected[i])
		}
	}
}

// TestNewerStreamRefused: a stream of a format version past ours is refused with one
// line naming the file, the offset of its header and both versions, and never taken for
// damage: OpenAppend leaves such a file as it is, whether the newer stream comes first
// or was appended after ours.
func TestNewerStreamRefused(t *testing.T) {
	recs := fixtureRecords()[:5]
	stream := func() []byte {
		var b bytes.Buffer
		w, _ := NewWriter(&b)
		for i := range recs {
			w.Write(&recs[i])
		}
		w.Flush()
		return b.Bytes()
	}
	ours := stream()
	newer := stream()
	newer[4] = Version + 1
	for _, tc := range []struct {
		name string
		file []byte
		at   string
	}{
		{"first", newer, "stream-first: written by a newer panoptes"},
		{"appended", append(bytes.Clone(ours), newer...), "stream-appended at byte " + itoa(len(ours)) + ": written by a newer panoptes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stream-"+tc.name)
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			f, _ := os.Open(path)
			rd, err := NewReader(f, filepath.Base(path))
			var r Record
			for err == nil {
				err = rd.Read(&r)
			}
			f.Close()
			if !errors.Is(err, ErrNewer) || !errors.Is(err, ErrVersion) {
				t.Fatalf("want ErrNewer, got %v", err)
			}
			msg := err.Error()
			if !bytes.Contains([]byte(msg), []byte(tc.at)) || !bytes.Contains([]byte(msg), []byte("version 2, this panoptes reads up to 1")) ||
				bytes.Contains([]byte(msg), []byte("\n")) {
				t.Fatalf("want one line with %q and both versions, got %q", tc.at, msg)
			}
			w, _, err := OpenAppend(path)
			if err == nil {
				w.Close()
				t.Fatal("OpenAppend appended to a file holding a newer stream")
			}
			if !errors.Is(err, ErrNewer) {
				t.Fatalf("OpenAppend: want ErrNewer, got %v", err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, tc.file) {
				t.Fatalf("OpenAppend changed the file: %d bytes, was %d", len(b), len(tc.file))
			}
		})
	}
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// FuzzParseHeader: ParseHeader returns a schema or an error, never both, and never
// panics; a header AppendHeader wrote parses to this version's schema.
func FuzzParseHeader(f *testing.F) {
	f.Add(AppendHeader(nil))
	f.Add([]byte("PNPT\x02\x00\x09\x00\x00"))
	f.Fuzz(func(t *testing.T, h []byte) {
		wire, err := ParseHeader(h)
		if (wire == nil) == (err == nil) {
			t.Fatalf("schema %v and error %v", wire != nil, err)
		}
		if bytes.Equal(h, AppendHeader(nil)) && (err != nil || *wire != wireTypes) {
			t.Fatalf("our own header: %v", err)
		}
	})
}
