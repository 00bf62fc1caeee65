// Package waitfor polls a condition in tests that watch another goroutine or process.
package waitfor

import (
	"testing"
	"time"
)

// Timeout is how long Cond waits: long enough for a loaded CI machine, short enough
// that a hang fails the test rather than the whole run.
const Timeout = 20 * time.Second

// Cond polls cond every 2 ms until it holds, and fails the test naming what it waited
// for if Timeout passes first.
func Cond(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(Timeout); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
