// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// Not a program: it puts struct pkt_meta into an object's BTF so that bpf2go -type
// generates the Go twin xdp/meta.go checks Meta against. The object is never loaded.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "meta.h"

const struct pkt_meta *unused_pkt_meta __attribute__((unused));

char LICENSE[] SEC("license") = "Dual BSD/GPL";
