// A stand-in for github.com/prometheus/client_golang (see prometheus/prometheus.go), put
// in its place by the replace directive in Panoptes's go.mod.
module github.com/prometheus/client_golang

go 1.26
