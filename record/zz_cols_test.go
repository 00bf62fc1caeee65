package record

import (
	"fmt"
	"testing"
)

func TestZZCols(t *testing.T) {
	b := &testing.B{}
	blocks := benchBlocks(benchRecords(b))
	var e ColumnEncoder
	e.Append(nil, blocks[3].recs)
	s := ""
	for k := range e.cols {
		c := &e.cols[k]
		if c.write {
			s += fmt.Sprintf("%d:m%d,w%d,cnt%d ", c.id, c.mode, c.fixed, c.cnt)
		}
	}
	t.Log(len(blocks[3].recs), s)
}
