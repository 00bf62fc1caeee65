// Package timerange parses Argus's -t time-range syntax and tests records against it.
//
// A range is written as in ra(1), `-t [x][i|n|c]spec[-spec]`:
//
//	range  = [ "x" ] [ "i" | "n" | "c" ] first [ "-" time | "+" dur | "-" dur ]
//	first  = time | ("-" | "+") dur              a relative time: now minus or plus dur
//	time   = yyyy "/" mm "/" dd [ "." clock ]     2026/11/27.11:58:00   (a day, or finer)
//	       | yyyy "/" mm                          2026/11               (a month)
//	       | yyyy                                 2026                  (a year)
//	       | mm "/" dd [ "." clock ]              11/27.11:58           (this year)
//	       | dd "." clock                         27.11:58              (this month)
//	       | clock                                11:58, 14             (today)
//	       | epoch [ "." frac ]                   1270616652.5          (5 or more digits)
//	clock  = HH [ ":" MM [ ":" SS [ "." frac ] ] ]
//	dur    = { N ("s" | "m" | "h" | "d" | "w" | "M" | "y") }   one or more, e.g. 2h5m
//
// Months, days, hours, minutes and seconds take one or two digits, years four, and frac
// one to nine. "x" negates the test; "i" (intersects, the default), "n" (includes) and
// "c" (contained) choose how a record must relate to the range (see Mode). A leading "-"
// is a relative time ("-10m"), never a range separator.
//
// Every range is half-open, [Start, End), in nanoseconds since the epoch:
//   - A time alone names its natural span: "14" is [14:00, 15:00) today, "2026/11/27"
//     that day, "2026/11" that month, "11:58:00" and "1270616652" one second.
//   - "a-b" runs from the start of a to the START of b's span: "11:58-12:03" is
//     [11:58:00, 12:03:00) and "2011/08-2011/10" is August and September. This is the
//     choice that keeps "a-b" exact (String prints every range in this form). Fields b
//     leaves out are taken from the start of a, not from now: in "2026/11/20.23:00-23:30"
//     the end is on 2026/11/20. An end that is not after the start is an error; there
//     is no wrap past midnight ("23:00-01:00" is rejected).
//   - "a+D" is [a, a+D) and "a-D" is [a-D, a), where a is the start of a's span.
//   - A relative time alone runs to or from now: "-10m" is [now-10m, now) and "+10m" is
//     [now, now+10m). Followed by "+D" or "-D" it is an anchor like any other time:
//     "-2h5m+5m" is [now-2h5m, now-2h).
//
// Duration units: s, m (minutes), h, d (24 h) and w (7 d) are fixed lengths; M (months)
// and y (years) are calendar steps in now's zone, applied first with time.AddDate (so one
// month before March 31 is March 3, as AddDate normalises).
//
// Wall-clock times are in now's zone (Parse's argument). A time that does not exist
// because clocks jump forward means the instant the jump ends (02:30 on a spring-forward
// day in New York is 03:00 EDT); a time that occurs twice because clocks go back means
// its first occurrence. The range must lie within the int64-nanosecond epoch
// (1677/09/21 to 2262/04/11 UTC).
//
// Not supported yet: wildcards ("**.14", "****/11/23"), which name a set of ranges
// rather than one (Parse says "wildcards are not supported yet"), and Argus's absolute
// unit form ("1999y1m23d10h").
package timerange

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"panoptes/record"
)

// Mode says how a record must relate to a range to match it.
type Mode uint8

