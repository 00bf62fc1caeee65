//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Panoptes capture program: redirects every frame to the AF_XDP socket bound to the RX
// queue it arrived on, after writing a metadata block in front of the frame (receive
// timestamps and RSS hash). Counters per RX queue and CPU say what happened to each
// frame, so that every frame is accounted for: seen = redirected + passed, and frames
// redirected but not delivered show in the socket's own statistics.
//
// Two programs: xdp_capture works in native and generic mode and stamps frames with
// bpf_ktime_get_tai_ns(); xdp_capture_hw (capture_hw.c) is device-bound and also reads
// the NIC's hardware timestamp and RSS hash through the XDP metadata kfuncs.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "capture.h"

SEC("xdp")
int xdp_capture(struct xdp_md *ctx)
{
	return capture(ctx, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
