package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
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
		"xdp":     {"panoptes/"},
		"index":   {"panoptes/sensor", "panoptes/tools", "panoptes/xdp"},
		// The database repository: an output beside the archive (index opens it for -w).
		"sqlrepo": {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/index", "panoptes/relay"},
		"tools":   {"panoptes/sensor", "panoptes/xdp", "panoptes/ringbuf"},
		"sensor":  {"panoptes/tools"},
		"filter":  {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/index"}, // the ra filter language over records
		// The Argus record format, both ways: beside record, below archive and tools.
		"argus":  {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/index", "panoptes/relay", "panoptes/recordsvc", "panoptes/filter"},
		"ipfix":  {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/index", "panoptes/ringbuf", "panoptes/relay"},
		"doctor": {"panoptes/sensor", "panoptes/tools", "panoptes/index", "panoptes/xdp", "panoptes/record"},
		// The live record service and its transports carry records; they know nothing of
		// capture, of the tools that print records, or of the relay built on them.
		"recordsvc":  {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/relay"},
		"natsstream": {"panoptes/sensor", "panoptes/tools", "panoptes/xdp", "panoptes/relay"},
		"relay":      {"panoptes/sensor", "panoptes/xdp"}, // a collector: records in, records out
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
