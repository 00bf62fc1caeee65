package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuild(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "b111776aaaa"},
		{Key: "vcs.time", Value: "2026-12-05T05:19:09Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tc := range []struct {
		name                   string
		bi                     *debug.BuildInfo
		linkVersion, linkRev   string
		wantVersion, wantRev   string
		wantModified, wantTime bool
	}{
		{name: "no build info, nothing linked", wantVersion: "", wantRev: ""},
		{name: "no build info, linked", linkVersion: "1.2", linkRev: "abc", wantVersion: "1.2", wantRev: "abc"},
		{name: "devel module, vcs", bi: &debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			wantVersion: "", wantRev: "b111776aaaa", wantModified: true, wantTime: true},
		{name: "stamped module version", bi: &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261205051909-b111776aaaa+dirty"}, Settings: vcs},
			wantVersion: "v0.0.0-20261205051909-b111776aaaa+dirty", wantRev: "b111776aaaa", wantModified: true, wantTime: true},
		// The link-time version is the package's: it wins over the module's. The
		// toolchain's revision wins over the link-time one (it is what was compiled).
		{name: "linked version and revision with vcs", bi: &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-x"}, Settings: vcs},
			linkVersion: "0.0~git20261205.b111776", linkRev: "other",
			wantVersion: "0.0~git20261205.b111776", wantRev: "b111776aaaa", wantModified: true, wantTime: true},
		{name: "linked revision fills a build without vcs", bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			linkRev: "abc", wantRev: "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := fromBuild(tc.bi, tc.linkVersion, tc.linkRev)
			if in.Version != tc.wantVersion || in.Revision != tc.wantRev || in.Modified != tc.wantModified || (in.Time != "") != tc.wantTime {
				t.Errorf("got %+v, want version %q revision %q modified %v time %v", in, tc.wantVersion, tc.wantRev, tc.wantModified, tc.wantTime)
			}
			if in.GoVersion == "" {
				t.Error("no Go version")
			}
			s := in.String()
			if !strings.HasPrefix(s, "panoptes ") || strings.Contains(s, "\n") || !strings.Contains(s, Label(tc.wantRev)) {
				t.Errorf("String() = %q", s)
			}
		})
	}
}
