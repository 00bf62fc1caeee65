package xdp

import "unsafe"

// Meta mirrors struct pkt_meta (bpf/meta.h) by hand, with our names; metaPktMeta is
// the same struct generated from the C by bpf2go (-type pkt_meta, from bpf/meta.c).
// The array lengths below are constant expressions that underflow, and so fail to
// compile, unless every size and offset agree: a change to the C struct that Meta does
// not follow breaks the build rather than the timestamps.
var (
	_ [unsafe.Sizeof(Meta{}) - unsafe.Sizeof(metaPktMeta{})]struct{}
	_ [unsafe.Sizeof(metaPktMeta{}) - unsafe.Sizeof(Meta{})]struct{}
	_ [MetaSize - unsafe.Sizeof(metaPktMeta{})]struct{}
	_ [unsafe.Sizeof(metaPktMeta{}) - MetaSize]struct{}

	_ [unsafe.Offsetof(Meta{}.SWTime) - unsafe.Offsetof(metaPktMeta{}.SwTs)]struct{}
	_ [unsafe.Offsetof(metaPktMeta{}.SwTs) - unsafe.Offsetof(Meta{}.SWTime)]struct{}
	_ [unsafe.Offsetof(Meta{}.HWTime) - unsafe.Offsetof(metaPktMeta{}.HwTs)]struct{}
	_ [unsafe.Offsetof(metaPktMeta{}.HwTs) - unsafe.Offsetof(Meta{}.HWTime)]struct{}
	_ [unsafe.Offsetof(Meta{}.Hash) - unsafe.Offsetof(metaPktMeta{}.Hash)]struct{}
	_ [unsafe.Offsetof(metaPktMeta{}.Hash) - unsafe.Offsetof(Meta{}.Hash)]struct{}
	_ [unsafe.Offsetof(Meta{}.HashType) - unsafe.Offsetof(metaPktMeta{}.HashType)]struct{}
	_ [unsafe.Offsetof(metaPktMeta{}.HashType) - unsafe.Offsetof(Meta{}.HashType)]struct{}
	_ [unsafe.Offsetof(Meta{}.Magic) - unsafe.Offsetof(metaPktMeta{}.Magic)]struct{}
	_ [unsafe.Offsetof(metaPktMeta{}.Magic) - unsafe.Offsetof(Meta{}.Magic)]struct{}
	_ [unsafe.Offsetof(Meta{}.TSErr) - unsafe.Offsetof(metaPktMeta{}.TsErr)]struct{}
	_ [unsafe.Offsetof(metaPktMeta{}.TsErr) - unsafe.Offsetof(Meta{}.TSErr)]struct{}
)
