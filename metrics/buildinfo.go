package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"panoptes/internal/buildinfo"
)

// withBuildInfo adds panoptes_build_info to reg: a gauge of 1 whose labels say which
// build is running (the Prometheus convention, as go_build_info), so that a dashboard
// can tell sensors apart by version.
func withBuildInfo(reg *prometheus.Registry) *prometheus.Registry {
	in := buildinfo.Read()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "panoptes_build_info",
		Help: "The running build: version, VCS revision and Go version; always 1.",
		ConstLabels: prometheus.Labels{
			"version":   buildinfo.Label(in.Version),
			"revision":  buildinfo.Label(in.Revision),
			"goversion": in.GoVersion,
		},
	}, func() float64 { return 1 }))
	return reg
}
