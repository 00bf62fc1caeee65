package packaging

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"panoptes/internal/vethtest"
)

// The capabilities the unit grants, as capability names and as setpriv writes them.
var sensorCaps = []string{"CAP_BPF", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_PERFMON", "CAP_IPC_LOCK"}

// unitSettings reads KEY=VALUE lines of a systemd unit (repeated keys joined by a blank).
func unitSettings(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		out[k] = strings.TrimSpace(out[k] + " " + v)
	}
	return out
}

func TestUnit(t *testing.T) {
	u := unitSettings(t, "panoptes-sensor.service")
	want := strings.Join(sensorCaps, " ")
	for k, v := range map[string]string{
		"AmbientCapabilities":   want,
		"CapabilityBoundingSet": want,
		"User":                  "panoptes",
		"LimitMEMLOCK":          "infinity",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ReadWritePaths":        "/var/lib/panoptes",
		"ExecStart":             "/usr/bin/panoptes sensor --config /etc/panoptes/sensor.conf",
	} {
		if u[k] != v {
			t.Errorf("%s=%q, want %q", k, u[k], v)
		}
	}
}

// buildDeb runs build-deb.sh into a temporary directory and returns the package.
func buildDeb(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"dpkg-deb", "go", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	dist := t.TempDir()
	cmd := exec.Command("./build-deb.sh")
	cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION=1.2.3~test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, out)
	}
	deb := filepath.Join(dist, "panoptes_1.2.3~test_"+goarch(t)+".deb")
	if strings.TrimSpace(string(out)) != deb {
		t.Fatalf("build-deb.sh printed %q, want %q", out, deb)
	}
	return deb
}

func goarch(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestDeb builds the package, checks its metadata and file list, extracts it into a
// temporary root, runs the packaged binary on the packaged configuration, and verifies
// the unit with systemd-analyze where it is installed.
func TestDeb(t *testing.T) {
	deb := buildDeb(t)
	info, err := exec.Command("dpkg-deb", "-I", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -I: %v\n%s", err, info)
	}
	for _, want := range []string{"Package: panoptes", "Version: 1.2.3~test", "Architecture: " + goarch(t), "Depends: adduser", " conffiles", " postinst"} {
		if !bytes.Contains(info, []byte(want)) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	list, err := exec.Command("dpkg-deb", "-c", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -c: %v\n%s", err, list)
	}
	for _, want := range []string{
		`-rwxr-xr-x root/root .* \./usr/bin/panoptes\n`,
		`-rw-r--r-- root/root .* \./lib/systemd/system/panoptes-sensor\.service\n`,
		`-rw-r--r-- root/root .* \./etc/panoptes/sensor\.conf\n`,
	} {
		if !regexp.MustCompile(want).Match(list) {
			t.Errorf("dpkg-deb -c: no line matching %q:\n%s", want, list)
		}
	}
	conffiles, err := exec.Command("dpkg-deb", "-f", deb, "Package").Output()
	if err != nil || strings.TrimSpace(string(conffiles)) != "panoptes" {
		t.Errorf("dpkg-deb -f Package: %q %v", conffiles, err)
	}
	ctl := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-e", deb, ctl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); strings.TrimSpace(string(b)) != "/etc/panoptes/sensor.conf" {
		t.Errorf("conffiles %q, want /etc/panoptes/sensor.conf", b)
	}
	if b, _ := os.ReadFile(filepath.Join(ctl, "postinst")); !bytes.Contains(b, []byte("adduser --system")) {
		t.Errorf("postinst does not create the user:\n%s", b)
	}

	root := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	// The packaged configuration parses: with no interface set (as shipped) the sensor
	// says so, which it only does after reading every line of the file.
	bin := filepath.Join(root, "usr/bin/panoptes")
	out, err := exec.Command(bin, "sensor", "--config", filepath.Join(root, "etc/panoptes/sensor.conf")).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !bytes.Contains(out, []byte("no interface")) {
		t.Errorf("packaged binary on packaged config: %v\n%s (want exit 2, no interface)", err, out)
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed: unit not verified")
		return
	}
	unit := filepath.Join(root, "lib/systemd/system/panoptes-sensor.service")
	// --root resolves ExecStart= inside the extracted tree; the user need not exist
	// for verification.
	cmd := exec.Command("systemd-analyze", "verify", "--root="+root, unit)
	out, err = cmd.CombinedOutput()
	// systemd-analyze also reports problems of other units it loads (in containers
	// without systemd running); only lines about ours count.
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		// Without a booted systemd the targets of other packages are absent.
		if strings.Contains(l, "panoptes-sensor.service") && !regexp.MustCompile(`Unit [a-z.-]+\.target not found`).MatchString(l) {
			ours = append(ours, l)
		}
	}
	if len(ours) > 0 {
		t.Errorf("systemd-analyze verify (%v):\n%s", err, strings.Join(ours, "\n"))
	}
	t.Logf("systemd-analyze verify: %v %s", err, out)
}

