package fleet

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in      string
		servers []string
		sites   []string
		shown   string
		bad     string // part of the error
	}{
		{in: "nats://127.0.0.1:4222/*", servers: []string{"nats://127.0.0.1:4222"}, sites: []string{"*"}, shown: "nats://127.0.0.1:4222/*"},
		{in: "nats://u:p%40ss@h1:4222,h2:4223/a,b*", servers: []string{"nats://h1:4222", "nats://h2:4223"}, sites: []string{"a", "b*"}, shown: "nats://u:***@h1:4222,h2:4223/a,b*"},
		{in: "tls://tok@h:4222/x?ca=/ca.pem", servers: []string{"tls://h:4222"}, sites: []string{"x"}, shown: "tls://***@h:4222/x"},
		{in: "nats://h:4222", servers: []string{"nats://h:4222"}, shown: "nats://h:4222"},
		{in: "http://h:4222/x", bad: "want nats://"},
		{in: "nats://h/x", bad: "want HOST:PORT"},
		{in: "nats:///x", bad: "no broker"},
		{in: "nats://h:1/a.b", bad: "bad site"},
		{in: "nats://h:1/a,", bad: "bad site"},
		{in: "nats://h:1/[", bad: "bad site"},
		{in: "nats://h:1/a?foo=1", bad: "unknown parameter"},
		{in: "nats://u:secret@h:1/a?cert=x", bad: "go together"},
	} {
		got, err := ParseURL(tc.in, "")
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%s: error %v, want one saying %q", tc.in, err, tc.bad)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: the error shows the password: %v", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if strings.Join(got.Servers, " ") != strings.Join(tc.servers, " ") || strings.Join(got.Sites, " ") != strings.Join(tc.sites, " ") || got.String() != tc.shown {
			t.Errorf("%s: got %v %v %q, want %v %v %q", tc.in, got.Servers, got.Sites, got.String(), tc.servers, tc.sites, tc.shown)
		}
	}
}

// FuzzParseURL: an accepted URL has brokers and valid sites, and its shown form (used
// in every message) never holds the password or token.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"nats://127.0.0.1:4222/*", "nats://u:pw@h1:1,h2:2/a,b*", "tls://tok@h:1/x?ca=f", "nats://h:1/[ab]?nkey=k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseURL(s, "")
		if err != nil {
			if got.password != "" && strings.Contains(err.Error(), got.password) && len(got.password) > 3 {
				t.Fatalf("%q: the error shows the password: %v", s, err)
			}
			return
		}
		if len(got.Servers) == 0 {
			t.Fatalf("%q: accepted without a broker", s)
		}
		for _, site := range got.Sites {
			if site == "" || strings.ContainsAny(site, ".> \t") {
				t.Fatalf("%q: accepted site %q", s, site)
			}
		}
		for _, secret := range []string{got.password, got.token} {
			if len(secret) > 3 && strings.Contains(got.String(), secret) && !strings.Contains(strings.Join(got.Servers, ","), secret) {
				t.Fatalf("%q: shown as %q, with its secret %q", s, got.String(), secret)
			}
		}
	})
}

// FuzzDecodeRequest: a request an archive host accepts has a known kind and its flow
// control within bounds, whatever a client sent.
func FuzzDecodeRequest(f *testing.F) {
	for _, r := range []Request{{V: 1, Kind: KindRecords, Filter: "host 1.2.3.4", Time: true, T0: 1, T1: 2}, {V: 1, Kind: KindHosts, Addrs: []string{"::1"}, Window: 1000, Batch: -5}} {
		b, _ := json.Marshal(r)
		f.Add(b)
	}
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRequest(b)
		if err != nil {
			return
		}
		if r.Kind != KindRecords && r.Kind != KindHosts || r.V != protoVer {
			t.Fatalf("accepted %+v", r)
		}
		if r.Window < 1 || r.Window > maxWindow || r.Batch < 1 || r.Batch > maxBatch {
			t.Fatalf("flow control out of bounds: %+v", r)
		}
	})
}
