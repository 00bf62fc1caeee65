package timerange

import (
	"errors"
	"strings"
	"testing"
	"time"

	"panoptes/record"
)

// now is the fixed "now" of the tests: Friday 2026-11-27 14:30:15 UTC.
var now = time.Date(2026, 11, 27, 14, 30, 15, 0, time.UTC)

// ns parses "2006-01-02 15:04:05.999999999" in loc as ns since the epoch.
func ns(t testing.TB, loc *time.Location, s string) int64 {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v.UnixNano()
}

func newYork(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	return loc
}

type parseCase struct {
	name, spec string
	start, end string // wall-clock in the case's zone
	mode       Mode
	negate     bool
}

func checkParse(t *testing.T, now time.Time, cases []parseCase) {
	t.Helper()
	loc := now.Location()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(tc.spec, now)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.spec, err)
			}
			want := Range{Start: ns(t, loc, tc.start), End: ns(t, loc, tc.end), Mode: tc.mode, Negate: tc.negate}
			if r.Start != want.Start || r.End != want.End || r.Mode != want.Mode || r.Negate != want.Negate {
				t.Errorf("Parse(%q) = %s %v negate=%v, want [%s, %s) %v negate=%v", tc.spec,
					r, r.Mode, r.Negate, tc.start, tc.end, tc.mode, tc.negate)
			}
			checkRoundTrip(t, r, now)
		})
	}
}

// checkRoundTrip checks that r's String parses back to r.
func checkRoundTrip(t *testing.T, r Range, now time.Time) {
	t.Helper()
	s := r.String()
	back, err := Parse(s, now)
	if err != nil {
		t.Fatalf("String() = %q does not parse: %v", s, err)
	}
	if back != r {
		t.Fatalf("String() = %q parses to %+v, want %+v", s, back, r)
	}
}

