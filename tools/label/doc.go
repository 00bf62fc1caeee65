// Package label adds labels to flow records, as Argus's ralabel does: country codes
// from an RIR delegated-stats file (sco, dco), AS numbers and country codes from
// MaxMind-format databases (sas, das), and free-form text from filter rules (label).
package label
