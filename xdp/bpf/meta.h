// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// The metadata block, shared by capture.h and meta.c.
#ifndef PANOPTES_META_H
#define PANOPTES_META_H

// Metadata written in front of every frame; the consumer reads it at frame - 32.
// xdp/meta.go checks Meta in xdp/xdp.go against the Go struct bpf2go generates
// from this one (meta.c), so a change here that Meta does not follow fails the build.
struct pkt_meta {
	__u64 sw_ts;     // bpf_ktime_get_tai_ns() when the program ran
	__u64 hw_ts;     // NIC hardware timestamp (ns), 0 if none
	__u32 hash;      // RSS hash, 0 if none
	__u32 hash_type; // enum xdp_rss_hash_type
	__u32 magic;     // META_MAGIC: the block is valid
	__s32 ts_err;    // kfunc result for the timestamp (0 ok, -95 not asked/supported)
};

#define META_MAGIC 0x504e4f50 // "PONP"

#endif
