package xdp

import (
	"net"
	"reflect"
	"testing"

	xsk "github.com/asavie/xdp"
	"golang.org/x/sys/unix"

	"panoptes/internal/vethtest"
)

// TestAsavieWorkarounds checks that github.com/asavie/xdp still behaves as asavie.go
// works around; a failure here after an upgrade says which workaround to revisit.
func TestAsavieWorkarounds(t *testing.T) {
	t.Run("desc layout", func(t *testing.T) {
		// fromXSK/toXSK convert in place: the two types must have the same fields.
		a, b := reflect.TypeOf(Desc{}), reflect.TypeOf(xsk.Desc{})
		if a.Size() != b.Size() || a.NumField() != b.NumField() {
			t.Fatalf("Desc is %d bytes, %d fields; xsk.Desc %d bytes, %d fields", a.Size(), a.NumField(), b.Size(), b.NumField())
		}
		for i := range a.NumField() {
			fa, fb := a.Field(i), b.Field(i)
			if fa.Name != fb.Name || fa.Offset != fb.Offset || fa.Type.Kind() != fb.Type.Kind() {
				t.Errorf("field %d: Desc.%s (%v at %d), xsk.Desc.%s (%v at %d)", i, fa.Name, fa.Type, fa.Offset, fb.Name, fb.Type, fb.Offset)
			}
		}
		d := []Desc{{Addr: 4096, Len: 60}}
		if x := toXSK(d); x[0].Addr != 4096 || x[0].Len != 60 || &fromXSK(x)[0] != &d[0] {
			t.Errorf("conversion changed the descriptor or copied it: %+v", x)
		}
	})
	vethtest.Require(t, "AF_XDP sockets on a veth")
	v := vethtest.New(t, "pxa", vethtest.Options{Queues: 1})
	ifc, err := net.InterfaceByName(v.Here)
	if err != nil {
		t.Fatal(err)
	}
	opts := &xsk.SocketOptions{NumFrames: 64, FrameSize: 2048, FillRingNumDescs: 64, CompletionRingNumDescs: 64, RxRingNumDescs: 64, TxRingNumDescs: 64}
	t.Run("flags from the package variable", func(t *testing.T) {
		// veth has no zero-copy: the bind fails only if the library passes our flags.
		if s, err := newSocket(ifc.Index, 0, opts, unix.XDP_ZEROCOPY); err == nil {
			closeSocket(s)
			t.Fatal("a zero-copy bind on veth succeeded: NewSocket no longer takes DefaultSocketFlags?")
		}
		if xsk.DefaultSocketFlags != 0 {
			t.Errorf("DefaultSocketFlags left at %#x", xsk.DefaultSocketFlags)
		}
	})
	t.Run("busy by its text, leaked rings", func(t *testing.T) {
		s, err := newSocket(ifc.Index, 0, opts, unix.XDP_COPY)
		if err != nil {
			t.Fatal(err)
		}
		if s2, err := xsk.NewSocket(ifc.Index, 0, opts); err == nil {
			s2.Close()
			t.Error("a second socket bound the same queue")
		} else if !isBusy(err) {
			t.Errorf("second bind: %q does not say EBUSY (%q): isBusy no longer recognises a busy queue", err, unix.EBUSY.Error())
		}
		var st unix.Stat_t
		if err := unix.Fstat(s.FD(), &st); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		maps, err := socketMappings(st.Ino)
		if err != nil {
			t.Fatal(err)
		}
		if len(maps) == 0 {
			t.Fatal("Socket.Close left no ring mapped: upstream fixed the leak, closeSocket's unmapping can go")
		}
		if err := unmapSocket(st.Ino); err != nil {
			t.Fatal(err)
		}
		if maps, _ := socketMappings(st.Ino); len(maps) != 0 {
			t.Fatalf("%d mappings left after unmapSocket", len(maps))
		}
		s, err = newSocket(ifc.Index, 0, opts, unix.XDP_COPY)
		if err != nil {
			t.Fatalf("the queue is still bound after closeSocket: %v", err)
		}
		closeSocket(s)
	})
}
