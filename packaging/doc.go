// Package packaging holds the Debian package of Panoptes: the systemd unit
// (panoptes-sensor.service) that runs `panoptes sensor` unprivileged with exactly the
// capabilities live capture needs, the default configuration file (sensor.conf), and
// build-deb.sh, which `make deb` runs (with the man pages and shell completions the
// binary generates, a DEP-5 copyright file and a changelog). Its tests build the
// package, check its contents, run lintian on it, verify the unit, and run the sensor
// with exactly those capabilities.
package packaging
