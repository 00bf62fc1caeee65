package tools

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"panoptes/internal/binarytest"
)

// runBin runs the panoptes binary with the environment env added ("-KEY" removes
// KEY) and returns stdout, stderr and the exit status.
func runBin(t *testing.T, bin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for _, e := range env {
		if k, ok := strings.CutPrefix(e, "-"); ok {
			cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
			continue
		}
		cmd.Env = append(cmd.Env, e)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestRarcBinary runs the binary as a user would: settings from the file named by RARC
// (and from ~/.rarc when RARC is unset), flags winning over them, unknown keys named
// in one warning, for read and for the other record tools.
func TestRarcBinary(t *testing.T) {
	bin := binarytest.Build(t)
	stream := writeStream(t, fixture())
	home := t.TempDir()
	rc := filepath.Join(home, ".rarc")
	if err := os.WriteFile(rc, []byte(`RA_SET_PID="no"
RA_PRINT_LABELS=-1
RA_FIELD_SPECIFIER="saddr daddr spkts"
RA_FIELD_DELIMITER=','
RA_PID_PATH="/var/run"
RA_FILTER="udp"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	const warn = ": ignoring RA_PID_PATH, RA_SET_PID (no Panoptes equivalent)\n"
	for _, c := range []struct {
		name    string
		env     []string
		args    []string
		out     string
		warning string // the whole stderr
	}{
		{"RARC file", []string{"RARC=" + rc}, []string{"read", "-r", stream},
			"10.0.0.1,10.0.0.53,1\n", "panoptes read: warning: " + rc + warn},
		{"~/.rarc", []string{"-RARC", "HOME=" + home, "-ARGUSHOME"}, []string{"read", "-r", stream},
			"10.0.0.1,10.0.0.53,1\n", "panoptes read: warning: " + rc + warn},
		{"flags win", []string{"RARC=" + rc}, []string{"read", "-r", stream, "-s", "saddr", "sport", "-c", "|", "-L", "0", "--", "icmp"},
			"SrcAddr|Sport\n10.0.0.1|8\n", "panoptes read: warning: " + rc + warn},
		{"RARC= turns it off", []string{"RARC=", "HOME=" + home}, []string{"read", "-r", stream, "-N", "1", "-s", "saddr", "-L", "-1", "--", "udp"},
			"          10.0.0.1\n", ""},
		{"cluster", []string{"RARC=" + rc}, []string{"cluster", "-r", stream, "-m", "saddr"},
			"10.0.0.1,10.0.0.53,1\n", "panoptes cluster: warning: " + rc + warn},
		{"sort", []string{"RARC=" + rc}, []string{"sort", "-r", stream, "-m", "daddr", "--", "not udp and not arp and not man and ipv4"},
			"10.0.0.1,8.8.8.8,4\n10.0.0.80,10.0.0.2,2\n10.0.0.2,10.0.0.80,10\n10.0.0.2,10.0.0.80,4\n10.0.0.1,93.184.216.34,6\n", "panoptes sort: warning: " + rc + warn},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := runBin(t, bin, c.env, c.args...)
			if code != 0 || out != c.out || errOut != c.warning {
				t.Errorf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr: %q\nwant:   %q", code, out, c.out, errOut, c.warning)
			}
		})
	}
}

// TestRarcAgainstRa gives ra and panoptes read the same resource file and compares
// their output: the Argus records (argus -r) and the Panoptes records (panoptes
// import) of the same captures, printed with the file's columns, delimiter,
// precision, time format and numeric names, header included. Rows are compared as
// sets (the two flow builders emit records in a slightly different order) on
// captures where both report the same TCP and UDP flows.
func TestRarcAgainstRa(t *testing.T) {
	for _, p := range []string{"argus", "ra"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not installed (apt-get install argus-server argus-client)", p)
			}
			t.Skipf("%s not installed (apt-get install argus-server argus-client)", p)
		}
	}
	bin := binarytest.Build(t)
	dir := t.TempDir()
	rc := filepath.Join(dir, "rarc")
	// ra reads /etc/ra.conf when it exists and then the -F file, whose keys win.
	if err := os.WriteFile(rc, []byte(`RA_SET_PID="no"
RA_PRINT_LABELS=0
RA_FIELD_SPECIFIER="stime proto saddr sport daddr dport spkts dpkts sbytes dbytes"
RA_FIELD_DELIMITER=','
RA_USEC_PRECISION=3
RA_TIME_FORMAT="%Y/%m/%d %T.%f"
RA_PRINT_NAMES=none
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dns", "get", "http_ipv6", "q-in-q"} {
		pcap := filepath.Join("..", "testdata", name+".pcap")
		argusFile, pnp := filepath.Join(dir, name+".argus"), filepath.Join(dir, name+".pnp")
		if out, err := exec.Command("argus", "-r", pcap, "-w", argusFile).CombinedOutput(); err != nil {
			t.Fatalf("argus -r %s: %v\n%s", pcap, err, out)
		}
		if _, errOut, code := runBin(t, bin, nil, "import", "-r", pcap, "-w", pnp); code != 0 {
			t.Fatalf("import %s: exit %d: %s", pcap, code, errOut)
		}
		cmd := exec.Command("ra", "-F", rc, "-r", argusFile, "-", "tcp", "or", "udp")
		raOut, err := cmd.Output()
		if err != nil {
			t.Fatalf("ra: %v", err)
		}
		pOut, errOut, code := runBin(t, bin, []string{"RARC=" + rc}, "read", "-r", pnp, "--", "tcp or udp")
		if code != 0 || !strings.Contains(errOut, "ignoring RA_SET_PID") {
			t.Fatalf("read: exit %d, stderr %q", code, errOut)
		}
		a, p := strings.Split(strings.TrimSpace(string(raOut)), "\n"), strings.Split(strings.TrimSpace(pOut), "\n")
		if len(a) < 2 {
			t.Fatalf("%s: ra printed no records:\n%s", name, raOut)
		}
		if a[0] != p[0] {
			t.Errorf("%s: header\nra:       %s\npanoptes: %s", name, a[0], p[0])
		}
		slices.Sort(a[1:])
		slices.Sort(p[1:])
		if !slices.Equal(a[1:], p[1:]) {
			t.Errorf("%s: rows differ\nra:\n%s\npanoptes:\n%s", name, strings.Join(a[1:], "\n"), strings.Join(p[1:], "\n"))
		}
	}
}
