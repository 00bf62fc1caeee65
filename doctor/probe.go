package doctor

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// probeNative attaches a two-instruction XDP_PASS program to the interface in native
// (driver) mode and detaches it at once: the only sure way to know the driver runs XDP
// itself. Many drivers reconfigure their rings on attach and detach, so the link may
// drop frames for a moment: this runs only when asked (--probe-xdp), never by default.
func probeNative(s *State, ifindex int) {
	if s.XDPProgID != 0 {
		s.ProbeSkips = fmt.Sprintf("XDP program %d is already attached", s.XDPProgID)
		return
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "doctor_probe",
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 2), // XDP_PASS
			asm.Return(),
		},
	})
	if err != nil {
		s.ProbeSkips = fmt.Sprintf("loading the probe program: %v", err)
		return
	}
	defer prog.Close()
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPDriverMode})
	ok := err == nil
	s.NativeXDP = &ok
	if err != nil {
		s.NativeErr = err.Error()
		return
	}
	l.Close()
}
