package cli

import (
	"strings"
	"testing"
	"time"
)

func TestRanges(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string // "" for no error
	}{
		{"int inside", IntRange("--workers", 4, 0, 256), ""},
		{"int above", IntRange("--workers", 1_000_000_000, 0, 256), "--workers 1000000000: want 0 to 256"},
		{"int below", IntRange("--max-flows", -1, 1, 10), "--max-flows -1: want 1 to 10"},
		{"duration negative", DurationRange("--tcp-timeout", -time.Second, time.Millisecond, time.Hour), "--tcp-timeout -1s: want 1ms to 1h0m0s"},
		{"duration inside", DurationRange("--tcp-timeout", time.Second, time.Millisecond, time.Hour), ""},
		{"first", FirstError(nil, IntRange("-a", 2, 0, 1), IntRange("-b", 2, 0, 1)), "-a 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				if tc.err != nil {
					t.Fatalf("got %v, want no error", tc.err)
				}
				return
			}
			if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) || ExitCode(tc.err) != ExitUsage {
				t.Fatalf("got %v, want a usage error with %q", tc.err, tc.want)
			}
		})
	}
}

func TestCut(t *testing.T) {
	long := strings.Repeat("é", 1<<20)
	if got := Cut(long, 0); len(got) > DefaultEcho+8 || !strings.HasSuffix(got, `"...`) {
		t.Fatalf("Cut of 2 MB gave %d bytes: %.80s", len(got), got)
	}
	if got := Cut("abc", 0); got != `"abc"` {
		t.Fatalf("got %s", got)
	}
}
