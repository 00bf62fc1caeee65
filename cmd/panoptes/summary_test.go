package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostsLookupFormats: `hosts -R ARCHIVE ADDR` honours --json and -c (before issue
// #16 both were accepted and the padded table printed anyway).
func TestHostsLookupFormats(t *testing.T) {
	arch := filepath.Join(t.TempDir(), "arch") + "/"
	if _, errs, code := panoptes(t, nil, "import", "-r", filepath.Join("..", "..", "testdata", "get.pcap"), "-w", arch); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	out, errs, code := panoptes(t, nil, "hosts", "-R", arch, "--json", "141.142.228.5")
	if code != 0 {
		t.Fatalf("hosts --json: exit %d: %s", code, errs)
	}
	var v struct {
		Addr        string
		Srcid       uint32
		First, Last string
		Records     int
		Segments    int
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("hosts --json: %q: %v", out, err)
	}
	if v.Addr != "141.142.228.5" || v.Records != 1 || v.Segments != 1 || !strings.HasPrefix(v.First, "2013-03-07T21:42:06.869344") {
		t.Errorf("hosts --json: %+v", v)
	}
	out, _, code = panoptes(t, nil, "hosts", "-R", arch, "-c", ",", "-u", "141.142.228.5")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || lines[0] != "Address,SrcId,FirstSeen,LastSeen,Records,Segments" ||
		!strings.HasPrefix(lines[1], "141.142.228.5,0,1362692526.869344,") || !strings.HasSuffix(lines[1], ",1,1") {
		t.Errorf("hosts -c , -u: exit %d:\n%s", code, out)
	}
}
