package binarytest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Softflowd replays capture through softflowd 1.1.0 in packet time (-r, -a) with debug
// output (-D: an "EXPIRED" line for each flow it exports) and the further arguments
// (where to export, the NetFlow version, ...), and returns that output and its exit
// error once it has exported every flow and exited. The test fails if it has not
// finished within a minute. Callers skip the test where softflowd is not installed.
func Softflowd(t testing.TB, capture string, args ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	capture, err := filepath.Abs(capture) // softflowd changes directory
	if err != nil {
		t.Fatal(err)
	}
	ctl := filepath.Join(dir, "softflowd.ctl")
	args = append([]string{"-r", capture, "-a", "-D", "-p", filepath.Join(dir, "softflowd.pid"), "-c", ctl}, args...)
	var out bytes.Buffer
	cmd := exec.Command("softflowd", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "TZ=UTC")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// softflowd 1.1.0 reading a file waits for a control command before each batch of
	// packets, and at the end of the file exports every flow and exits: poke it with
	// "statistics" until it has gone.
	deadline := time.After(60 * time.Second)
	for {
		select {
		case err := <-exited:
			return out.String(), err
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("softflowd did not finish %s:\n%s", capture, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if _, err := os.Stat(ctl); err == nil {
			exec.Command("softflowctl", "-c", ctl, "statistics").Run()
		}
	}
}
