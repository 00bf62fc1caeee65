// Package cli holds what every panoptes subcommand shares: the error values that map to
// exit codes, and the flag-set constructor, so that subcommand packages stay
// independent of each other and of cmd/panoptes.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// Exit codes, as ra uses them.
const (
	ExitOK      = 0 // success
	ExitNoMatch = 1 // ran fine, but nothing matched the filter
	ExitUsage   = 2 // bad flags, bad filter, unreadable input, or another error
	ExitPartial = 3 // ran, but some sources of the answer did not answer (-R nats://): it is partial
)

// ErrNoMatch is returned by a tool that ran correctly but selected no records.
var ErrNoMatch = errors.New("no records matched")

// ErrPartial is matched by the error of a tool whose output is complete for the
// sources that answered but misses some that did not (a fleet site, -R nats://).
var ErrPartial = errors.New("partial result")

// ErrHelp is returned after a subcommand printed its help on request.
var ErrHelp = pflag.ErrHelp

// UsageError marks an error in how the command was called (flags, filter, field names).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by a subcommand's Main to the process exit code.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return ExitOK
	case errors.Is(err, ErrNoMatch):
		return ExitNoMatch
	case errors.Is(err, ErrPartial):
		return ExitPartial
	}
	return ExitUsage
}

// Helper is a writer that wants a subcommand's flag set rather than its printed usage
// when -h or --help asks for help. cmd/panoptes passes one as a subcommand's stderr: to
// print help on stdout with the command's summary, and to build man pages and shell
// completion from the flag sets themselves, so that they always say what --help says.
type Helper interface {
	io.Writer
	Help(name, usage string, fs *pflag.FlagSet)
}

// NewFlagSet returns a flag set that reports errors instead of exiting. Asked for help,
// it hands itself to stderr if stderr is a Helper, and otherwise prints its usage there.
func NewFlagSet(name, usage string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() {
		if h, ok := stderr.(Helper); ok {
			h.Help(name, usage, fs)
			return
		}
		fmt.Fprintf(stderr, "usage: panoptes %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args into fs and wraps a flag error as a UsageError. Arguments after
// "--" are returned separately (ra puts its filter there).
func Parse(fs *pflag.FlagSet, args []string) (rest []string, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		return nil, &UsageError{Err: err}
	}
	return fs.Args(), nil
}
