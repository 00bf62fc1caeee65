// Package buildinfo says which Panoptes this binary is: its version, the VCS revision it
// was built from and the Go toolchain, for `panoptes --version` and the
// panoptes_build_info metric. It imports nothing of Panoptes, so any package may use it.
//
// The Go toolchain records the module version and the VCS revision in the binary
// (runtime/debug.ReadBuildInfo) when it builds from a checkout. `make build` and
// `make deb` also set the version (and the revision, for a build without the VCS, such as
// from a source tarball) with -ldflags -X panoptes/internal/buildinfo.version=...; the
// version set there wins, so the binary in a Debian package reports the package's version.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time by `make build` and packaging/build-deb.sh (-ldflags -X); empty in a
// plain `go build`.
var (
	version  string
	revision string
)

// Info is what is known of a build. Empty strings are unknown.
type Info struct {
	Version   string // the version set at link time, else the module version
	Revision  string // the VCS revision (a full commit hash)
	Time      string // the revision's commit time (RFC 3339), if the toolchain recorded it
	Modified  bool   // built from a tree with uncommitted changes
	GoVersion string // the toolchain that built the binary
}

// Read returns this binary's build information.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuild(bi, version, revision)
}

// fromBuild merges the toolchain's build information (nil when the binary has none) with
// the values set at link time.
func fromBuild(bi *debug.BuildInfo, linkVersion, linkRevision string) Info {
	in := Info{Version: linkVersion, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		// "(devel)" is what the toolchain writes when it knows no version.
		if in.Version == "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.time":
				in.Time = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	// The revision the toolchain read from the checkout is the code that was compiled;
	// the one set at link time only fills in where the toolchain had no checkout.
	if in.Revision == "" {
		in.Revision = linkRevision
	}
	return in
}

// String is the line `panoptes --version` prints, e.g.
// "panoptes 0.0~git20261205.b111776 (revision b111776..., go1.26.8)".
func (in Info) String() string {
	v := in.Version
	if v == "" {
		v = "unknown"
	}
	rev := in.Revision
	if rev == "" {
		rev = "unknown"
	}
	if in.Modified {
		rev += ", modified"
	}
	return fmt.Sprintf("panoptes %s (revision %s, %s)", v, rev, in.GoVersion)
}

// Label returns v, or "unknown" for an empty value, for a metric label.
func Label(v string) string {
	if v == "" {
		return "unknown"
	}
	return v
}
