package relay

import (
	"io"
	"strings"
	"testing"
)

// TestCollectAllowFlags: a bad --allow, or --allow without -C, is one line naming the
// flag (before the fix --allow did not exist: "unknown flag").
func TestCollectAllowFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-C", "127.0.0.1:0", "--allow", "10.0.0.0/33", "-P", "0"}, `--allow "10.0.0.0/33"`},
		{[]string{"-C", "127.0.0.1:0", "--allow", "127.0.0.1/32,nonsense", "-P", "0"}, `--allow "nonsense"`},
		{[]string{"-S", "x:1", "--allow", "127.0.0.1/32", "-P", "0"}, "--allow needs -C"},
	} {
		err := Main(tc.args, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line with %q", tc.args, err, tc.want)
		}
	}
}

// TestParseAllow: prefixes are masked, and a bare address is an exporter of its own.
func TestParseAllow(t *testing.T) {
	got, err := parseAllow([]string{"10.1.2.3/8", "192.0.2.7", "2001:db8::1", "::ffff:192.0.2.9"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::1/128", "192.0.2.9/32"}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("prefix %d: %s, want %s", i, p, want[i])
		}
	}
}
