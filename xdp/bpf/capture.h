// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// Shared by capture.c and capture_hw.c.

#define MAX_QUEUES 64

// Counter slots per RX queue (key = queue * NUM_COUNTERS + slot). Keep in step with
// the Cnt constants in xdp/xdp.go.
enum {
	CNT_SEEN = 0,       // frames the program ran on
	CNT_REDIRECTED = 1, // handed to the queue's AF_XDP socket
	CNT_PASSED = 2,     // no socket on that queue: passed to the stack
	CNT_META_ERR = 3,   // no room for the metadata block (frame still redirected)
	NUM_COUNTERS = 4,
};

#include "meta.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_QUEUES * NUM_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

#ifdef PANOPTES_KFUNCS
// Not in older uapi headers: declared here.
enum xdp_rss_hash_type { XDP_RSS_TYPE_NONE = 0 };
extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;
extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash,
				    enum xdp_rss_hash_type *rss_type) __ksym;
#endif

static __always_inline void count(__u32 queue, __u32 slot)
{
	__u32 key = queue * NUM_COUNTERS + slot;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);
	if (v)
		*v += 1;
}

static __always_inline int capture(struct xdp_md *ctx, int kfuncs)
{
	__u32 queue = ctx->rx_queue_index;
	if (queue >= MAX_QUEUES)
		queue = MAX_QUEUES - 1;
	count(queue, CNT_SEEN);

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct pkt_meta)) == 0) {
		void *data = (void *)(long)ctx->data;
		struct pkt_meta *m = (void *)(long)ctx->data_meta;
		if ((void *)(m + 1) <= data) {
			m->sw_ts = bpf_ktime_get_tai_ns();
			m->hw_ts = 0;
			m->hash = 0;
			m->hash_type = 0;
			m->ts_err = -95;
#ifdef PANOPTES_KFUNCS
			if (kfuncs) {
				__u64 ts = 0;
				__u32 hash = 0;
				enum xdp_rss_hash_type ht = 0;
				m->ts_err = bpf_xdp_metadata_rx_timestamp(ctx, &ts);
				if (m->ts_err == 0)
					m->hw_ts = ts;
				if (bpf_xdp_metadata_rx_hash(ctx, &hash, &ht) == 0) {
					m->hash = hash;
					m->hash_type = ht;
				}
			}
#endif
			m->magic = META_MAGIC;
		} else {
			count(queue, CNT_META_ERR);
		}
	} else {
		count(queue, CNT_META_ERR);
	}

	// The low bits of the flags are the action when no socket sits at that index.
	int ret = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
	count(queue, ret == XDP_REDIRECT ? CNT_REDIRECTED : CNT_PASSED);
	return ret;
}
