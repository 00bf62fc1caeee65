package tools

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"panoptes/internal/cli"
	"panoptes/record"
	"panoptes/tools/cluster"
)

const clusterUsage = "-r FILE [-r FILE]... [-m KEYS] [-M correct|nocorrect|rmon] [--top N] [--sort FIELDS] [--max-keys N] [read output options] [-- FILTER]"

// ClusterMain is `panoptes cluster`, Argus's racluster: records that pass the filter
// are merged when their key fields (-m) are equal, and the merged records are printed
// (or written with -w) in order of first appearance. Management records are dropped.
//
// With the default key (saddr daddr proto sport dport), a record whose reversed key is
// already present is reversed and merged into it, as racluster's "correct" mode does;
// -M nocorrect turns that off, and -M correct turns it on for an explicit -m. When the
// records merged into one disagree on a flow-key field that is not part of -m (say
// daddr under -m saddr), that column prints empty.
//
// Address keys take a prefix length (-m saddr/24, daddr/16, saddr/64 for IPv6): records
// merge per network, and the network prints as the address, as racluster prints it.
//
// -M rmon is racluster's RMON mode: each record counts once for its source and once,
// reversed, for its destination, so that with -m saddr every address gets one row
// whose "s" counters are what it sent (OutPkts, OutBytes) and "d" counters what it
// received (InPkts, InBytes); saddr prints as Host.
//
// --top N prints the N largest clusters by --sort (default bytes; sort's field
// orders), --sort alone orders every cluster. Clusters are held in memory: more than
// --max-keys distinct keys (default 20 M, or fewer if half the available memory does
// not hold them) stops with an error saying how to raise the bound.
func ClusterMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (result error) {
	fs := cli.NewFlagSet("cluster", clusterUsage, stderr)
	var c common
	defer c.partialStatus(&result) // -R nats://: some sites did not answer
	c.register(fs)
	var keySpecs, modes []string
	fs.StringArrayVarP(&keySpecs, "keys", "m", nil, "merge records with equal `KEYS` (comma- or space-separated field names, or none)")
	fs.StringArrayVarP(&modes, "mode", "M", nil, "`MODE`: correct (also try the reversed key), nocorrect, or rmon (per-address in/out totals)")
	top := fs.Int("top", 0, "print only the `N` largest clusters by --sort")
	var sortSpecs []string
	fs.StringArrayVar(&sortSpecs, "sort", nil, "order clusters by `FIELDS` (as sort -m; default bytes with --top)")
	maxKeys := fs.Int64("max-keys", defaultMaxItems(20_000_000, cluster.EntrySize), "hold at most `N` clusters in memory")
	flt, o, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if *top < 0 {
		return cli.Usagef("--top %d: must not be negative", *top)
	}
	if err := cli.IntRange("--max-keys", *maxKeys, 1, math.MaxInt32); err != nil {
		return err
	}
	var order *sorter
	if len(sortSpecs) > 0 || *top > 0 {
		if len(sortSpecs) == 0 {
			sortSpecs = []string{"bytes"}
		}
		keys, err := parseSortKeys(sortSpecs, "--sort")
		if err != nil {
			return err
		}
		order = &sorter{keys: keys, format: o.Format}
	}
	names := cluster.DefaultKeys
	correct := true
	if fs.Changed("keys") {
		names, correct = nil, false
		for _, s := range keySpecs {
			names = append(names, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })...)
		}
	}
	rmon := false
	for _, s := range modes {
		for _, m := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
			switch m {
			case "correct":
				correct = true
			case "nocorrect":
				correct = false
			case "rmon":
				rmon = true
			default:
				return cli.Usagef("unsupported -M mode %q (have: correct, nocorrect, rmon)", m)
			}
		}
	}
	if rmon {
		// Both halves are added with the object as the source: correcting would fold
		// them back together.
		correct = false
		o.Fields = rmonLabels(o.Fields)
	}
	cl, err := cluster.New(names, correct)
	if err != nil {
		return err
	}
	cl.SetMaxKeys(int(*maxKeys))
	if c.write == "" {
		// Printed clusters read, of each record, the key fields, the printed and the
		// sorted fields (and the flow key and times): an archive decodes only those.
		c.readFields, c.readSome = clusterReads(names, o.Fields, order), true
	}
	var rev record.Record
	c.keyFilter = flt // fn passes over the records flt rejects
	err = scan("cluster", &c, stdin, stderr, func(r *record.Record) bool {
		if !flt.Match(r) || r.Kind == record.KindMan {
			return true
		}
		cl.Add(r)
		if rmon {
			rev = *r
			rev.Reverse()
			cl.Add(&rev)
		}
		return !cl.Full()
	})
	if err != nil {
		return err
	}
	if cl.Full() {
		return fmt.Errorf("more than %d distinct keys (--max-keys; about %d MB of memory per million keys): raise --max-keys, use fewer or coarser -m keys (saddr/24), or select fewer records with -t or a filter",
			cl.MaxKeys(), cluster.EntrySize*1_000_000>>20)
	}
	out, err := newSink(&c, o, stdout)
	if err != nil {
		return err
	}
	idx := make([]int32, cl.Len())
	for i := range idx {
		idx[i] = int32(i)
	}
	if order != nil {
		slices.SortStableFunc(idx, func(i, j int32) int { return order.compare(&cl.Entry(int(i)).Rec, &cl.Entry(int(j)).Rec) })
		if *top > 0 && len(idx) > *top {
			idx = idx[:*top]
		}
	}
	n := 0
	for _, i := range idx {
		if c.count > 0 && n == c.count {
			break
		}
		e := cl.Entry(int(i))
		if err := out.put(&e.Rec, e.Differ); err != nil {
			out.abort()
			return err
		}
		n++
	}
	if err := out.close(); err != nil {
		return err
	}
	if n == 0 {
		return cli.ErrNoMatch
	}
	return nil
}

// rmonLabels relabels the columns whose meaning -M rmon changes: the source address
// is the object (Host), and the source and destination counters are what it sent and
// received.
func rmonLabels(fields []*record.Field) []*record.Field {
	labels := map[string]string{"saddr": "Host", "spkts": "OutPkts", "dpkts": "InPkts", "sbytes": "OutBytes", "dbytes": "InBytes"}
	out := make([]*record.Field, len(fields))
	for i, f := range fields {
		out[i] = f
		if l, ok := labels[f.Name]; ok {
			g := *f
			g.Label = l
			out[i] = &g
		}
	}
	return out
}

// clusterReads returns the groups of fields (record.Field.Reads) that clustering by
// keys and printing fields, sorted by order (nil: none), read of the records. Merging
// reads every field, but the fields neither printed nor keys are never seen.
func clusterReads(keys []string, fields []*record.Field, order *sorter) record.Fields {
	reads := fieldsReads(fields)
	for _, k := range keys {
		name, _, _ := strings.Cut(k, "/")
		f, ok := record.Lookup(name)
		if !ok {
			return record.AllFields
		}
		reads |= f.Reads()
	}
	if order != nil {
		for _, k := range order.keys {
			reads |= k.f.Reads()
		}
	}
	return reads
}

// fieldsReads returns the groups of fields printing fields reads (record.Field.Reads).
func fieldsReads(fields []*record.Field) record.Fields {
	reads := record.FieldsKey
	for _, f := range fields {
		reads |= f.Reads()
	}
	return reads
}
