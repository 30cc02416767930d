package placement

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Expr is a parsed memberOf expression of the ECS cluster query language.
// Build one with ParseExpression; String renders it in canonical form.
type Expr interface {
	String() string
	// Eval reports whether the node matches.
	Eval(n Node) bool
	// UsesTaskGroup reports whether the value depends on the tasks placed on
	// the node (task:group), i.e. may change during a scheduling pass.
	UsesTaskGroup() bool
	// write is unexported so that only this package's nodes are Exprs.
	write(b *strings.Builder)
}

// Node is what an expression can see of a node. The scheduler implements
// it on its per-pass node state.
type Node interface {
	// Attr returns a node attribute, including the built-in ones.
	Attr(name string) (string, bool)
	// AnyGroup calls f for each task group on the node until f returns
	// true, and reports whether one did.
	AnyGroup(f func(group string) bool) bool
}

// ErrInvalidExpression is wrapped by every ParseExpression error.
var ErrInvalidExpression = errors.New("placement: invalid memberOf expression")

// ParseError is a syntax error in a memberOf expression. Column is 1-based
// and counts characters (runes).
type ParseError struct {
	Expression string
	Column     int
	Msg        string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("memberOf expression at column %d: %s", e.Column, e.Msg)
}

func (e *ParseError) Unwrap() error { return ErrInvalidExpression }

// subject is the left-hand side of a condition.
type subject struct {
	taskGroup bool   // task:group
	attr      string // attribute name when !taskGroup
	text      string // as written, for String
}

type op int

const (
	opEq op = iota
	opNe
	opGt
	opGe
	opLt
	opLe
	opMatch
	opNotMatch
	opExists
	opNotExists
	opIn
	opNotIn
)

var opText = [...]string{
	opEq: "==", opNe: "!=", opGt: ">", opGe: ">=", opLt: "<", opLe: "<=",
	opMatch: "=~", opNotMatch: "!~", opExists: "exists", opNotExists: "!exists",
	opIn: "in", opNotIn: "!in",
}

// negative operators are the negation of a positive one; evaluating the
// positive form and negating keeps "missing attribute" and multi-valued
// task:group consistent: `attribute:x != v` is true when x is absent, and
// `task:group != g` means "runs no task of group g".
func (o op) positive() (op, bool) {
	switch o {
	case opNe:
		return opEq, true
	case opNotMatch:
		return opMatch, true
	case opNotExists:
		return opExists, true
	case opNotIn:
		return opIn, true
	}
	return o, false
}

// literal is a right-hand-side value with its number form precomputed.
type literal struct {
	s     string
	num   float64
	isNum bool
}

func newLiteral(s string) literal {
	f, err := strconv.ParseFloat(s, 64)
	return literal{s: s, num: f, isNum: err == nil}
}

// cond is one condition: subject op [value | list].
type cond struct {
	subj   subject
	op     op
	values []literal      // one for comparisons, several for in
	re     *regexp.Regexp // for =~ and !~, compiled once at parse time
}

type notExpr struct{ x Expr }
type andExpr struct{ l, r Expr }
type orExpr struct{ l, r Expr }

func (c *cond) UsesTaskGroup() bool    { return c.subj.taskGroup }
func (e *notExpr) UsesTaskGroup() bool { return e.x.UsesTaskGroup() }
func (e *andExpr) UsesTaskGroup() bool { return e.l.UsesTaskGroup() || e.r.UsesTaskGroup() }
func (e *orExpr) UsesTaskGroup() bool  { return e.l.UsesTaskGroup() || e.r.UsesTaskGroup() }

func (e *notExpr) Eval(n Node) bool { return !e.x.Eval(n) }
func (e *andExpr) Eval(n Node) bool { return e.l.Eval(n) && e.r.Eval(n) }
func (e *orExpr) Eval(n Node) bool  { return e.l.Eval(n) || e.r.Eval(n) }

func (c *cond) Eval(n Node) bool {
	pos, negated := c.op.positive()
	var ok bool
	if c.subj.taskGroup {
		// A node runs many tasks: a positive condition holds when any of
		// its task groups satisfies it.
		ok = n.AnyGroup(func(g string) bool { return c.test(pos, g) })
	} else if v, found := n.Attr(c.subj.attr); found {
		ok = c.test(pos, v)
	}
	return ok != negated
}

// test applies a positive operator to one present value.
func (c *cond) test(o op, v string) bool {
	switch o {
	case opExists:
		return true
	case opMatch:
		return c.re.MatchString(v)
	case opIn:
		for _, l := range c.values {
			if compare(v, l) == 0 {
				return true
			}
		}
		return false
	}
	r := compare(v, c.values[0])
	switch o {
	case opEq:
		return r == 0
	case opGt:
		return r > 0
	case opGe:
		return r >= 0
	case opLt:
		return r < 0
	case opLe:
		return r <= 0
	}
	return false
}

// compare compares numerically when both sides are numbers ("8" == "8.0"),
// else as strings.
func compare(v string, l literal) int {
	if l.isNum {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			switch {
			case f < l.num:
				return -1
			case f > l.num:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(v, l.s)
}

// The canonical form uses as few parentheses as precedence allows, so it
// never nests deeper than the text it was parsed from.

func (c *cond) String() string    { return render(c) }
func (e *notExpr) String() string { return render(e) }
func (e *andExpr) String() string { return render(e) }
func (e *orExpr) String() string  { return render(e) }

func render(e Expr) string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (c *cond) write(b *strings.Builder) {
	b.WriteString(c.subj.text)
	b.WriteByte(' ')
	b.WriteString(opText[c.op])
	switch c.op {
	case opExists, opNotExists:
	case opIn, opNotIn:
		b.WriteString(" (")
		for i, l := range c.values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteIfNeeded(l.s))
		}
		b.WriteByte(')')
	default:
		b.WriteByte(' ')
		b.WriteString(quoteIfNeeded(c.values[0].s))
	}
}

func (e *notExpr) write(b *strings.Builder) {
	b.WriteByte('!')
	writeOperand(b, e.x, false)
}

func (e *andExpr) write(b *strings.Builder) {
	writeOperand(b, e.l, true)
	b.WriteString(" && ")
	writeOperand(b, e.r, true)
}

func (e *orExpr) write(b *strings.Builder) {
	e.l.write(b)
	b.WriteString(" || ")
	e.r.write(b)
}

// writeOperand parenthesizes x where precedence requires: || inside &&,
// and any binary operator inside !.
func writeOperand(b *strings.Builder, x Expr, inAnd bool) {
	paren := false
	switch x.(type) {
	case *orExpr:
		paren = true
	case *andExpr:
		paren = !inAnd
	}
	if paren {
		b.WriteByte('(')
	}
	x.write(b)
	if paren {
		b.WriteByte(')')
	}
}

// quoteIfNeeded quotes a value that would not read back as one bare word.
func quoteIfNeeded(s string) string {
	if s != "" && !isKeyword(s) {
		bare := true
		for i := 0; i < len(s); i++ {
			if !isWordByte(s[i]) {
				bare = false
				break
			}
		}
		if bare {
			return s
		}
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}
