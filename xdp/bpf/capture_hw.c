//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// The device-bound variant of xdp_capture: also asks the driver for the frame's hardware
// receive timestamp and RSS hash (XDP metadata kfuncs, Linux >= 6.3). It must be loaded
// bound to one interface and attached in native mode. A kfunc needs a GPL-compatible
// license.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PANOPTES_KFUNCS 1
#include "capture.h"

SEC("xdp")
int xdp_capture_hw(struct xdp_md *ctx)
{
	return capture(ctx, 1);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
