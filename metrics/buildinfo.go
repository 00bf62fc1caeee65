package metrics

import (
	"panoptes/internal/buildinfo"
)

// buildInfo exports panoptes_build_info: a gauge of 1 whose labels say which build is
// running (the Prometheus convention, as go_build_info), so that a dashboard can tell
// sensors apart by version.
type buildInfo struct {
	d      *Desc
	values []string
}

// newBuildInfo reads the build's information once, when the server starts.
func newBuildInfo() buildInfo {
	in := buildinfo.Read()
	return buildInfo{
		d: NewDesc("panoptes_build_info", "The running build: version, VCS revision and Go version; always 1.",
			GaugeValue, "version", "revision", "goversion"),
		values: []string{buildinfo.Label(in.Version), buildinfo.Label(in.Revision), in.GoVersion},
	}
}

func (b buildInfo) Collect(s *Scrape) { s.Add(b.d, 1, b.values...) }
