// Package bench holds whole-system benchmarks of Panoptes against Argus: import.sh times
// whole processes, BenchmarkImport profiles sensor.Import. See README.md.
package bench
