package flow

// Timer lists: intrusive doubly linked lists of slab indices, kept in order of a time
// key (last packet time for idle lists, record start time for the status list) so that
// expiry only looks at the head. Packet time can go backwards (merged captures, several
// files): an entry whose key is older than the list's tail would break the order, so it
// waits on a second, unordered "late" list, which expiry scans whole. With time that
// only moves forward the late list stays empty and every operation is O(1).

const (
	linkIdle   = 0
	linkStatus = 1
)

type list struct{ head, tail int32 }

// timerLink is an entry's position on one timer list.
type timerLink struct {
	key        int64 // the time the entry is ordered by, as of its last add
	prev, next int32
	late       bool // on the late list
	on         bool // on either list
}

// entryLinks are an entry's positions on the idle list of its class and on the status list.
type entryLinks struct{ idle, status timerLink }

type timerList struct {
	which      uint8 // linkIdle or linkStatus
	main, late list
}

func newTimerList(which uint8) timerList {
	return timerList{which: which, main: list{nilIdx, nilIdx}, late: list{nilIdx, nilIdx}}
}

func (tl *timerList) link(t *Table, i int32) *timerLink {
	if tl.which == linkIdle {
		return &t.linksOf(i).idle
	}
	return &t.linksOf(i).status
}

// key is the time an entry is ordered by.
func (tl *timerList) key(t *Table, i int32) int64 {
	e := t.at(i)
	if tl.which == linkIdle {
		return e.last
	}
	return e.rec.StartTime
}

func (tl *timerList) push(t *Table, l *list, i int32) {
	lk := tl.link(t, i)
	lk.prev, lk.next = l.tail, nilIdx
	if l.tail != nilIdx {
		tl.link(t, l.tail).next = i
	} else {
		l.head = i
	}
	l.tail = i
}

func (tl *timerList) unlink(t *Table, l *list, i int32) {
	lk := tl.link(t, i)
	if lk.prev != nilIdx {
		tl.link(t, lk.prev).next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != nilIdx {
		tl.link(t, lk.next).prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	lk.prev, lk.next = nilIdx, nilIdx
}

// add puts entry i, whose time key is key, on the list.
func (tl *timerList) add(t *Table, i int32, key int64) {
	late := tl.main.tail != nilIdx && key < tl.link(t, tl.main.tail).key
	lk := tl.link(t, i)
	lk.on, lk.late, lk.key = true, late, key
	if late {
		tl.push(t, &tl.late, i)
	} else {
		tl.push(t, &tl.main, i)
	}
}

// remove takes entry i off the list, if it is on it.
func (tl *timerList) remove(t *Table, i int32) {
	lk := tl.link(t, i)
	if !lk.on {
		return
	}
	if lk.late {
		tl.unlink(t, &tl.late, i)
	} else {
		tl.unlink(t, &tl.main, i)
	}
	lk.on, lk.late = false, false
}

// touch moves entry i to its place for a new key.
func (tl *timerList) touch(t *Table, i int32, key int64) {
	if lk := tl.link(t, i); lk.on && !lk.late && tl.main.tail == i {
		return // already last: the common case for a busy flow
	}
	tl.remove(t, i)
	tl.add(t, i, key)
}

// expire calls fn for every entry whose key is at or before deadline. fn must take the
// entry off the list.
func (tl *timerList) expire(t *Table, deadline int64, fn func(int32)) {
	for h := tl.main.head; h != nilIdx && tl.key(t, h) <= deadline; h = tl.main.head {
		fn(h)
	}
	for h := tl.late.head; h != nilIdx; {
		next := tl.link(t, h).next
		if tl.key(t, h) <= deadline {
			fn(h)
		}
		h = next
	}
}

// drain calls fn for every entry; fn must take the entry off the list.
func (tl *timerList) drain(t *Table, fn func(int32)) {
	for _, l := range []*list{&tl.main, &tl.late} {
		for h := l.head; h != nilIdx; h = l.head {
			fn(h)
		}
	}
}

// oldest returns the entry with the smallest key (nilIdx if the list is empty).
func (tl *timerList) oldest(t *Table) int32 {
	best := tl.main.head
	for h := tl.late.head; h != nilIdx; h = tl.link(t, h).next {
		if best == nilIdx || tl.key(t, h) < tl.key(t, best) {
			best = h
		}
	}
	return best
}
