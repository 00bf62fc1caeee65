package argus

import (
	"net"
	"strings"
	"testing"
)

func TestServerAddr(t *testing.T) {
	for in, want := range map[string]string{
		"argus://sensor":         "sensor:561",
		"argus://10.0.0.1:5610":  "10.0.0.1:5610",
		"argus://[::1]":          "[::1]:561",
		"argus://[::1]:5610/":    "[::1]:5610",
		"argus://":               "",
		"argus://h:":             "",
		"argus://h/x":            "",
		"10.0.0.1:561":           "",
		"argus://user@host:561":  "",
		"argus://[::1":           "",
		"argus://host:561:extra": "",
	} {
		got, err := ServerAddr(in)
		if want == "" {
			if err == nil {
				t.Errorf("ServerAddr(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ServerAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzServerAddr: whatever ServerAddr accepts is a HOST:PORT with both parts, 561 when
// the URL gave no port, and naming it again as argus://HOST:PORT gives it back.
func FuzzServerAddr(f *testing.F) {
	for _, s := range []string{"argus://h", "argus://h:1", "argus://[::1]", "argus://[::1]:2/", "argus://", "argus://[", "argus://a]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ServerAddr(in)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(in, "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		host, port, err := net.SplitHostPort(got)
		if err != nil || host == "" || port == "" {
			t.Fatalf("ServerAddr(%q) = %q: not HOST:PORT (%v)", in, got, err)
		}
		if again, err := ServerAddr(URLPrefix + got); err != nil || again != got {
			t.Fatalf("ServerAddr(%q) = %q, but ServerAddr(argus://%s) = %q, %v", in, got, got, again, err)
		}
	})
}