func TestParse(t *testing.T) {
	checkParse(t, now, []parseCase{
		// A time alone is its natural span.
		{"full second", "2026/11/27.11:58:00", "2026-11-27 11:58:00", "2026-11-27 11:58:01", Intersects, false},
		{"full minute", "2026/11/27.11:58", "2026-11-27 11:58:00", "2026-11-27 11:59:00", Intersects, false},
		{"full hour", "2026/11/27.11", "2026-11-27 11:00:00", "2026-11-27 12:00:00", Intersects, false},
		{"day", "2026/11/27", "2026-11-27 00:00:00", "2026-11-28 00:00:00", Intersects, false},
		{"last day of year", "2026/12/31", "2026-12-31 00:00:00", "2027-01-01 00:00:00", Intersects, false},
		{"leap day", "2028/02/29", "2028-02-29 00:00:00", "2028-03-01 00:00:00", Intersects, false},
		{"this year", "11/27.11:58:00", "2026-11-27 11:58:00", "2026-11-27 11:58:01", Intersects, false},
		{"this year day", "3/5", "2026-03-05 00:00:00", "2026-03-06 00:00:00", Intersects, false},
		{"this month", "27.11:58", "2026-11-27 11:58:00", "2026-11-27 11:59:00", Intersects, false},
		{"this month hour", "3.9", "2026-11-03 09:00:00", "2026-11-03 10:00:00", Intersects, false},
		{"today second", "11:58:00", "2026-11-27 11:58:00", "2026-11-27 11:58:01", Intersects, false},
		{"today minute", "11:58", "2026-11-27 11:58:00", "2026-11-27 11:59:00", Intersects, false},
		{"hour", "14", "2026-11-27 14:00:00", "2026-11-27 15:00:00", Intersects, false},
		{"hour one digit", "9", "2026-11-27 09:00:00", "2026-11-27 10:00:00", Intersects, false},
		{"last hour of day", "23", "2026-11-27 23:00:00", "2026-11-28 00:00:00", Intersects, false},
		{"month", "2026/11", "2026-11-01 00:00:00", "2026-12-01 00:00:00", Intersects, false},
		{"december", "2026/12", "2026-12-01 00:00:00", "2027-01-01 00:00:00", Intersects, false},
		{"year", "2026", "2026-01-01 00:00:00", "2027-01-01 00:00:00", Intersects, false},
		{"fraction", "11:58:00.25", "2026-11-27 11:58:00.25", "2026-11-27 11:58:01.25", Intersects, false},
		{"nanoseconds", "2026/11/27.11:58:00.000000001", "2026-11-27 11:58:00.000000001", "2026-11-27 11:58:01.000000001", Intersects, false},

		// a-b: from the start of a to the start of b.
		{"minutes", "11:58-12:03", "2026-11-27 11:58:00", "2026-11-27 12:03:00", Intersects, false},
		{"months", "2011/08-2011/10", "2011-08-01 00:00:00", "2011-10-01 00:00:00", Intersects, false},
		{"seconds", "2026/11/27.06:09:47-2026/11/27.06:09:48", "2026-11-27 06:09:47", "2026-11-27 06:09:48", Intersects, false},
		{"end inherits date from start", "2026/11/20.23:00-23:30", "2026-11-20 23:00:00", "2026-11-20 23:30:00", Intersects, false},
		{"end inherits month", "2026/02/03-27.10", "2026-02-03 00:00:00", "2026-02-27 10:00:00", Intersects, false},
		{"end inherits year", "2025/12/30-12/31.12", "2025-12-30 00:00:00", "2025-12-31 12:00:00", Intersects, false},
		{"end next day", "2026/11/20.23:00-2026/11/21.01:00", "2026-11-20 23:00:00", "2026-11-21 01:00:00", Intersects, false},
		{"hours", "9-17", "2026-11-27 09:00:00", "2026-11-27 17:00:00", Intersects, false},
		{"years", "2020-2026", "2020-01-01 00:00:00", "2026-01-01 00:00:00", Intersects, false},
		{"epochs", "1270616652-1270616655", "2010-04-07 05:04:12", "2010-04-07 05:04:15", Intersects, false},
		{"epoch to wall", "1270616652-2010/04/07.06", "2010-04-07 05:04:12", "2010-04-07 06:00:00", Intersects, false},
		{"wall to epoch", "2010/04/07-1270616652.5", "2010-04-07 00:00:00", "2010-04-07 05:04:12.5", Intersects, false},

		// a+D and a-D.
		{"plus minutes", "2026/11/27.11:58:00+5m", "2026-11-27 11:58:00", "2026-11-27 12:03:00", Intersects, false},
		{"plus from hour", "14+90s", "2026-11-27 14:00:00", "2026-11-27 14:01:30", Intersects, false},
		{"minus minutes", "11:58-5m", "2026-11-27 11:53:00", "2026-11-27 11:58:00", Intersects, false},
		{"plus days", "2026/11/27+2d", "2026-11-27 00:00:00", "2026-11-29 00:00:00", Intersects, false},
		{"plus week", "2026/11/27+1w", "2026-11-27 00:00:00", "2026-12-04 00:00:00", Intersects, false},
		{"plus month", "2026/01/31+1M", "2026-01-31 00:00:00", "2026-03-03 00:00:00", Intersects, false},
		{"plus year", "2026/11+1y", "2026-11-01 00:00:00", "2027-11-01 00:00:00", Intersects, false},
		{"plus mixed", "2026/11/27+1M2d3h4m5s", "2026-11-27 00:00:00", "2026-12-29 03:04:05", Intersects, false},
		{"plus repeated unit", "14+1h1h", "2026-11-27 14:00:00", "2026-11-27 16:00:00", Intersects, false},
		{"epoch plus", "1270616652+2s", "2010-04-07 05:04:12", "2010-04-07 05:04:14", Intersects, false},
		{"epoch", "1270616652", "2010-04-07 05:04:12", "2010-04-07 05:04:13", Intersects, false},
		{"epoch fraction", "1270616652.5", "2010-04-07 05:04:12.5", "2010-04-07 05:04:13.5", Intersects, false},
		{"epoch five digits", "86400", "1970-01-02 00:00:00", "1970-01-02 00:00:01", Intersects, false},

		// Relative to now.
		{"last ten minutes", "-10m", "2026-11-27 14:20:15", "2026-11-27 14:30:15", Intersects, false},
		{"last two hours", "-2h", "2026-11-27 12:30:15", "2026-11-27 14:30:15", Intersects, false},
		{"next ten minutes", "+10m", "2026-11-27 14:30:15", "2026-11-27 14:40:15", Intersects, false},
		{"window in the past", "-2h5m+5m", "2026-11-27 12:25:15", "2026-11-27 12:30:15", Intersects, false},
		{"before relative", "-2h-1h", "2026-11-27 11:30:15", "2026-11-27 12:30:15", Intersects, false},
		{"relative to wall", "-1h-14:00", "2026-11-27 13:30:15", "2026-11-27 14:00:00", Intersects, false},
		{"rasql example", "-10d+20s", "2026-11-17 14:30:15", "2026-11-17 14:30:35", Intersects, false},
		{"last month", "-1M", "2026-10-27 14:30:15", "2026-11-27 14:30:15", Intersects, false},
		{"last year", "-1y", "2025-11-27 14:30:15", "2026-11-27 14:30:15", Intersects, false},
		{"last week", "-1w", "2026-11-20 14:30:15", "2026-11-27 14:30:15", Intersects, false},

		// Mode prefixes.
		{"contained", "c14:10-14:10:10", "2026-11-27 14:10:00", "2026-11-27 14:10:10", Contained, false},
		{"includes", "n14", "2026-11-27 14:00:00", "2026-11-27 15:00:00", Includes, false},
		{"intersects explicit", "i14", "2026-11-27 14:00:00", "2026-11-27 15:00:00", Intersects, false},
		{"negate relative", "x-1h", "2026-11-27 13:30:15", "2026-11-27 14:30:15", Intersects, true},
		{"negate contained", "xc-1h", "2026-11-27 13:30:15", "2026-11-27 14:30:15", Contained, true},
		{"negate includes", "xn2026", "2026-01-01 00:00:00", "2027-01-01 00:00:00", Includes, true},
		{"negate intersects", "xi14", "2026-11-27 14:00:00", "2026-11-27 15:00:00", Intersects, true},
		{"negate plus", "x+1h", "2026-11-27 14:30:15", "2026-11-27 15:30:15", Intersects, true},
	})
}

