package liveout

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"panoptes/internal/cli"
	"panoptes/record"
	"panoptes/recordsvc"
)

// Bad flags are usage errors that name the command or the flag (the relay's
// --publish error did not name the command before the set-up was shared).
func TestOpenBadFlags(t *testing.T) {
	limits := Flags{Listen: "127.0.0.1", ClientBuffer: 1 << 20, MaxClients: 4, QueueMemory: 64 << 20}
	cases := []struct {
		name string
		edit func(*Flags)
		want string
	}{
		{"bad port", func(f *Flags) { f.Port = "x" }, "relay: "},
		{"bad limits", func(f *Flags) { f.Port = "0"; f.MaxClients = -1 }, "relay: "},
		{"bad certificate", func(f *Flags) { f.Port = "0"; f.Cert = "/nonexistent" }, "--tls-key"},
		{"bad publish URL", func(f *Flags) { f.Port = "0"; f.Publish = "http://x" }, "relay: --publish"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := limits
			tc.edit(&f)
			_, err := f.Open(context.Background(), Options{Prog: "relay", Logf: func(string, ...any) {}})
			var ue *cli.UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want a usage error containing %q", err, tc.want)
			}
		})
	}
}

// Publish reaches a client of the service; CloseService may be called twice.
func TestOpenServes(t *testing.T) {
	f := Flags{Port: "0", Listen: "127.0.0.1", ClientBuffer: 1 << 20, MaxClients: 4, QueueMemory: 64 << 20}
	out, err := f.Open(context.Background(), Options{Prog: "sensor", Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := recordsvc.Dial(context.Background(), out.Srv.Addr().String(), "", recordsvc.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for out.Srv.Clients() != 1 {
		time.Sleep(time.Millisecond)
	}
	out.Publish(&record.Record{Kind: record.KindFlow, Family: 4, Proto: 17, Seq: 7})
	out.Flush()
	out.CloseService(5 * time.Second)
	out.CloseService(5 * time.Second)
	if err := out.ClosePublisher(); err != nil {
		t.Fatal(err)
	}
	var r record.Record
	if err := c.Read(&r); err != nil || r.Seq != 7 {
		t.Fatalf("client read seq %d, %v; want 7", r.Seq, err)
	}
}
