package filter

// FlowKeyOnly reports whether Match reads nothing of a record but its flow key: Kind,
// Family, EtherType, Proto, SrcAddr, DstAddr, SrcPort and DstPort. A reader may then
// decode only those fields, run the filter, and decode the rest only for the records
// it selects (the Argus input of the tools does). It is conservative: a term it does
// not know reads the whole record, and so makes it false. The match-everything filter
// reads nothing and is true.
func (f *Filter) FlowKeyOnly() bool {
	if f == nil || f.root == nil {
		return true
	}
	return flowKeyOnly(f.root)
}

// flowKeyOnly lists, per node type, the nodes whose match reads only the flow key
// fields above (see their match methods). A new node type is false until added here.
func flowKeyOnly(n node) bool {
	switch n := n.(type) {
	case trueNode, manNode, *familyNode, *protoNode, *etherNode, *hostNode, *netNode, *portNode:
		return true
	case *andNode:
		return flowKeyOnly(n.l) && flowKeyOnly(n.r)
	case *orNode:
		return flowKeyOnly(n.l) && flowKeyOnly(n.r)
	case *notNode:
		return flowKeyOnly(n.x)
	case *condNode:
		// echo, unreach, redirect, timexed read Family, Proto and SrcPort (the ICMP
		// type); the other words read the TCP state, counters or flags.
		return n.kind == condICMP
	}
	return false
}
