package index

import (
	"syscall"
	"testing"
)

// The index's table cache takes at most a quarter of the descriptor limit. Before, it
// took Pebble's default of 1000 whatever the limit, so under `ulimit -n 200` a large
// index alone could use every descriptor the writer and its clients needed.
func TestIndexFilesBoundedByLimit(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	for _, tc := range []struct{ cur, want uint64 }{{200, 50}, {32, 16}, {1 << 20, 1000}} {
		if tc.cur > old.Max {
			continue
		}
		l := old
		l.Cur = tc.cur
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			t.Fatal(err)
		}
		if got := maxOpenFiles(); uint64(got) != tc.want {
			t.Errorf("limit %d: %d index files, want %d", tc.cur, got, tc.want)
		}
	}
}
