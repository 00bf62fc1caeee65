package record

import (
	"strings"
	"testing"
	"time"
)

func TestTimeLayout(t *testing.T) {
	// 2005-03-30 08:05:04.366527123 UTC, a Wednesday: the expected strings are what
	// ra printed for the same conversions with RA_TIME_FORMAT (argus-clients 3.0.8).
	tm := time.Date(2005, 3, 30, 8, 5, 4, 366527123, time.UTC)
	for _, c := range []struct {
		layout string
		prec   int
		want   string
	}{
		{"%T.%f", 6, "08:05:04.366527"},
		{"%T.%f", 3, "08:05:04.366"},
		{"%T.%f", 9, "08:05:04.366527123"},
		{"%T.%f", 0, "08:05:04"},
		{"%f %T", 0, " 08:05:04"},
		{"%Y-%m-%d %T.%f", 6, "2005-03-30 08:05:04.366527"},
		{"%s.%f", 3, "1112169904.366"},
		{"%j %e %b %a %H%M%S %Z %z", 6, "089 30 Mar Wed 080504 UTC +0000"},
		{"%D %F %R %y %C %p %I %l %k", 6, "03/30/05 2005-03-30 08:05 05 20 AM 08  8  8"},
		{"%A %B %h %u %w %c", 6, "Wednesday March Mar 3 3 Wed Mar 30 08:05:04 2005"},
		{"a%%b%tc%nd", 6, "a%b\tc\nd"},
		{"no conversions", 6, "no conversions"},
		{"", 6, ""},
	} {
		l, err := ParseTimeLayout(c.layout)
		if err != nil {
			t.Errorf("%q: %v", c.layout, err)
			continue
		}
		if got := string(l.Append(nil, tm, c.prec)); got != c.want {
			t.Errorf("%q -p %d: got %q, want %q", c.layout, c.prec, got, c.want)
		}
		if l.String() != c.layout {
			t.Errorf("String() = %q, want %q", l.String(), c.layout)
		}
	}
	for _, c := range []struct{ layout, want string }{
		{"%T.%", "lone % at position 4"},
		{"%Q", "unknown conversion %Q at position 1"},
		{"ab%E", "unknown conversion %E at position 3"},
	} {
		if _, err := ParseTimeLayout(c.layout); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.layout, err, c.want)
		}
	}
}

func TestAppendTimeLayout(t *testing.T) {
	l, err := ParseTimeLayout("%F %T.%f")
	if err != nil {
		t.Fatal(err)
	}
	ns := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC).UnixNano()
	f := Format{Precision: 3, Location: time.UTC, Layout: l}
	if got := string(AppendTime(nil, ns, &f)); got != "2026-03-01 12:00:00.123" {
		t.Errorf("layout: %q", got)
	}
	f.Epoch = true // -u wins over the layout, as RA_PRINT_UNIX_TIME does in ra
	if got := string(AppendTime(nil, ns, &f)); got != "1772366400.123" {
		t.Errorf("epoch: %q", got)
	}
}

// FuzzParseTimeLayout: a layout either fails to compile or prints without panicking,
// and its literal text (everything outside conversions) comes out unchanged.
func FuzzParseTimeLayout(f *testing.F) {
	for _, s := range []string{"%T.%f", "%Y-%m-%d %T", "%", "%%", "a.%f", "%s.%f%n", "x%Qy"} {
		f.Add(s, 6)
	}
	tm := time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC)
	f.Fuzz(func(t *testing.T, s string, prec int) {
		prec = (prec%10 + 10) % 10
		l, err := ParseTimeLayout(s)
		if err != nil {
			if l != nil {
				t.Fatalf("%q: error and a layout", s)
			}
			return
		}
		out := string(l.Append(nil, tm, prec))
		if !strings.Contains(s, "%") && out != s {
			t.Fatalf("%q: literal layout printed %q", s, out)
		}
		if l.String() != s {
			t.Fatalf("String() = %q, want %q", l.String(), s)
		}
	})
}

func BenchmarkTimeLayout(b *testing.B) {
	// Why: every printed time goes through the layout when --time-format is set.
	l, _ := ParseTimeLayout("%Y-%m-%d %T.%f")
	tm := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = l.Append(buf[:0], tm, 6)
	}
}
