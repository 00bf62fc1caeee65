package sensor

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWatchInterfacesOutOfDescriptors: when the process is out of file descriptors,
// the interface watch cannot ask the kernel about the interface. That is reported as
// what it is (too many open files), once, and the capture goes on; it is not an
// interface that vanished. Before the fix the watch ended the capture with "interface
// lo vanished; records up to now were written".
func TestWatchInterfacesOutOfDescriptors(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// The limit bounds descriptor numbers: at the lowest free number, nothing more opens.
	free, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(free)
	// The watch ends at its first warning (or, failing, after 20 s).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var warned []string
	low := lim
	low.Cur = uint64(free)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("lowering RLIMIT_NOFILE: %v", err)
	}
	err = watchInterfaces(ctx, []string{"lo"}, func(s string) { warned = append(warned, s); cancel() })
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("watch: %v; want the capture to go on", err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "too many open files") || !strings.Contains(warned[0], "lo") {
		t.Fatalf("warnings %q, want one naming lo and \"too many open files\"", warned)
	}
}
