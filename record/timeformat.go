package record

import (
	"fmt"
	"strconv"
	"time"
)

// TimeLayout is a compiled strftime-style time format, as Argus's RA_TIME_FORMAT
// (default "%T.%f") and Panoptes's --time-format take it. The conversions are C's
// strftime ones that do not depend on the C locale (English names), plus Argus's %f:
// the fraction of the second with Format.Precision digits (ra -p, RA_USEC_PRECISION).
// With precision 0, %f prints nothing and a '.' just before it is dropped, as ra
// does, so "%T.%f" with -p 0 prints "12:00:00".
//
//	%a %A  Mon Monday          %H %I  hour 00-23, 01-12     %s   seconds since the epoch
//	%b %B  Jan January (%h)    %k %l  hour, blank-padded    %u %w  weekday 1-7 (Mon=1), 0-6 (Sun=0)
//	%c     Mon Jan  2 15:04:05 2006                         %y %Y %C  year 06, 2006, century 20
//	%d %e  day 02, blank-padded " 2"                         %z %Z  -0700, MST
//	%D %F  01/02/06, 2006-01-02  %m %M %S  month, minute, second   %j  day of the year 001-366
//	%p     AM or PM            %R %T  15:04, 15:04:05       %n %t %%  newline, tab, %
//	%f     fraction of the second (Argus)
//
// Compiling checks every conversion, so printing cannot fail.
type TimeLayout struct {
	src string
	ops []timeOp
}

// timeOp is one piece of a layout: literal text (conv 0) or a conversion.
type timeOp struct {
	conv byte
	lit  string
}

// ParseTimeLayout compiles a strftime-style format. An unknown conversion or a lone %
// at the end is an error naming its position (1-based).
func ParseTimeLayout(s string) (*TimeLayout, error) {
	l := &TimeLayout{src: s}
	lit := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i > lit {
			l.ops = append(l.ops, timeOp{lit: s[lit:i]})
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("time format %q: lone %% at position %d", s, i+1)
		}
		c := s[i+1]
		switch c {
		case 'a', 'A', 'b', 'B', 'h', 'c', 'C', 'd', 'D', 'e', 'F', 'H', 'I', 'j', 'k', 'l', 'm', 'M',
			'p', 'R', 's', 'S', 'T', 'u', 'w', 'y', 'Y', 'z', 'Z', 'f':
			l.ops = append(l.ops, timeOp{conv: c})
		case 'n':
			l.ops = append(l.ops, timeOp{lit: "\n"})
		case 't':
			l.ops = append(l.ops, timeOp{lit: "\t"})
		case '%':
			l.ops = append(l.ops, timeOp{lit: "%"})
		default:
			return nil, fmt.Errorf("time format %q: unknown conversion %%%c at position %d (see panoptes read -h)", s, c, i+1)
		}
		i++
		lit = i + 1
	}
	if lit < len(s) {
		l.ops = append(l.ops, timeOp{lit: s[lit:]})
	}
	return l, nil
}

// String returns the format the layout was compiled from.
func (l *TimeLayout) String() string { return l.src }

// Append appends t formatted by the layout, with precision digits for %f.
func (l *TimeLayout) Append(dst []byte, t time.Time, precision int) []byte {
	for i, op := range l.ops {
		if op.conv == 0 {
			if precision <= 0 && i+1 < len(l.ops) && l.ops[i+1].conv == 'f' && op.lit[len(op.lit)-1] == '.' {
				dst = append(dst, op.lit[:len(op.lit)-1]...) // "%T.%f" with -p 0: no dot
				continue
			}
			dst = append(dst, op.lit...)
			continue
		}
		dst = appendConv(dst, op.conv, t, precision)
	}
	return dst
}

func appendConv(dst []byte, c byte, t time.Time, precision int) []byte {
	switch c {
	case 'a':
		return t.AppendFormat(dst, "Mon")
	case 'A':
		return t.AppendFormat(dst, "Monday")
	case 'b', 'h':
		return t.AppendFormat(dst, "Jan")
	case 'B':
		return t.AppendFormat(dst, "January")
	case 'c':
		return t.AppendFormat(dst, "Mon Jan _2 15:04:05 2006")
	case 'C':
		return append2(dst, t.Year()/100)
	case 'd':
		return t.AppendFormat(dst, "02")
	case 'D':
		return t.AppendFormat(dst, "01/02/06")
	case 'e':
		return t.AppendFormat(dst, "_2")
	case 'F':
		return t.AppendFormat(dst, "2006-01-02")
	case 'H':
		return t.AppendFormat(dst, "15")
	case 'I':
		return t.AppendFormat(dst, "03")
	case 'j':
		return t.AppendFormat(dst, "002")
	case 'k':
		return appendBlank2(dst, t.Hour())
	case 'l':
		h := t.Hour() % 12
		if h == 0 {
			h = 12
		}
		return appendBlank2(dst, h)
	case 'm':
		return t.AppendFormat(dst, "01")
	case 'M':
		return t.AppendFormat(dst, "04")
	case 'p':
		return t.AppendFormat(dst, "PM")
	case 'R':
		return t.AppendFormat(dst, "15:04")
	case 's':
		return strconv.AppendInt(dst, t.Unix(), 10)
	case 'S':
		return t.AppendFormat(dst, "05")
	case 'T':
		return t.AppendFormat(dst, "15:04:05")
	case 'u':
		wd := int(t.Weekday())
		if wd == 0 {
			wd = 7
		}
		return append(dst, byte('0'+wd))
	case 'w':
		return append(dst, byte('0'+int(t.Weekday())))
	case 'y':
		return append2(dst, t.Year()%100)
	case 'Y':
		return strconv.AppendInt(dst, int64(t.Year()), 10)
	case 'z':
		return t.AppendFormat(dst, "-0700")
	case 'Z':
		return t.AppendFormat(dst, "MST")
	case 'f':
		// Digits of the nanoseconds, most significant first, without allocating.
		ns := t.Nanosecond()
		div := 100000000
		for i := 0; i < min(precision, 9); i++ {
			dst = append(dst, byte('0'+ns/div%10))
			div /= 10
		}
	}
	return dst
}

// append2 appends v (0-99) as two digits.
func append2(dst []byte, v int) []byte {
	v = (v%100 + 100) % 100
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// appendBlank2 appends v (0-99) as two characters, blank-padded.
func appendBlank2(dst []byte, v int) []byte {
	if v < 10 {
		return append(dst, ' ', byte('0'+v))
	}
	return append2(dst, v)
}
