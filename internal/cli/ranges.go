package cli

import (
	"fmt"
	"time"
)

// Range checks for count, size and duration flags: a value outside its range is a
// usage error of one line naming the flag, the value and the range, so that a mistyped
// size can neither ask for unbounded memory nor be silently replaced by a default.

// Number is what IntRange checks.
type Number interface {
	~int | ~int32 | ~int64 | ~uint | ~uint32 | ~uint64
}

// IntRange returns a usage error naming flag when v is not in [lo, hi].
func IntRange[T Number](flag string, v, lo, hi T) error {
	if v < lo || v > hi {
		return Usagef("%s %d: want %d to %d", flag, v, lo, hi)
	}
	return nil
}

// DurationRange returns a usage error naming flag when d is not in [lo, hi].
func DurationRange(flag string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return Usagef("%s %v: want %v to %v", flag, d, lo, hi)
	}
	return nil
}

// FirstError returns the first of errs that is not nil: a list of range checks reads
// as one statement.
func FirstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Cut shortens user input echoed in an error message to its first max bytes followed
// by "...", on a rune boundary, and quotes it (%q), so that one bad line of many
// megabytes gives one short line on stderr. max <= 0 means DefaultEcho.
func Cut(s string, max int) string {
	if max <= 0 {
		max = DefaultEcho
	}
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	n := max
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%q...", s[:n])
}

// DefaultEcho is how much of a user's input an error message repeats.
const DefaultEcho = 64

func utf8RuneStart(b byte) bool { return b&0xc0 != 0x80 }
