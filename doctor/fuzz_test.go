package doctor

import (
	"reflect"
	"sort"
	"testing"
)

// FuzzParseCPUList checks the kernel CPU-list parser (sysfs cpulist, smp_affinity_list):
// it never panics, returns CPUs in ascending order without duplicates within a range,
// and what it returns prints back (cpuList) to a list that parses to the same CPUs.
func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-3", "0-1,4,6-7", "", "3-1", "x", "0-16383", "1,1", "-1", "0--2", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus := parseCPUList(s)
		if cpus == nil {
			return
		}
		for _, c := range cpus {
			if c < 0 || c >= maxCPUs {
				t.Fatalf("%q: CPU %d out of range", s, c)
			}
		}
		if !sort.IntsAreSorted(cpus) {
			return // "4,1" is a valid list in another order; cpuList needs sorted input
		}
		if again := parseCPUList(cpuList(cpus)); !reflect.DeepEqual(again, cpus) {
			t.Fatalf("%q: parsed %v, printed %q, parsed again %v", s, cpus, cpuList(cpus), again)
		}
	})
}
