package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/internal/buildinfo"
	"panoptes/internal/peer"
)

// TestHelp asks every command for help each way a user does: the text goes to stdout
// with exit 0, and says what the command is and which flags it has. Before issue #16
// help went to stderr (and `panoptes help read` printed the command list).
func TestHelp(t *testing.T) {
	for _, name := range names() {
		for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			out, errs, code := panoptes(t, nil, args...)
			if code != 0 || errs != "" {
				t.Errorf("%v: exit %d, stderr %q; want 0 and nothing on stderr", args, code, errs)
			}
			if !strings.HasPrefix(out, "panoptes "+name+": "+commands[name].summary+"\n") || !strings.Contains(out, "\nusage: panoptes "+name+" ") {
				t.Errorf("%v: stdout does not start with the summary and usage:\n%s", args, out)
			}
		}
	}
	// bench's flags are bench loss's, however asked.
	if out, errs, code := panoptes(t, nil, "bench", "loss", "--help"); code != 0 || errs != "" || !strings.Contains(out, "usage: panoptes bench loss ") || !strings.Contains(out, "--rx IFACE") {
		t.Errorf("bench loss --help: exit %d, stderr %q, stdout:\n%s", code, errs, out)
	}
	// Flags in the help text: read's -s and --json.
	out, _, _ := panoptes(t, nil, "read", "--help")
	if !strings.Contains(out, "-s, --fields FIELDS") || !strings.Contains(out, "--json") {
		t.Errorf("read --help lacks its flags:\n%s", out)
	}
	for _, b := range builtins {
		for _, args := range [][]string{{b.name, "-h"}, {b.name, "--help"}, {"help", b.name}} {
			out, errs, code := panoptes(t, nil, args...)
			if code != 0 || errs != "" || !strings.HasPrefix(out, "panoptes "+b.name+": ") {
				t.Errorf("%v: exit %d, stderr %q, stdout %q", args, code, errs, out)
			}
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		out, errs, code := panoptes(t, nil, args...)
		if code != 0 || errs != "" || !strings.Contains(out, "commands:") {
			t.Errorf("%v: exit %d, stderr %q, stdout %q", args, code, errs, out)
		}
	}
	out, errs, code := panoptes(t, nil, "help", "filter")
	if code != 0 || errs != "" || !strings.Contains(out, "PRIMITIVES") {
		t.Errorf("help filter: exit %d, stderr %q, stdout %q", code, errs, out)
	}
	// -h after "--" is the filter's, not a request for help.
	if out, errs, code := panoptes(t, nil, "read", "-r", "/nonexistent.pnp", "--", "-h"); code != 2 || out != "" || errs == "" {
		t.Errorf("read ... -- -h: exit %d, stdout %q, stderr %q; want an error, not help", code, out, errs)
	}
	// Usage errors stay on stderr, with exit 2 and nothing on stdout.
	for _, args := range [][]string{{}, {"read", "--bogus"}, {"help", "bogus"}, {"help", "read", "sort"}, {"version", "x"}, {"completion"}, {"completion", "tcsh"}} {
		out, errs, code := panoptes(t, nil, args...)
		if code != 2 || out != "" || errs == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing, an error", args, code, out, errs)
		}
	}
}

// TestVersion: `panoptes --version` and `panoptes version` print one line on stdout.
func TestVersion(t *testing.T) {
	want := buildinfo.Read().String() + "\n"
	for _, arg := range []string{"--version", "version"} {
		out, errs, code := panoptes(t, nil, arg)
		if code != 0 || errs != "" || out != want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %q", arg, code, out, errs, want)
		}
	}
}

// TestMakeBuildVersion builds as `make build` does and checks that the binary names the
// commit and packaging/version.sh's version, even where the toolchain stamps no VCS
// information (GOFLAGS=-buildvcs=false, as on this project's machines).
func TestMakeBuildVersion(t *testing.T) {
	peer.Need(t, "make", "make")
	rev, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	ver, err := exec.Command("../../packaging/version.sh").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "panoptes")
	cmd := exec.Command("make", "-s", "build", "BIN="+bin)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "panoptes " + strings.TrimSpace(string(ver)) + " (revision " + strings.TrimSpace(string(rev))
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("--version = %q, want it to start %q", out, want)
	}
}