// TestParseZone checks that wall-clock times are read in now's zone, including across
// daylight-saving changes.
func TestParseZone(t *testing.T) {
	ny := newYork(t)
	nyNow := time.Date(2026, 11, 27, 14, 30, 15, 0, ny)
	checkParse(t, nyNow, []parseCase{
		{"hour", "14", "2026-11-27 14:00:00", "2026-11-27 15:00:00", Intersects, false},
		{"relative", "-10m", "2026-11-27 14:20:15", "2026-11-27 14:30:15", Intersects, false},
		{"epoch", "1270616652", "2010-04-07 01:04:12", "2010-04-07 01:04:13", Intersects, false},
		// 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT.
		{"spring day is 23h", "2026/03/08", "2026-03-08 00:00:00", "2026-03-09 00:00:00", Intersects, false},
		{"hour before the gap", "2026/03/08.01", "2026-03-08 01:00:00", "2026-03-08 03:00:00", Intersects, false},
		{"time in the gap", "2026/03/08.02:30-04", "2026-03-08 03:00:00", "2026-03-08 04:00:00", Intersects, false},
		// 2026-11-01: clocks go back from 02:00 EDT to 01:00 EST.
		{"fall day is 25h", "2026/11/01", "2026-11-01 00:00:00", "2026-11-02 00:00:00", Intersects, false},
		{"repeated hour", "2026/11/01.01-02", "2026-11-01 01:00:00", "2026-11-01 02:00:00", Intersects, false},
	})
	// The repeated hour is two hours long: 01:00 EDT to 02:00 EST.
	r, err := Parse("2026/11/01.01", nyNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(r.End - r.Start); got != 2*time.Hour {
		t.Errorf("repeated hour spans %v, want 2h", got)
	}
	// An end in the second pass through the repeated hour has no wall-clock form that
	// reads back to it; String prints it as epoch seconds.
	r, err = Parse("2026/11/01.01:30+1h", nyNow)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.String(), "2026/11/01.01:30:00-1793514600"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	checkRoundTrip(t, r, nyNow)
	// The same hour written in UTC is the same instant regardless of now's zone.
	u, err := Parse("2026/11/01.05:30-2026/11/01.06:30", now)
	if err != nil {
		t.Fatal(err)
	}
	if u.Start != r.Start || u.End != r.End {
		t.Errorf("UTC %s and New York %s differ", u, r)
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"11:58-12:03", "2026/11/27.11:58:00-2026/11/27.12:03:00"},
		{"14", "2026/11/27.14:00:00-2026/11/27.15:00:00"},
		{"c14:10-14:10:10", "c2026/11/27.14:10:00-2026/11/27.14:10:10"},
		{"xn-1h", "xn2026/11/27.13:30:15-2026/11/27.14:30:15"},
		{"i1270616652.5", "2010/04/07.05:04:12.5-2010/04/07.05:04:13.5"},
		{"2026/11/27.11:58:00.000000001", "2026/11/27.11:58:00.000000001-2026/11/27.11:58:01.000000001"},
	} {
		r, err := Parse(tc.spec, now)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.spec, err)
		}
		if got := r.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.spec, got, tc.want)
		}
	}
	// A Range built by hand prints in UTC.
	r := Range{Start: ns(t, time.UTC, "2026-11-27 11:58:00"), End: ns(t, time.UTC, "2026-11-27 12:03:00"), Mode: Contained}
	if got, want := r.String(), "c2026/11/27.11:58:00-2026/11/27.12:03:00"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, spec, want string
		offset           int
	}{
		{"empty", "", `time range "": empty time range at column 1`, 0},
		{"month", "2026/13/01", `time range "2026/13/01": month 13 (want 1-12) at column 6`, 5},
		{"month zero", "2026/00", `time range "2026/00": month 0 (want 1-12) at column 6`, 5},
		{"feb 30", "2026/02/30", `time range "2026/02/30": day 30 (2026/02 has 28 days) at column 9`, 8},
		{"feb 29 this year", "2/29", `time range "2/29": day 29 (2026/02 has 28 days) at column 3`, 2},
		{"day zero", "0.12", `time range "0.12": day 0 (want 1-31) at column 1`, 0},
		{"day 31 this month", "31.12", `time range "31.12": day 31 (2026/11 has 30 days) at column 1`, 0},
		{"hour", "24", `time range "24": hour 24 (want 0-23) at column 1`, 0},
		{"minute", "11:60", `time range "11:60": minute 60 (want 0-59) at column 4`, 3},
		{"second", "11:59:60", `time range "11:59:60": second 60 (want 0-59) at column 7`, 6},
		{"minute digits", "11:058", `time range "11:058": minute 058 has 3 digits (want 1 or 2) at column 4`, 3},
		{"year digits", "26/11/27", `time range "26/11/27": year 26 has 2 digits (want 4) at column 1`, 0},
		{"three digits", "123", `time range "123": number 123 is not an hour (HH), a year (yyyy) or epoch seconds (5+ digits) at column 1`, 0},
		{"wildcard day", "**.14", `time range "**.14": wildcards are not supported yet at column 1`, 0},
		{"wildcard year", "****/11/23", `time range "****/11/23": wildcards are not supported yet at column 1`, 0},
		{"wildcard later", "c2026/*", `time range "c2026/*": wildcards are not supported yet at column 7`, 6},
		{"end before start", "23:00-01:00", `time range "23:00-01:00": empty range: end 2026/11/27.01:00:00 is not after start 2026/11/27.23:00:00 at column 7`, 6},
		{"end equals start", "14-14", `time range "14-14": empty range: end 2026/11/27.14:00:00 is not after start 2026/11/27.14:00:00 at column 4`, 3},
		{"zero duration", "14+0s", `time range "14+0s": empty range: end 2026/11/27.14:00:00 is not after start 2026/11/27.14:00:00 at column 4`, 3},
		{"zero relative", "-0m", `time range "-0m": empty range: end 2026/11/27.14:30:15 is not after start 2026/11/27.14:30:15 at column 1`, 0},
		{"future end before start", "+1h-14:00", `time range "+1h-14:00": empty range: end 2026/11/27.14:00:00 is not after start 2026/11/27.15:30:15 at column 5`, 4},
		{"prefix only", "xc", `time range "xc": missing time after mode prefix at column 3`, 2},
		{"two modes", "cn14", `time range "cn14": unexpected 'n', want a time at column 2`, 1},
		{"unknown prefix", "q14", `time range "q14": unexpected 'q', want a time at column 1`, 0},
		{"space", "14 -15", `time range "14 -15": unexpected ' ', want "-", "+" or the end at column 3`, 2},
		{"missing unit", "-10", `time range "-10": unexpected end, want a unit (s m h d w M y) at column 4`, 3},
		{"bad unit", "-10q", `time range "-10q": unexpected 'q', want a unit (s m h d w M y) at column 4`, 3},
		{"plus needs duration", "14+15", `time range "14+15": unexpected end, want a unit (s m h d w M y) at column 6`, 5},
		{"trailing plus", "11:58+", `time range "11:58+": unexpected end, want a duration such as 5m or 2h30m at column 7`, 6},
		{"trailing minus", "11:58-", `time range "11:58-": unexpected end, want a time at column 7`, 6},
		{"two operators", "14+1h-5m", `time range "14+1h-5m": unexpected '-', want the end at column 6`, 5},
		{"double minus", "14--1h", `time range "14--1h": unexpected '-', want a time at column 4`, 3},
		{"trailing colon", "14:", `time range "14:": unexpected end, want the minute at column 4`, 3},
		{"trailing dot", "2026/11/27.", `time range "2026/11/27.": unexpected end, want the hour at column 12`, 11},
		{"clock on month", "2026/11.14", `time range "2026/11.14": unexpected '.', want "-", "+" or the end at column 8`, 7},
		{"fraction digits", "1:2:3.1234567891", `time range "1:2:3.1234567891": 10 fractional digits (want at most 9) at column 7`, 6},
		{"fraction on minute", "11:58.5", `time range "11:58.5": unexpected '.', want "-", "+" or the end at column 6`, 5},
		{"empty fraction", "1270616652.", `time range "1270616652.": unexpected end, want fractional digits at column 12`, 11},
		{"epoch too big", "99999999999", `time range "99999999999": epoch seconds 99999999999 out of range (want at most 9223372036) at column 1`, 0},
		{"count too big", "-99999999999h", `time range "-99999999999h": count 99999999999 too large (want at most 999999999) at column 2`, 1},
		{"duration too long", "-999999999w", `time range "-999999999w": duration 999999999w too long at column 2`, 1},
		{"year beyond int64 ns", "2262", `time range "2262": range 2262/01/01.00:00:00 to 2263/01/01.00:00:00 is outside the int64-nanosecond epoch (1677/09/21.00:12:43.145224192 to 2262/04/11.23:47:16.854775807) at column 1`, 0},
		{"relative before int64 ns", "-400y", `time range "-400y": range 1626/11/27.14:30:15 to 2026/11/27.14:30:15 is outside the int64-nanosecond epoch (1677/09/21.00:12:43.145224192 to 2262/04/11.23:47:16.854775807) at column 1`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(tc.spec, now)
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want error", tc.spec, r)
			}
			if err.Error() != tc.want {
				t.Errorf("Parse(%q) error\n got %s\nwant %s", tc.spec, err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Offset != tc.offset || e.Spec != tc.spec {
				t.Errorf("error %#v, want Offset %d", e, tc.offset)
			}
			if r != (Range{}) {
				t.Errorf("Parse(%q) returned %+v with its error, want the zero Range", tc.spec, r)
			}
		})
	}
}

