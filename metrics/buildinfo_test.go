package metrics

import (
	"io"
	"net/http"
	"regexp"
	"runtime"
	"testing"
)

// TestBuildInfo scrapes panoptes_build_info: one series, value 1, with the three labels
// (issue #16; there was no such metric before).
func TestBuildInfo(t *testing.T) {
	var g Gate
	srv, err := Serve("127.0.0.1:0", NewCollector(g.Source()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + srv.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// A test binary has no VCS stamp and no link-time version: both are "unknown".
	re := regexp.MustCompile(`(?m)^panoptes_build_info\{goversion="` + regexp.QuoteMeta(runtime.Version()) + `",revision="[^"]+",version="[^"]+"\} 1$`)
	if n := len(re.FindAll(body, -1)); n != 1 {
		t.Errorf("want one panoptes_build_info series of value 1, found %d in:\n%s", n, body)
	}
}
