// Package tools holds the analysis subcommands of panoptes, modelled on Argus's ra*
// clients: read (ra), cluster (racluster), sort (rasort), count (racount), split
// (rasplit), bins (rabins), top (ratop), hosts and ports (rahosts, raports), anon,
// label (ralabel), convert. Each subcommand is a
// XxxMain(args, stdin, stdout, stderr) function that cmd/panoptes calls; errors map to
// exit codes through internal/cli (0 ok, 1 nothing matched, 2 usage or input error).
//
// The pieces every subcommand shares live here once: the flags for inputs and output
// (common.go), record printing as ra's text columns, delimited values or JSON Lines
// (output.go, Printer), and the filter language (package panoptes/filter).
//
// Output columns use Argus's field names and labels (record.Registry). The default set
// is ra's: stime flgs proto saddr sport dir daddr dport pkts bytes state.
//
// The tools read record streams, archives (-R, through the index) and live record
// services (-S); they never import the sensor or the XDP code, so they build and run
// without BPF.
package tools
