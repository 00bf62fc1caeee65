package tools

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/internal/cli"
)

func runAnon(args []string) (string, string, error) {
	var out, errb bytes.Buffer
	err := AnonMain(args, nil, &out, &errb)
	return out.String(), errb.String(), err
}

// TestAnonEndToEnd: anon writes a stream that read prints; the same key gives the same
// output in another run; a new key file is announced; another key gives other
// addresses; well-known ports and management records survive.
func TestAnonEndToEnd(t *testing.T) {
	in := writeStream(t, fixture())
	dir := t.TempDir()
	key := filepath.Join(dir, "anon.key")
	out1 := filepath.Join(dir, "a1.pnp")
	_, errs, err := runAnon([]string{"-r", in, "-w", out1, "--key-file", key})
	if err != nil || !strings.Contains(errs, "generated a new key in "+key) {
		t.Fatalf("anon: %v, stderr %q", err, errs)
	}
	fields := []string{"-s", "stime,proto,saddr,sport,daddr,dport,smac,stcpb,state", "-r"}
	p1, _, err := runRead(append(fields, out1), nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, errs, err := runAnon(append([]string{"--key-file", key, "-s", "stime,proto,saddr,sport,daddr,dport,smac,stcpb,state", "-r"}, in))
	if err != nil || errs != "" {
		t.Fatalf("second run: %v %q", err, errs)
	}
	if p1 != p2 {
		t.Errorf("same key, different output:\n%s\n%s", p1, p2)
	}
	orig, _, _ := runRead(append(fields, in), nil)
	if orig == p1 || strings.Contains(p1, "10.0.0.1 ") || !strings.Contains(p1, " 80 ") || !strings.Contains(p1, "man") {
		t.Errorf("anonymized output:\n%s\noriginal:\n%s", p1, orig)
	}
	other := filepath.Join(dir, "other.key")
	os.WriteFile(other, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	p3, _, err := runAnon(append([]string{"--key-file", other, "-s", "stime,proto,saddr,sport,daddr,dport,smac,stcpb,state", "-r"}, in))
	if err != nil || p3 == p1 {
		t.Errorf("another key gave the same output (%v)", err)
	}
	// A fixed offset moves times by exactly that much.
	p4, _, err := runAnon([]string{"--key-file", key, "--time-offset", "-1h", "-s", "stime", "-N", "1", "-r", in})
	if err != nil || !strings.Contains(p4, "11:00:00.123456") {
		t.Errorf("--time-offset -1h: %v\n%s", err, p4)
	}
}

func TestAnonErrors(t *testing.T) {
	in := writeStream(t, fixture())
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	conf := filepath.Join(dir, "ranonymize.conf")
	os.WriteFile(conf, []byte("RANON_SEED=1\n\nRANON_BOGUS=1\n"), 0o644)
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	tests := []struct {
		args []string
		want string
		code int
	}{
		{[]string{"-r", in, "--key-file", key, "-f", conf}, conf + ":3: unknown directive RANON_BOGUS", cli.ExitUsage},
		{[]string{"-r", in, "--key-file", bad}, "bad.key: a key is 64 hex digits", cli.ExitUsage},
		{[]string{"-r", in, "--key-file", key, "--time-offset", "soon"}, `--time-offset "soon"`, cli.ExitUsage},
		{[]string{"-r", in, "--key-file", key, "-f", filepath.Join(dir, "missing.conf")}, "missing.conf", cli.ExitUsage},
		{[]string{"-r", in, "--key-file", key, "--", "port 9999"}, "no records matched", cli.ExitNoMatch},
	}
	for _, tt := range tests {
		_, _, err := runAnon(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) || cli.ExitCode(err) != tt.code {
			t.Errorf("%v: err %v (exit %d), want %q exit %d", tt.args, err, cli.ExitCode(err), tt.want, tt.code)
		}
	}
	// A seed in the configuration makes the key: no key file needed, same result twice.
	os.WriteFile(conf, []byte("RANON_SEED=29384938\n"), 0o644)
	a, _, err1 := runAnon([]string{"-r", in, "-f", conf, "-s", "saddr,daddr"})
	b, _, err2 := runAnon([]string{"-r", in, "-f", conf, "-s", "saddr,daddr"})
	if err := errors.Join(err1, err2); err != nil || a != b {
		t.Errorf("seeded runs: %v\n%s\n%s", err, a, b)
	}
}