const (
	// Intersects ("i", the default): the record overlaps the range.
	Intersects Mode = iota
	// Includes ("n"): the record starts at or before the range and ends at or after it.
	Includes
	// Contained ("c"): the record lies within the range.
	Contained
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case Intersects:
		return "intersects"
	case Includes:
		return "includes"
	case Contained:
		return "contained"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Range is a parsed time range. The zero Range is empty and matches nothing.
//
// Parse records now's zone in the Range so that String can print wall-clock times in
// it; compare Ranges by their exported fields.
type Range struct {
	Start, End int64 // ns since the epoch, half-open [Start, End)
	Mode       Mode
	Negate     bool // 'x' prefix

	loc *time.Location // zone for String; nil means UTC
}

// ErrInvalid is matched (with errors.Is) by every error Parse returns.
var ErrInvalid = errors.New("invalid time range")

// Error is a Parse error with the position it was found at.
type Error struct {
	Spec   string // the range as given
	Offset int    // byte offset of the problem (len(Spec) at the end)
	Msg    string // what is wrong, e.g. "month 13 (want 1-12)"
}

// Error returns one line naming the spec, the problem and its 1-based column.
func (e *Error) Error() string {
	return fmt.Sprintf("time range %q: %s at column %d", e.Spec, e.Msg, e.Offset+1)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Match reports whether the record, which covers [StartTime, LastTime] (both inclusive),
// satisfies the range in its mode, inverted when Negate is set. It does not allocate.
func (r Range) Match(rec *record.Record) bool {
	var ok bool
	switch r.Mode {
	case Includes:
		ok = rec.StartTime <= r.Start && rec.LastTime >= r.End-1
	case Contained:
		ok = rec.StartTime >= r.Start && rec.LastTime < r.End
	default:
		ok = rec.StartTime < r.End && rec.LastTime >= r.Start
	}
	return ok != r.Negate
}

// String returns the canonical form, "[x][n|c]start-end" with both ends as full
// wall-clock times in the zone given to Parse (UTC for a Range built by hand), e.g.
// "2026/11/27.11:58:00-2026/11/27.12:03:00". Parsing it again yields the same range.
//
// An end whose wall-clock time is ambiguous (the second pass through the hour repeated
// when clocks go back) is printed as epoch seconds instead, padded to at least five
// digits so that it reads back as epoch seconds. Such an end before 1970 has no form
// that Parse accepts.
func (r Range) String() string {
	loc := r.loc
	if loc == nil {
		loc = time.UTC
	}
	b := make([]byte, 0, 64)
	if r.Negate {
		b = append(b, 'x')
	}
	switch r.Mode {
	case Includes:
		b = append(b, 'n')
	case Contained:
		b = append(b, 'c')
	}
	b = appendTime(b, r.Start, loc)
	b = append(b, '-')
	b = appendTime(b, r.End, loc)
	return string(b)
}

const canonicalLayout = "2006/01/02.15:04:05.999999999"

func appendTime(b []byte, ns int64, loc *time.Location) []byte {
	t := time.Unix(0, ns).In(loc)
	if resolve(wallOf(t), loc).Equal(t) {
		return t.AppendFormat(b, canonicalLayout)
	}
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	b = fmt.Appendf(b, "%05d", sec)
	if frac != 0 {
		b = append(b, strings.TrimRight(fmt.Sprintf(".%09d", frac), "0")...)
	}
	return b
}

// The instants a Range can hold.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// Parse parses a time range. Wall-clock times are in now.Location(), and "today",
// "this month" and relative times are taken from now.
func Parse(spec string, now time.Time) (Range, error) {
	p := parser{spec: spec, now: now, loc: now.Location()}
	r := Range{loc: p.loc}
	if spec == "" {
		return Range{}, p.errorf(0, "empty time range")
	}
	if i := strings.IndexByte(spec, '*'); i >= 0 {
		return Range{}, p.errorf(i, "wildcards are not supported yet")
	}
	if p.peek() == 'x' {
		r.Negate = true
		p.i++
	}
	switch p.peek() {
	case 'i':
		p.i++
	case 'n':
		r.Mode = Includes
		p.i++
	case 'c':
		r.Mode = Contained
		p.i++
	}
	if p.i == len(spec) {
		return Range{}, p.errorf(p.i, "missing time after mode prefix")
	}
	start, end, endPos, err := p.rangeExpr()
	if err != nil {
		return Range{}, err
	}
	if !end.After(start) {
		return Range{}, p.errorf(endPos, "empty range: end %s is not after start %s",
			end.Format(canonicalLayout), start.Format(canonicalLayout))
	}
	if start.Before(minTime) || end.After(maxTime) {
		return Range{}, p.errorf(0, "range %s to %s is outside the int64-nanosecond epoch (%s to %s)",
			start.Format(canonicalLayout), end.Format(canonicalLayout),
			minTime.In(p.loc).Format(canonicalLayout), maxTime.In(p.loc).Format(canonicalLayout))
	}
	r.Start, r.End = start.UnixNano(), end.UnixNano()
	return r, nil
}

type parser struct {
	spec string
	i    int // byte offset of the next character
	now  time.Time
	loc  *time.Location
}

func (p *parser) errorf(at int, format string, args ...any) error {
	return &Error{Spec: p.spec, Offset: at, Msg: fmt.Sprintf(format, args...)}
}

// peek returns the next character, or 0 at the end.
func (p *parser) peek() byte {
	if p.i < len(p.spec) {
		return p.spec[p.i]
	}
	return 0
}

// unexpected reports the character at p.i, or the end of the spec.
func (p *parser) unexpected(want string) error {
	if p.i == len(p.spec) {
		return p.errorf(p.i, "unexpected end, want %s", want)
	}
	return p.errorf(p.i, "unexpected %q, want %s", p.spec[p.i], want)
}

// digits consumes a run of ASCII digits and returns it.
func (p *parser) digits() string {
	j := p.i
	for j < len(p.spec) && isDigit(p.spec[j]) {
		j++
	}
	s := p.spec[p.i:j]
	p.i = j
	return s
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// rangeExpr parses everything after the mode prefix. endPos is where the end of the
// range was written, for the "empty range" error.
func (p *parser) rangeExpr() (start, end time.Time, endPos int, err error) {
	var anchor time.Time // where "+D", "-D" and "-b" count from
	if c := p.peek(); c == '-' || c == '+' {
		p.i++
		d, err := p.duration()
		if err != nil {
			return start, end, 0, err
		}
		if c == '-' {
			anchor = d.apply(p.now, -1, p.loc)
			start, end = anchor, p.now
		} else {
			anchor = d.apply(p.now, +1, p.loc)
			start, end = p.now, anchor
		}
	} else {
		if start, end, err = p.time(p.now.In(p.loc)); err != nil {
			return start, end, 0, err
		}
		anchor = start
	}
	endPos = 0
	switch p.peek() {
	case 0:
		return start, end, endPos, nil
	case '+':
		p.i++
		endPos = p.i
		d, err := p.duration()
		if err != nil {
			return start, end, 0, err
		}
		start, end = anchor, d.apply(anchor, +1, p.loc)
	case '-':
		p.i++
		endPos = p.i
		if p.atDuration() {
			d, err := p.duration()
			if err != nil {
				return start, end, 0, err
			}
			start, end = d.apply(anchor, -1, p.loc), anchor
		} else {
			bStart, _, err := p.time(anchor.In(p.loc))
			if err != nil {
				return start, end, 0, err
			}
			start, end = anchor, bStart
		}
	default:
		return start, end, 0, p.unexpected(`"-" or "+" or the end`)
	}
	if p.i < len(p.spec) {
		return start, end, 0, p.unexpected("the end")
	}
	return start, end, endPos, nil
}

// atDuration reports whether a duration (digits then a unit letter) starts at p.i.
func (p *parser) atDuration() bool {
	j := p.i
	for j < len(p.spec) && isDigit(p.spec[j]) {
		j++
	}
	return j > p.i && j < len(p.spec) && strings.IndexByte(unitLetters, p.spec[j]) >= 0
}

const unitLetters = "smhdwMy"

// dur is a parsed duration: calendar steps plus a fixed number of seconds.
type dur struct {
	years, months int
	secs          int64
}

// Bounds that keep the arithmetic in dur.apply far from overflow; anything near them
// is outside the representable years anyway and is rejected by Parse.
const (
	maxCount    = 999_999_999 // per term
	maxSecs     = 1e13        // about 317,000 years
	maxMonths   = 1e7
	maxYears    = 1e6
	maxEpochSec = math.MaxInt64 / 1_000_000_000
)

func (p *parser) duration() (dur, error) {
	var d dur
	start := p.i
	for {
		nPos := p.i
		s := p.digits()
		if s == "" {
			if p.i == start {
				return d, p.unexpected("a duration such as 5m or 2h30m")
			}
			return d, nil
		}
		if len(s) > 9 {
			return d, p.errorf(nPos, "count %s too large (want at most %d)", s, maxCount)
		}
		n, _ := strconv.Atoi(s) // at most 9 digits: cannot fail
		switch p.peek() {
		case 's':
			d.secs += int64(n)
		case 'm':
			d.secs += int64(n) * 60
		case 'h':
			d.secs += int64(n) * 3600
		case 'd':
			d.secs += int64(n) * 86400
		case 'w':
			d.secs += int64(n) * 7 * 86400
		case 'M':
			d.months += n
		case 'y':
			d.years += n
		default:
			return d, p.unexpected("a unit (s m h d w M y)")
		}
		p.i++
		if d.secs > maxSecs || d.months > maxMonths || d.years > maxYears {
			return d, p.errorf(start, "duration %s too long", p.spec[start:p.i])
		}
		if !isDigit(p.peek()) {
			return d, nil
		}
	}
}

// apply returns t plus (sign +1) or minus (sign -1) the duration: calendar steps first.
func (d dur) apply(t time.Time, sign int, loc *time.Location) time.Time {
	t = t.In(loc).AddDate(sign*d.years, sign*d.months, 0)
	return time.Unix(t.Unix()+int64(sign)*d.secs, int64(t.Nanosecond())).In(loc)
}

type unit uint8

const (
	unitYear unit = iota
	unitMonth
	unitDay
	unitHour
	unitMinute
	unitSecond
)

// fields is a wall-clock time under construction.
type fields struct {
	year, month, day, hour, min, sec, nsec int
}

// time parses an absolute time and returns its span. Fields it leaves out come from
// base, which is in p.loc.
func (p *parser) time(base time.Time) (start, end time.Time, err error) {
	f := fields{year: base.Year(), month: int(base.Month()), day: base.Day()}
	pos := p.i
	s1 := p.digits()
	if s1 == "" {
		return start, end, p.unexpected("a time")
	}
	var u unit
	switch p.peek() {
	case '/':
		p.i++
		pos2 := p.i
		s2 := p.digits()
		if s2 == "" {
			return start, end, p.unexpected("a number")
		}
		switch {
		case p.peek() == '/':
			p.i++
			pos3 := p.i
			s3 := p.digits()
			if s3 == "" {
				return start, end, p.unexpected("a day")
			}
			if err := p.setYear(&f, s1, pos); err != nil {
				return start, end, err
			}
			if err := p.setMonth(&f, s2, pos2); err != nil {
				return start, end, err
			}
			if err := p.setDay(&f, s3, pos3); err != nil {
				return start, end, err
			}
			u = unitDay
		case len(s1) == 4:
			if err := p.setYear(&f, s1, pos); err != nil {
				return start, end, err
			}
			if err := p.setMonth(&f, s2, pos2); err != nil {
				return start, end, err
			}
			f.day = 1
			u = unitMonth
		default:
			if err := p.setMonth(&f, s1, pos); err != nil {
				return start, end, err
			}
			if err := p.setDay(&f, s2, pos2); err != nil {
				return start, end, err
			}
			u = unitDay
		}
		if u == unitDay && p.peek() == '.' {
			p.i++
			hPos := p.i
			if u, err = p.clock(&f, p.digits(), hPos); err != nil {
				return start, end, err
			}
		}
	case '.':
		if len(s1) >= 5 {
			return p.epoch(s1, pos)
		}
		if err := p.setDay(&f, s1, pos); err != nil {
			return start, end, err
		}
		p.i++
		hPos := p.i
		if u, err = p.clock(&f, p.digits(), hPos); err != nil {
			return start, end, err
		}
	case ':':
		if u, err = p.clock(&f, s1, pos); err != nil {
			return start, end, err
		}
	default:
		switch {
		case len(s1) <= 2:
			if u, err = p.clock(&f, s1, pos); err != nil {
				return start, end, err
			}
		case len(s1) == 4:
			if err := p.setYear(&f, s1, pos); err != nil {
				return start, end, err
			}
			f.month, f.day = 1, 1
			u = unitYear
		case len(s1) >= 5:
			return p.epoch(s1, pos)
		default:
			return start, end, p.errorf(pos, "number %s is not an hour (HH), a year (yyyy) or epoch seconds (5+ digits)", s1)
		}
	}
	if c := p.peek(); c != 0 && c != '-' && c != '+' {
		return start, end, p.unexpected(`"-", "+" or the end`)
	}
	next := f
	switch u {
	case unitYear:
		next.year++
	case unitMonth:
		next.month++
	case unitDay:
		next.day++
	case unitHour:
		next.hour++
	case unitMinute:
		next.min++
	case unitSecond:
		next.sec++
	}
	return resolve(f.wall(), p.loc), resolve(next.wall(), p.loc), nil
}

// clock parses HH[:MM[:SS[.frac]]] into f, hour already read as h at hPos.
func (p *parser) clock(f *fields, h string, hPos int) (unit, error) {
	var err error
	if f.hour, err = p.field("hour", h, hPos, 0, 23); err != nil {
		return 0, err
	}
	if p.peek() != ':' {
		return unitHour, nil
	}
	p.i++
	mPos := p.i
	if f.min, err = p.field("minute", p.digits(), mPos, 0, 59); err != nil {
		return 0, err
	}
	if p.peek() != ':' {
		return unitMinute, nil
	}
	p.i++
	sPos := p.i
	if f.sec, err = p.field("second", p.digits(), sPos, 0, 59); err != nil {
		return 0, err
	}
	if p.peek() == '.' {
		p.i++
		if f.nsec, err = p.frac(); err != nil {
			return 0, err
		}
	}
	return unitSecond, nil
}

// frac parses 1 to 9 fractional digits (after the ".") as nanoseconds.
func (p *parser) frac() (int, error) {
	pos := p.i
	s := p.digits()
	if s == "" {
		return 0, p.unexpected("fractional digits")
	}
	if len(s) > 9 {
		return 0, p.errorf(pos, "%d fractional digits (want at most 9)", len(s))
	}
	n, _ := strconv.Atoi(s + strings.Repeat("0", 9-len(s)))
	return n, nil
}

// epoch parses epoch seconds s (at pos, already consumed) and an optional fraction.
// Its span is one second.
func (p *parser) epoch(s string, pos int) (start, end time.Time, err error) {
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec > maxEpochSec {
		return start, end, p.errorf(pos, "epoch seconds %s out of range (want at most %d)", s, int64(maxEpochSec))
	}
	var ns int
	if p.peek() == '.' {
		p.i++
		if ns, err = p.frac(); err != nil {
			return start, end, err
		}
	}
	if c := p.peek(); c != 0 && c != '-' && c != '+' {
		return start, end, p.unexpected(`"-", "+" or the end`)
	}
	start = time.Unix(sec, int64(ns)).In(p.loc)
	return start, start.Add(time.Second), nil
}

// field checks a 1- or 2-digit number in [lo, hi].
func (p *parser) field(name, s string, pos, lo, hi int) (int, error) {
	if s == "" {
		return 0, p.unexpected("the " + name)
	}
	if len(s) > 2 {
		return 0, p.errorf(pos, "%s %s has %d digits (want 1 or 2)", name, s, len(s))
	}
	n, _ := strconv.Atoi(s)
	if n < lo || n > hi {
		return 0, p.errorf(pos, "%s %d (want %d-%d)", name, n, lo, hi)
	}
	return n, nil
}

func (p *parser) setYear(f *fields, s string, pos int) error {
	if len(s) != 4 {
		return p.errorf(pos, "year %s has %d digits (want 4)", s, len(s))
	}
	f.year, _ = strconv.Atoi(s)
	return nil
}

func (p *parser) setMonth(f *fields, s string, pos int) (err error) {
	f.month, err = p.field("month", s, pos, 1, 12)
	return err
}

// setDay checks the day against the month already in f.
func (p *parser) setDay(f *fields, s string, pos int) (err error) {
	n := time.Date(f.year, time.Month(f.month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	f.day, err = p.field("day", s, pos, 1, 31)
	if err == nil && f.day > n {
		return p.errorf(pos, "day %d (%04d/%02d has %d days)", f.day, f.year, f.month, n)
	}
	return err
}

// wall returns the fields, normalised, as a wall-clock time labelled UTC.
func (f fields) wall() time.Time {
	return time.Date(f.year, time.Month(f.month), f.day, f.hour, f.min, f.sec, f.nsec, time.UTC)
}

// wallOf returns t's wall-clock time in its own zone, labelled UTC.
func wallOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// resolve returns the earliest instant in loc whose wall clock reads w or later: w
// itself when it occurs once, its first occurrence when clocks go back over it, and the
// end of the jump when clocks go forward over it. time.Date leaves the last two
// unspecified.
func resolve(w time.Time, loc *time.Location) time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	switch tw := wallOf(t); {
	case tw.Before(w): // in a gap, and time.Date chose the offset before it
		if _, end := t.ZoneBounds(); !end.IsZero() {
			t = end
		}
	case tw.After(w): // in a gap, and time.Date chose the offset after it
		if start, _ := t.ZoneBounds(); !start.IsZero() {
			t = start
		}
	default: // w exists; if it also occurs in the period before t's, take that one
		if start, _ := t.ZoneBounds(); !start.IsZero() {
			prev := start.Add(-time.Nanosecond)
			_, off := t.Zone()
			_, prevOff := prev.Zone()
			if prevOff > off {
				if c := t.Add(-time.Duration(prevOff-off) * time.Second); c.Before(start) && wallOf(c).Equal(w) {
					t = c
				}
			}
		}
	}
	return t
}
