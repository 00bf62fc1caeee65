package cli

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// IsTerminal says whether w is a terminal: a file that answers the terminal ioctl, so
// that pipes, files and /dev/null (a character device, but no terminal) are not.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// ProgressWriter returns where a long command draws its progress line: stderr when both
// stdout and stderr are terminals — someone is watching — and nil otherwise, so that a
// command in a pipeline, a script or a service writes no progress.
func ProgressWriter(stdout, stderr io.Writer) io.Writer {
	if IsTerminal(stdout) && IsTerminal(stderr) {
		return stderr
	}
	return nil
}
