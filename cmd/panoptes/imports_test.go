package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestImportRules keeps the dependency direction of the design: packets -> sensor ->
// record -> archive -> tools. An import against these rules fails the test.
func TestImportRules(t *testing.T) {
	// For each package (path prefix), the packages of ours it must not import.
	forbidden := map[string][]string{
		"record":  {"panoptes/"}, // a leaf: imported by sensor and tools alike
		"ringbuf": {"panoptes/"},
		"metrics": {"panoptes/"}, // Prometheus exposition over a snapshot the sensor fills
		"xdp":     {"panoptes/"}, // but capture: see allowed
		// The capture interface is a leaf; the sources (AF_PACKET here, AF_XDP in xdp)
		// know nothing of flows or records; the fake source is for tests.
		"capture":  {"panoptes/"},
		"afpacket": {"panoptes/"},
		"index":    {"panoptes/sensor", "panoptes/tools", "panoptes/xdp"},
		"tools":    {"panoptes/sensor", "panoptes/xdp", "panoptes/ringbuf"},
		// The cluster engine (cluster, bins, top): records in, merged records out; it
		// knows nothing of the tools that print them, of archives or of live inputs.
		"tools/cluster": {"panoptes/tools", "panoptes/sensor", "panoptes/xdp", "panoptes/ringbuf", "panoptes/index", "panoptes/recordsvc", "panoptes/natsstream"},
		"sensor":        {"panoptes/tools"},
		"filter":        {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/index"}, // the ra filter language over records
		"ipfix":         {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/index", "panoptes/ringbuf", "panoptes/relay"},
		"doctor":        {"panoptes/sensor", "panoptes/tools", "panoptes/index", "panoptes/xdp", "panoptes/record"},
		// Capture file readers: bytes in, frames out. They know nothing of flows,
		// records or outputs; see allowed for what they may use.
		"sensor/capfile": {"panoptes/"},
		// The database repository: an output beside the archive (index opens it for -w).
		"sqlrepo": {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/index", "panoptes/relay"},
		// The live record service and its transports carry records; they know nothing of
		// capture, of the tools that print records, or of the relay built on them.
		"recordsvc":  {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/relay"},
		"natsstream": {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/relay"},
		"relay":      {"panoptes/sensor", "panoptes/xdp"}, // a collector: records in, records out
		// Fleet queries over NATS: archive hosts answer from their archives (index), the
		// tools ask; it knows nothing of the commands that use it.
		"fleet": {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/relay", "panoptes/recordsvc", "panoptes/natsstream"},
		// sFlow datagrams in, records out: sampled packet headers are read with the
		// sensor's packet decoder (see allowed), nothing else of the sensor's.
		"sflow": {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/index", "panoptes/ringbuf", "panoptes/relay", "panoptes/recordsvc", "panoptes/natsstream", "panoptes/ipfix"},
		// Argus's record format beside our own: it maps to and from records only.
		"argus": {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/index", "panoptes/relay", "panoptes/recordsvc", "panoptes/filter"},
		// The live outputs (-P, --publish) that the sensor and the relay share: built
		// on the record service and NATS, never on either command.
		"internal/liveout": {"panoptes/sensor", "panoptes/relay", "panoptes/tools", "panoptes/xdp", "panoptes/index"},
		// Test helpers shared by several packages' tests: leaves, so that any package's
		// tests can import them without a cycle.
		"internal/goldentest": {"panoptes/"},
		"internal/vethtest":   {"panoptes/"},
		"internal/peer":       {"panoptes/"},
		"internal/dbtest":     {"panoptes/"}, // starts real database servers for tests
		"internal/rarc":       {"panoptes/"}, // Argus's ~/.rarc: parsing only; the tools map its keys
		// What the binary is (--version, panoptes_build_info): a leaf any package may
		// import, metrics among them.
		"internal/buildinfo": {"panoptes/"},
		// --help's text, man pages and completion are built from flag sets and field
		// names handed to them; they run no command.
		"internal/clidoc":     {"panoptes/"},
		"internal/mangen":     {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/index", "panoptes/relay"},
		"internal/completion": {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/index", "panoptes/relay"},
	}
	// allowed are the exceptions to forbidden: the capture sources implement
	// capture.Capture, and the fake source is part of it.
	allowed := map[string][]string{
		"xdp":      {"panoptes/capture"},
		"afpacket": {"panoptes/capture"},
		"capture":  {"panoptes/capture"},
		// Capture files hand out decode's link types, and recognise an Argus file by
		// argus's magic to send its reader to `panoptes read`.
		"sensor/capfile": {"panoptes/sensor/decode", "panoptes/argus"},
		// A sampled packet's header is decoded as the sensor decodes a captured one, so
		// that both give the same flow key.
		"sflow": {"panoptes/sensor/decode"},
	}
	// Only tests may import the fake source.
	testOnly := []string{"panoptes/capture/capturetest"}
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for top, bad := range forbidden {
			if pkg != top && !strings.HasPrefix(pkg, top+"/") {
				continue
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if p == "panoptes/internal/buildinfo" {
					continue // a leaf: it imports nothing of ours
				}
				leafHelper := p == "panoptes/internal/vethtest" || p == "panoptes/internal/goldentest" || p == "panoptes/internal/peer"
				if leafHelper && (strings.HasSuffix(path, "_test.go") || strings.HasPrefix(pkg, "internal/")) {
					continue // tests and test helpers may use the leaf test helpers: they import nothing of ours
				}
				if !strings.HasSuffix(path, "_test.go") && slices.Contains(testOnly, p) {
					t.Errorf("%s imports %s: only tests may", rel, p)
				}
				if slices.Contains(allowed[top], p) {
					continue
				}
				for _, b := range bad {
					// A package may import its own subpackages.
					if strings.HasPrefix(p, b) && !strings.HasPrefix(p, "panoptes/"+top) {
						t.Errorf("%s imports %s: %s must not import %s", rel, p, top, b)
					}
				}
			}
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no files checked")
	}
}
