package natsstream

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestGivenSetModel: the range set answers as a plain set of the same sequences does,
// and keeps its ranges sorted, apart and non-empty.
func TestGivenSetModel(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		g := &givenSet{}
		model := map[uint64]bool{}
		span := uint64(5 + rnd.IntN(200))
		for range rnd.IntN(300) {
			s := 1 + rnd.Uint64N(span)
			g.add(s)
			model[s] = true
		}
		for s := uint64(0); s <= span+2; s++ {
			if g.has(s) != model[s] {
				t.Fatalf("round %d: has(%d) = %v, want %v; ranges %v", round, s, g.has(s), model[s], g.r)
			}
		}
		for i, r := range g.r {
			if r[0] > r[1] || i > 0 && r[0] <= g.r[i-1][1]+1 {
				t.Fatalf("round %d: ranges %v not sorted and apart", round, g.r)
			}
		}
	}
}

// TestGivenSetBound: a set of many gaps keeps the newest maxGivenRanges ranges.
func TestGivenSetBound(t *testing.T) {
	g := &givenSet{}
	for i := uint64(1); i <= 2*maxGivenRanges; i++ {
		g.add(2 * i)
	}
	if len(g.r) != maxGivenRanges || !g.has(4*maxGivenRanges) || g.has(2) {
		t.Fatalf("%d ranges, first %v", len(g.r), g.r[0])
	}
}

// FuzzUnmarshalGiven: whatever parses writes back to the same text, and a set
// written parses back to itself; nothing panics.
func FuzzUnmarshalGiven(f *testing.F) {
	f.Add([]byte(givenMagic + "\nstream PANOPTES 1733400000000000000\n1-45\n47-90\n"))
	f.Add([]byte(givenMagic + "\nstream S 0\n"))
	f.Add([]byte(givenMagic + "\nstream S 5\n3-2\n"))
	f.Add([]byte("x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, g, err := unmarshalGiven(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not name the line", err)
			}
			return
		}
		out := g.marshal(id)
		id2, g2, err := unmarshalGiven(out)
		if err != nil || id2.name != id.name || !id2.created.Equal(id.created) || !reflect.DeepEqual(g2.r, g.r) {
			t.Fatalf("%q wrote %q, which parses to %v %v, %v", b, out, id2, g2, err)
		}
		for _, r := range g.r {
			if !g.has(r[0]) || !g.has(r[1]) || g.has(r[0]-1) {
				t.Fatalf("ranges %v: has is wrong at %v", g.r, r)
			}
		}
	})
}

// TestLoadGivenOtherStream: a state file of another stream, or a damaged one, is
// an empty set and a line saying so.
func TestLoadGivenOtherStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	g := &givenSet{}
	g.add(7)
	id := streamID{"PANOPTES", time.Unix(100, 5)}
	if err := saveGiven(path, id, g); err != nil {
		t.Fatal(err)
	}
	var logged []string
	logf := func(f string, a ...any) { logged = append(logged, f) }
	if got := loadGiven(path, id, logf); !got.has(7) || len(logged) != 0 {
		t.Fatalf("same stream: %v, logged %v", got.r, logged)
	}
	if got := loadGiven(path, streamID{"PANOPTES", time.Unix(100, 6)}, logf); got.has(7) || len(logged) != 1 {
		t.Fatalf("recreated stream: %v, logged %v", got.r, logged)
	}
	os.WriteFile(path, []byte(givenMagic+"\nstream PANOPTES 100000000005\n9-8\n"), 0o644)
	if got := loadGiven(path, id, logf); len(got.r) != 0 || len(logged) != 2 || !strings.Contains(logged[1], "%s: %v") {
		t.Fatalf("damaged file: %v, logged %v", got.r, logged)
	}
	if got := loadGiven(filepath.Join(t.TempDir(), "none"), id, logf); len(got.r) != 0 || len(logged) != 2 {
		t.Fatalf("missing file: %v, logged %v", got.r, logged)
	}
}

// TestConsumeStateAcrossRestart: a consumer whose acknowledgements the server lost
// (here: the durable consumer deleted and created again, so JetStream delivers the
// stream from its first message and counts each delivery as the first, as a new
// consumer leader does when the failed one had not replicated them) gives no record
// twice when its state file is kept. Before ConsumeOptions.StatePath, the restarted
// consumer gave all 2,500 records again (TestNATSClusterFailover failed in CI so:
// "45000 more than once").
func TestConsumeStateAcrossRestart(t *testing.T) {
	url := startNATS(t)
	tg, err := ParseURL(url + "/test.records?durable=archiver")
	if err != nil {
		t.Fatal(err)
	}
	if err := publishN(t, url+"/test.records", 0, 2500); err != nil {
		t.Fatal(err)
	}
	opts := ConsumeOptions{Logf: t.Logf, StatePath: filepath.Join(t.TempDir(), "nats-archiver.given")}
	if seqs := consumeWith(t, tg, opts, 2500); len(seqs) != 2500 || seqs[0] != 0 || seqs[2499] != 2499 {
		t.Fatalf("first run: %d records", len(seqs))
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteConsumer(context.Background(), DefaultStream, "archiver"); err != nil {
		t.Fatal(err)
	}
	if err := publishN(t, url+"/test.records", 2500, 2600); err != nil {
		t.Fatal(err)
	}
	seqs := consumeWith(t, tg, opts, 100)
	if len(seqs) != 100 || seqs[0] != 2500 || seqs[99] != 2599 {
		t.Fatalf("after the restart: %d records from %d (want 2500-2599)", len(seqs), seqs[0])
	}
}
