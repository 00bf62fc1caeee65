package index

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"panoptes/internal/cli"
)

// ArchiveFlags are the flags of the commands that write archives (`-w DIR/`: import,
// sensor, relay): retention and segment span.
type ArchiveFlags struct {
	retainAge, retainSize *string
	span                  *time.Duration
}

// AddArchiveFlags adds --retain-age, --retain-size and --segment-span to fs.
func AddArchiveFlags(fs *pflag.FlagSet) *ArchiveFlags {
	return &ArchiveFlags{
		retainAge:  fs.String("retain-age", "", "archive: delete segments older than this, measured back from each source id's newest data but never from later than the clock (90d, 2w, 36h)"),
		retainSize: fs.String("retain-size", "", "archive: delete the oldest segments while the archive is larger than this (500G)"),
		span:       fs.Duration("segment-span", DefaultSpan, "archive: the time each segment file covers, as rasplit -M time 5m (1s to 24h)"),
	}
}

// Options checks the flags' values and returns them as an archive output's options.
func (f *ArchiveFlags) Options() (OutputOptions, error) {
	var o OutputOptions
	var err error
	if o.Retain.MaxAge, err = ParseAge(*f.retainAge); err != nil {
		return o, &cli.UsageError{Err: fmt.Errorf("--retain-age: %w", err)}
	}
	if o.Retain.MaxSize, err = ParseSize(*f.retainSize); err != nil {
		return o, &cli.UsageError{Err: fmt.Errorf("--retain-size: %w", err)}
	}
	if *f.span < time.Second || *f.span > 24*time.Hour {
		return o, cli.Usagef("--segment-span %v: give a span from 1s to 24h", *f.span)
	}
	o.Span = *f.span
	return o, nil
}