// TestCapabilities runs the built binary as nobody with exactly the unit's capabilities
// (ambient, as systemd sets them) on a veth pair and checks that it captures what is
// sent; then with CAP_BPF missing, and checks that it fails with one clear line.
func TestCapabilities(t *testing.T) {
	vethtest.Require(t, "creating veth pairs and dropping to another user", "setpriv", "tcpreplay")
	// A directory nobody can write to, outside t.TempDir (whose parent is private).
	dir, err := os.MkdirTemp("", "panoptes-pkgcap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	bin := filepath.Join(dir, "panoptes")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/panoptes").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	veth := vethtest.New(t, "pnk", vethtest.Options{NoIPv6: true})

	// setpriv's names for the unit's capabilities: cap_bpf -> bpf.
	var names []string
	for _, c := range sensorCaps {
		names = append(names, strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	sensor := func(t *testing.T, caps []string, mode string, during func()) (string, error) {
		set := "-all"
		for _, c := range caps {
			set += ",+" + c
		}
		out := filepath.Join(dir, "out-"+mode+".pnp")
		cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
			"--inh-caps="+set, "--ambient-caps="+set, "--bounding-set="+set, "--",
			bin, "sensor", "--config", "", "-i", veth.Here, "--mode", mode, "-w", out, "--duration", "3s", "--hwts", "off")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if during != nil {
			time.Sleep(1500 * time.Millisecond) // attach and bind (the sensor runs 3 s)
			during()
		}
		err := cmd.Wait()
		if err == nil {
			rd, rerr := exec.Command(bin, "read", "-r", out, "-s", "proto,pkts", "-L", "-1", "-c", ",", "--", "not man").CombinedOutput()
			if rerr != nil {
				t.Fatalf("read: %v\n%s", rerr, rd)
			}
			return string(rd), nil
		}
		return stderr.String(), err
	}
	replay := func() {
		veth.Exec(t, "tcpreplay", "-q", "-i", veth.Peer, "../testdata/get.pcap")
	}
	for _, mode := range []string{"xdp", "afpacket"} {
		t.Run(mode, func(t *testing.T) {
			got, err := sensor(t, names, mode, replay)
			if err != nil {
				t.Fatalf("sensor as nobody with %v: %v\n%s", names, err, got)
			}
			// get.pcap is one HTTP conversation of 14 packets.
			if !strings.Contains(got, "tcp,14") {
				t.Errorf("records %q, want the 14-packet TCP flow of get.pcap", got)
			}
		})
	}
	t.Run("without CAP_BPF", func(t *testing.T) {
		got, err := sensor(t, names[1:], "xdp", nil)
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Fatalf("exit %v, want 2:\n%s", err, got)
		}
		lines := strings.Split(strings.TrimSpace(got), "\n")
		if len(lines) != 1 || !strings.Contains(got, "missing capability CAP_BPF, needed for loading the XDP program") {
			t.Errorf("want one line naming CAP_BPF and what it is for, got:\n%s", got)
		}
	})
	t.Run("without CAP_IPC_LOCK", func(t *testing.T) {
		// The UMEM then counts against RLIMIT_MEMLOCK: 32 MiB per queue at the default
		// sizes, more than the usual 8 MiB limit (LimitMEMLOCK=infinity in the unit
		// lifts it).
		var lim unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
		if lim.Cur == unix.RLIM_INFINITY || lim.Cur >= 32<<20 {
			t.Skipf("RLIMIT_MEMLOCK %d is enough for the UMEM without CAP_IPC_LOCK", lim.Cur)
		}
		var without []string
		for _, n := range names {
			if n != "ipc_lock" {
				without = append(without, n)
			}
		}
		got, err := sensor(t, without, "xdp", nil)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(got, "without CAP_IPC_LOCK") || strings.Count(strings.TrimSpace(got), "\n") != 0 {
			t.Errorf("exit %v, want 2 and one line naming CAP_IPC_LOCK:\n%s", err, got)
		}
	})
}
