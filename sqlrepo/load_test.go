package sqlrepo

import (
	"bytes"
	"testing"
	"time"

	"panoptes/argus"
)

// unescapeLoad undoes LOAD DATA's default escaping as the server reads a field
// (FIELDS ESCAPED BY '\\'): \0 \n \r \t and \\ (and \N for NULL, which escapeLoad never
// makes).
func unescapeLoad(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' && i+1 < len(b) {
			i++
			switch b[i] {
			case '0':
				c = 0
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			default:
				c = b[i]
			}
		}
		out = append(out, c)
	}
	return out
}

// FuzzEscapeLoad: an escaped field holds no tab, newline or NUL of its own (it cannot
// end the field or the row early) and reads back as it was.
func FuzzEscapeLoad(f *testing.F) {
	f.Add([]byte("plain"), []byte("x"))
	f.Add([]byte{0, '\t', '\n', '\r', '\\', 'N'}, []byte(""))
	f.Fuzz(func(t *testing.T, field, prefix []byte) {
		b := escapeLoad(append(append([]byte(nil), prefix...), field...), len(prefix))
		if !bytes.Equal(b[:len(prefix)], prefix) {
			t.Fatalf("prefix changed: %q", b[:len(prefix)])
		}
		esc := b[len(prefix):]
		if bytes.ContainsAny(esc, "\t\n\x00") {
			t.Fatalf("escaped %q holds a separator: %q", field, esc)
		}
		if got := unescapeLoad(esc); !bytes.Equal(got, field) {
			t.Fatalf("%q escaped to %q reads back as %q", field, esc, got)
		}
	})
}

// TestLoadRow: a row has the twelve columns of mysqlColumns, and its record column
// reads back as the record's FAR.
func TestLoadRow(t *testing.T) {
	rs := testRecords(300, time.Date(2026, 3, 4, 0, 0, 0, 0, time.Local))
	for i := range rs {
		row := appendLoadRow(nil, &rs[i])
		if row[len(row)-1] != '\n' || bytes.Count(row, []byte{'\n'}) != 1 {
			t.Fatalf("record %d: row %q is not one line", i, row)
		}
		cols := bytes.Split(row[:len(row)-1], []byte{'\t'})
		if len(cols) != 12 {
			t.Fatalf("record %d: %d columns, want 12: %q", i, len(cols), row)
		}
		if got, want := unescapeLoad(cols[11]), argus.AppendFAR(nil, &rs[i]); !bytes.Equal(got, want) {
			t.Fatalf("record %d: record column %x, want %x", i, got, want)
		}
	}
	if got := string(bytes.Join(bytes.Split(appendLoadRow(nil, &rs[258]), []byte{'\t'})[:11], []byte{' '})); got[:18] != "1772578800.258000 " && got[:10] != "1772" {
		t.Logf("row: %s", got)
	}
}

// BenchmarkLoadRow is the writer's own cost per MySQL row (the text columns and the
// FAR, escaped), beside the server's.
func BenchmarkLoadRow(b *testing.B) {
	rs := testRecords(1000, time.Date(2026, 3, 4, 0, 0, 0, 0, time.Local))
	var buf []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = appendLoadRow(buf[:0], &rs[i%len(rs)])
	}
	b.SetBytes(int64(len(buf)))
}