func TestParseZoneErrors(t *testing.T) {
	ny := newYork(t)
	nyNow := time.Date(2026, 11, 27, 14, 30, 15, 0, ny)
	// 02:00-03:00 does not exist on 2026-03-08 in New York: the hour is empty.
	_, err := Parse("2026/03/08.02", nyNow)
	want := `time range "2026/03/08.02": empty range: end 2026/03/08.03:00:00 is not after start 2026/03/08.03:00:00 at column 1`
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v, want %s", err, want)
	}
}

func TestMatch(t *testing.T) {
	// The range [100, 200) in every mode; records are [StartTime, LastTime], inclusive.
	rec := func(start, last int64) *record.Record {
		return &record.Record{StartTime: start, LastTime: last}
	}
	type want struct{ intersects, includes, contained bool }
	for _, tc := range []struct {
		name string
		rec  *record.Record
		want want
	}{
		{"well before", rec(10, 20), want{false, false, false}},
		{"ends just before start", rec(10, 99), want{false, false, false}},
		{"ends at start", rec(10, 100), want{true, false, false}},
		{"point at start", rec(100, 100), want{true, false, true}},
		{"inside", rec(120, 150), want{true, false, true}},
		{"exactly the range", rec(100, 199), want{true, true, true}},
		{"point at last ns", rec(199, 199), want{true, false, true}},
		{"starts at end", rec(200, 250), want{false, false, false}},
		{"point at end", rec(200, 200), want{false, false, false}},
		{"overlaps start", rec(50, 150), want{true, false, false}},
		{"overlaps end", rec(150, 250), want{true, false, false}},
		{"spans the range", rec(50, 250), want{true, true, false}},
		{"starts at start, ends after", rec(100, 300), want{true, true, false}},
		{"starts before, ends at last ns", rec(0, 199), want{true, true, false}},
		{"starts before, ends one short", rec(0, 198), want{true, false, false}},
		{"starts one late, ends after", rec(101, 300), want{true, false, false}},
		{"ends at last ns, starts inside", rec(150, 199), want{true, false, true}},
		{"ends at end", rec(150, 200), want{true, false, false}},
		{"well after", rec(300, 400), want{false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []struct {
				mode Mode
				want bool
			}{{Intersects, tc.want.intersects}, {Includes, tc.want.includes}, {Contained, tc.want.contained}} {
				r := Range{Start: 100, End: 200, Mode: m.mode}
				if got := r.Match(tc.rec); got != m.want {
					t.Errorf("%v.Match(%d..%d) = %v, want %v", m.mode, tc.rec.StartTime, tc.rec.LastTime, got, m.want)
				}
				r.Negate = true
				if got := r.Match(tc.rec); got != !m.want {
					t.Errorf("negated %v.Match(%d..%d) = %v, want %v", m.mode, tc.rec.StartTime, tc.rec.LastTime, got, !m.want)
				}
			}
		})
	}
	// The zero Range is empty: it matches nothing (and, negated, everything).
	if (Range{}).Match(rec(0, 0)) || !(Range{Negate: true}).Match(rec(0, 0)) {
		t.Error("zero Range matched a record")
	}
}

