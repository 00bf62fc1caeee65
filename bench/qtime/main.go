// Command qtime runs one command and reports how long it took to produce its first
// output byte and to finish, and what it read. bench/archive.sh uses it to time archive
// queries (`panoptes read -R`, `ra -R`).
//
//	qtime COMMAND [ARG]...
//
// The command's standard output is read (and discarded) through a pipe; its standard
// error passes through. qtime prints one line to its own standard output:
//
//	elapsed_s first_byte_s out_bytes out_lines maxrss_kb inblock_bytes rchar read_bytes user_s sys_s exit_code
//
// The fields:
//   - elapsed_s: from just before the process is started to its exit.
//   - first_byte_s: from the same start to the first byte on its standard output (-1 if
//     it printed nothing).
//   - inblock_bytes: the kernel's block input count (getrusage ru_inblock, 512-byte units)
//     times 512: what came from the disk, so zero when the page cache held everything.
//   - rchar, read_bytes: the child's /proc I/O counters (read(2)/pread(2) bytes, and bytes
//     fetched from storage). They are not readable after the child has exited, so qtime
//     takes them from its own /proc/self/io before and after: Linux adds a reaped child's
//     counters to its parent's. qtime's own reads from the pipe are subtracted from rchar.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: qtime COMMAND [ARG]...")
		os.Exit(2)
	}
	before := procIO()
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fatal(err)
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	first := time.Duration(-1)
	var n, lines int64
	buf := make([]byte, 1<<20)
	for {
		k, err := out.Read(buf)
		if k > 0 {
			if first < 0 {
				first = time.Since(t0)
			}
			n += int64(k)
			lines += int64(bytes.Count(buf[:k], []byte{'\n'}))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fatal(err)
		}
	}
	werr := cmd.Wait()
	elapsed := time.Since(t0)
	after := procIO()
	code := 0
	if werr != nil {
		if ee, ok := werr.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			fatal(werr)
		}
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var maxrss, inblock int64
	if ru != nil {
		maxrss, inblock = ru.Maxrss, ru.Inblock*512
	}
	firstS := -1.0
	if first >= 0 {
		firstS = first.Seconds()
	}
	fmt.Printf("%.4f %.4f %d %d %d %d %d %d %.3f %.3f %d\n", elapsed.Seconds(), firstS, n, lines, maxrss, inblock,
		after["rchar"]-before["rchar"]-n, after["read_bytes"]-before["read_bytes"],
		cmd.ProcessState.UserTime().Seconds(), cmd.ProcessState.SystemTime().Seconds(), code)
}

func procIO() map[string]int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		fatal(err)
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if ok {
			m[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return m
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "qtime:", err)
	os.Exit(2)
}
