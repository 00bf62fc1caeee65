package filter

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrSyntax is matched (with errors.Is) by every error Compile returns.
var ErrSyntax = errors.New("filter syntax error")

// SyntaxError is a compile error with the position it was found at.
type SyntaxError struct {
	Expr   string // the expression as given
	Offset int    // byte offset of the offending token (len(Expr) at the end)
	Msg    string // what is wrong, e.g. `unexpected "foo"`
}

// Column returns the 1-based column (in characters) of the error.
func (e *SyntaxError) Column() int {
	return utf8.RuneCountInString(e.Expr[:e.Offset]) + 1
}

// Error returns one line: the message, the column, and the expression with the
// position marked by >>>HERE<<<.
func (e *SyntaxError) Error() string {
	flat := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == '\t' {
				return ' '
			}
			return r
		}, s)
	}
	before, after := window(e.Expr, e.Offset)
	return fmt.Sprintf("filter: %s at column %d: %s>>>HERE<<<%s", e.Msg, e.Column(), flat(before), flat(after))
}

// echoWindow is how much of the expression an error repeats on each side of the
// position: enough to find the place, and one short line however long the expression.
const echoWindow = 40

// window returns the expression before and after off, each cut to about echoWindow
// bytes (on character boundaries) with "..." where it was cut.
func window(expr string, off int) (before, after string) {
	before, after = expr[:off], expr[off:]
	if len(before) > echoWindow {
		i := len(before) - echoWindow
		for i < len(before) && !utf8.RuneStart(before[i]) {
			i++
		}
		before = "..." + before[i:]
	}
	if len(after) > echoWindow {
		i := echoWindow
		for i > 0 && !utf8.RuneStart(after[i]) {
			i--
		}
		after = after[:i] + "..."
	}
	return before, after
}

// cutArg shortens a string argument of an error message (a token, a value) to its
// first echoWindow bytes and "...".
func cutArg(a any) any {
	s, ok := a.(string)
	if !ok || len(s) <= echoWindow {
		return a
	}
	i := echoWindow
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// Is makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

type tokKind uint8

const (
	tEOF    tokKind = iota
	tWord           // a keyword, number, address, ...
	tLParen         // (
	tRParen         // )
	tNot            // !
	tAnd            // &&
	tOr             // ||
	tOp             // > >= < <= = == !=
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset in the expression
}

func (t token) String() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return fmt.Sprintf("%q", cutArg(t.text))
}

// isDelim reports whether c ends a word.
func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '(', ')', '!', '&', '|', '<', '>', '=':
		return true
	}
	return false
}

// lex splits an expression into tokens. Words run up to white space or an operator
// character, so addresses (10.0.0.0/8, 2001:db8::1) and ranges (53-215) are one word.
func lex(expr string) ([]token, error) {
	var toks []token
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == '!' && i+1 < len(expr) && expr[i+1] == '=':
			toks = append(toks, token{tOp, "!=", i})
			i += 2
		case c == '!':
			toks = append(toks, token{tNot, "!", i})
			i++
		case c == '"':
			// Quoted text is one word, quotes included, whatever it holds: a label's
			// regular expression may hold '|', '&', '(' or spaces.
			j := strings.IndexByte(expr[i+1:], '"')
			if j < 0 {
				return nil, &SyntaxError{Expr: expr, Offset: i, Msg: "unterminated quoted text"}
			}
			toks = append(toks, token{tWord, expr[i : i+j+2], i})
			i += j + 2
		case c == '&' || c == '|':
			if i+1 >= len(expr) || expr[i+1] != c {
				return nil, &SyntaxError{Expr: expr, Offset: i, Msg: fmt.Sprintf("unexpected %q (use %q)", string(c), string([]byte{c, c}))}
			}
			k := tAnd
			if c == '|' {
				k = tOr
			}
			toks = append(toks, token{k, expr[i : i+2], i})
			i += 2
		case c == '<' || c == '>' || c == '=':
			n := 1
			if i+1 < len(expr) && expr[i+1] == '=' {
				n = 2
			}
			toks = append(toks, token{tOp, expr[i : i+n], i})
			i += n
		default:
			j := i
			for j < len(expr) && !isDelim(expr[j]) {
				j++
			}
			toks = append(toks, token{tWord, expr[i:j], i})
			i = j
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(expr)})
	return toks, nil
}