// TestMatchParsed ties Parse and Match together on the ra(1) examples.
func TestMatchParsed(t *testing.T) {
	at := func(s string) int64 { return ns(t, time.UTC, "2026-11-27 "+s) }
	flow := &record.Record{StartTime: at("14:10:05"), LastTime: at("14:10:09.999999999")}
	for _, tc := range []struct {
		spec string
		want bool
	}{
		{"14", true},
		{"n14", false},
		{"c14", true},
		{"c14:10-14:10:10", true},
		{"c14:10-14:10:09", false},
		{"n14:10:06-14:10:09", true},
		{"n14:10:06-14:10:10", true},
		{"n14:10:06-14:10:11", false},
		{"14:10:10-15", false},
		{"x14:10:10-15", true},
		{"-10m", false},
		{"-30m", true},
		{"x-30m", false},
	} {
		r, err := Parse(tc.spec, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Match(flow); got != tc.want {
			t.Errorf("Parse(%q).Match(14:10:05-14:10:09.999999999) = %v, want %v", tc.spec, got, tc.want)
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	rec := &record.Record{StartTime: 150, LastTime: 250}
	for _, m := range []Mode{Intersects, Includes, Contained} {
		r := Range{Start: 100, End: 200, Mode: m, Negate: m == Includes}
		if n := testing.AllocsPerRun(1000, func() { _ = r.Match(rec) }); n != 0 {
			t.Errorf("%v: Match allocates %v times, want 0", m, n)
		}
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Intersects: "intersects", Includes: "includes", Contained: "contained", 7: "Mode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", m, got, want)
		}
	}
}

// FuzzParse checks that Parse never panics, that an error comes with the zero Range,
// and that a parsed range is non-empty and reads back from its String, in UTC and in a
// zone with daylight-saving changes.
func FuzzParse(f *testing.F) {
	zones := []*time.Location{time.UTC}
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		zones = append(zones, ny)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		for _, loc := range zones {
			now := now.In(loc)
			r, err := Parse(spec, now)
			if err != nil {
				if r != (Range{}) {
					t.Fatalf("Parse(%q) returned %+v with error %v", spec, r, err)
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "time range ") || strings.Contains(msg, "\n") {
					t.Fatalf("Parse(%q) error %q is not one line", spec, msg)
				}
				continue
			}
			if r.Start >= r.End {
				t.Fatalf("Parse(%q) = [%d, %d): empty", spec, r.Start, r.End)
			}
			if unprintable(r.Start, loc) || unprintable(r.End, loc) {
				continue // the documented String limitation
			}
			s := r.String()
			back, err := Parse(s, now)
			if err != nil {
				t.Fatalf("Parse(%q).String() = %q does not parse in %v: %v", spec, s, loc, err)
			}
			if back != r {
				t.Fatalf("Parse(%q) = %+v; String() = %q parses to %+v in %v", spec, r, s, back, loc)
			}
		}
	})
}

// unprintable reports the one case String cannot print in a form Parse accepts: an
// ambiguous wall-clock time before 1970, which would need negative epoch seconds.
func unprintable(ns int64, loc *time.Location) bool {
	t := time.Unix(0, ns).In(loc)
	return ns < 0 && !resolve(wallOf(t), loc).Equal(t)
}

// BenchmarkMatch measures the per-record time test. Match runs once for every record a
// tool reads with -t, so over an archive scan it runs millions of times a second; it
// must stay a few comparisons and allocate nothing (ReportAllocs shows a regression).
func BenchmarkMatch(b *testing.B) {
	recs := make([]record.Record, 1024)
	for i := range recs {
		recs[i].StartTime = int64(i) * 1e6
		recs[i].LastTime = recs[i].StartTime + int64(i%7)*1e6
	}
	for _, m := range []Mode{Intersects, Includes, Contained} {
		r := Range{Start: 300e6, End: 700e6, Mode: m}
		b.Run(m.String(), func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for i := 0; b.Loop(); i++ {
				if r.Match(&recs[i&1023]) {
					n++
				}
			}
			if n < 0 {
				b.Fatal(n)
			}
		})
	}
}
