package placement

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The memberOf language (ECS cluster query language), as accepted here:
//
//	expr    = and { ("||" | "or") and }
//	and     = unary { ("&&" | "and") unary }
//	unary   = ("!" | "not") unary | "(" expr ")" | cond
//	cond    = subject ( cmpop value | "exists" | "!exists"
//	                  | ("in" | "!in" | "not in") list )
//	cmpop   = "==" | "!=" | ">" | ">=" | "<" | "<=" | "=~" | "!~"   (or ECS word forms:
//	          equals, not_equals, greater_than, greater_than_equal, less_than,
//	          less_than_equal, matches, not_matches, not_exists, not_in)
//	subject = "attribute:" NAME | "task:group" | "instanceId" | "ec2InstanceId"
//	list    = ("(" | "[") value { "," value } (")" | "]")
//	value   = bare word | 'single quoted' | "double quoted"   (\\ and \' or \" are escapes)
//
// Keywords are case-insensitive. A bare word is a run of characters other
// than white space and ( ) [ ] , ! = < > & | ~ ' ", so regular expressions
// with those characters must be quoted.

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 100

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tString
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tCmp       // == != > >= < <= =~ !~
	tNot       // !
	tAnd       // &&
	tOr        // ||
	tNotIn     // !in
	tNotExists // !exists
)

type token struct {
	kind tokKind
	text string // the word, the unquoted string, or the operator as written
	pos  int    // byte offset in the source
}

func (t token) describe() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return "'" + t.text + "'"
}

func isWordByte(c byte) bool {
	if c >= utf8.RuneSelf {
		return true
	}
	if c <= ' ' || c == 0x7f {
		return false
	}
	return !strings.ContainsRune(`()[],!=<>&|~'"`, rune(c))
}

// lexer splits an expression into tokens; errors carry the byte offset.
type lexer struct {
	src string
	pos int
}

func (l *lexer) errAt(pos int, format string, args ...any) *ParseError {
	return &ParseError{Expression: l.src, Column: utf8.RuneCountInString(l.src[:pos]) + 1, Msg: fmt.Sprintf(format, args...)}
}

func (l *lexer) next() (token, *ParseError) {
	s := l.src
	for l.pos < len(s) && (s[l.pos] == ' ' || s[l.pos] == '\t' || s[l.pos] == '\n' || s[l.pos] == '\r') {
		l.pos++
	}
	start := l.pos
	if start >= len(s) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := s[start]
	two := ""
	if start+1 < len(s) {
		two = s[start : start+2]
	}
	single := func(k tokKind) (token, *ParseError) {
		l.pos++
		return token{kind: k, text: s[start : start+1], pos: start}, nil
	}
	switch {
	case c == '(':
		return single(tLParen)
	case c == ')':
		return single(tRParen)
	case c == '[':
		return single(tLBrack)
	case c == ']':
		return single(tRBrack)
	case c == ',':
		return single(tComma)
	case two == "==" || two == "!=" || two == ">=" || two == "<=" || two == "=~" || two == "!~":
		l.pos += 2
		return token{kind: tCmp, text: two, pos: start}, nil
	case c == '>' || c == '<':
		return single(tCmp)
	case two == "&&":
		l.pos += 2
		return token{kind: tAnd, text: two, pos: start}, nil
	case two == "||":
		l.pos += 2
		return token{kind: tOr, text: two, pos: start}, nil
	case c == '!':
		// "!in" and "!exists" are operators; "!word" otherwise is a negation
		// followed by a word.
		end := start + 1
		for end < len(s) && isWordByte(s[end]) {
			end++
		}
		switch w := strings.ToLower(s[start+1 : end]); w {
		case "in":
			l.pos = end
			return token{kind: tNotIn, text: s[start:end], pos: start}, nil
		case "exists":
			l.pos = end
			return token{kind: tNotExists, text: s[start:end], pos: start}, nil
		}
		return single(tNot)
	case c == '\'' || c == '"':
		var b strings.Builder
		for i := start + 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				// Only the quote and the backslash are escaped; other
				// backslashes stay, so regular expressions read as written.
				if i+1 < len(s) && (s[i+1] == c || s[i+1] == '\\') {
					i++
				}
				b.WriteByte(s[i])
			case c:
				l.pos = i + 1
				return token{kind: tString, text: b.String(), pos: start}, nil
			default:
				b.WriteByte(s[i])
			}
		}
		return token{}, l.errAt(start, "unterminated quoted string; close it with %c", c)
	case isWordByte(c):
		end := start
		for end < len(s) && isWordByte(s[end]) {
			end++
		}
		l.pos = end
		return token{kind: tWord, text: s[start:end], pos: start}, nil
	}
	r, _ := utf8.DecodeRuneInString(s[start:])
	return token{}, l.errAt(start, "unexpected character %q", r)
}

// parser is a recursive-descent parser over a pre-lexed token list.
type parser struct {
	lx    *lexer
	toks  []token
	i     int
	depth int
}

// ParseExpression parses a memberOf expression such as
// "attribute:os == linux && task:group != service:db". Errors are
// *ParseError values naming the column.
func ParseExpression(s string) (Expr, error) {
	lx := &lexer{src: s}
	p := &parser{lx: lx}
	for {
		t, err := lx.next()
		if err != nil {
			return nil, err
		}
		p.toks = append(p.toks, t)
		if t.kind == tEOF {
			break
		}
	}
	if p.peek().kind == tEOF {
		return nil, lx.errAt(0, "expression is empty; write a condition such as attribute:os == linux")
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return nil, p.errAt(t, "unexpected ')' without a matching '('")
		}
		return nil, p.errAt(t, "unexpected %s after a complete condition; join conditions with && or ||", t.describe())
	}
	return e, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, format string, args ...any) *ParseError {
	return p.lx.errAt(t.pos, format, args...)
}

// isWord reports whether t is the bare keyword w (case-insensitive).
func isWord(t token, w string) bool { return t.kind == tWord && strings.EqualFold(t.text, w) }

func (p *parser) parseOr() (Expr, *ParseError) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == tOr || isWord(t, "or"); t = p.peek() {
		p.advance()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &orExpr{l, r}
	}
	return l, nil
}

func (p *parser) parseAnd() (Expr, *ParseError) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == tAnd || isWord(t, "and"); t = p.peek() {
		p.advance()
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = &andExpr{l, r}
	}
	return l, nil
}

func (p *parser) parseUnary() (Expr, *ParseError) {
	t := p.peek()
	if p.depth >= maxDepth {
		return nil, p.errAt(t, "expression nested more than %d levels deep", maxDepth)
	}
	p.depth++
	defer func() { p.depth-- }()
	switch {
	case t.kind == tNot || isWord(t, "not"):
		p.advance()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &notExpr{x}, nil
	case t.kind == tLParen:
		p.advance()
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tRParen {
			return nil, p.errAt(c, "expected ')' to close the '(' at column %d, found %s", p.lx.errAt(t.pos, "").Column, c.describe())
		}
		p.advance()
		return x, nil
	}
	return p.parseCond()
}

// wordOps are the ECS word forms of the operators.
var wordOps = map[string]op{
	"equals": opEq, "not_equals": opNe, "greater_than": opGt, "greater_than_equal": opGe,
	"less_than": opLt, "less_than_equal": opLe, "matches": opMatch, "not_matches": opNotMatch,
	"exists": opExists, "not_exists": opNotExists, "in": opIn, "not_in": opNotIn,
}

var symbolOps = map[string]op{
	"==": opEq, "!=": opNe, ">": opGt, ">=": opGe, "<": opLt, "<=": opLe, "=~": opMatch, "!~": opNotMatch,
}

func isKeyword(s string) bool {
	_, ok := wordOps[strings.ToLower(s)]
	switch strings.ToLower(s) {
	case "and", "or", "not":
		return true
	}
	return ok
}

func (p *parser) parseCond() (Expr, *ParseError) {
	st := p.advance()
	subj, err := p.parseSubject(st)
	if err != nil {
		return nil, err
	}
	ot := p.advance()
	c := &cond{subj: subj}
	switch {
	case ot.kind == tCmp:
		c.op = symbolOps[ot.text]
	case ot.kind == tNotIn:
		c.op = opNotIn
	case ot.kind == tNotExists:
		c.op = opNotExists
	case isWord(ot, "not") && isWord(p.peek(), "in"):
		p.advance()
		c.op = opNotIn
	default:
		o, ok := wordOps[strings.ToLower(ot.text)]
		if ot.kind != tWord || !ok {
			return nil, p.errAt(ot, "expected an operator (==, !=, >, >=, <, <=, =~, !~, exists, in, !in) after '%s', found %s", st.text, ot.describe())
		}
		c.op = o
	}
	switch c.op {
	case opExists, opNotExists:
		return c, nil
	case opIn, opNotIn:
		vals, err := p.parseList(ot)
		if err != nil {
			return nil, err
		}
		c.values = vals
		return c, nil
	}
	vt := p.advance()
	if vt.kind != tWord && vt.kind != tString {
		if vt.kind == tEOF {
			return nil, p.errAt(vt, "expected value after '%s'", ot.text)
		}
		return nil, p.errAt(vt, "expected value after '%s', found %s", ot.text, vt.describe())
	}
	c.values = []literal{newLiteral(vt.text)}
	if c.op == opMatch || c.op == opNotMatch {
		// Anchored like ECS: "t2.*" matches "t2.micro", not "xt2.micro".
		re, rerr := regexp.Compile("^(?:" + vt.text + ")$")
		if rerr != nil {
			return nil, p.errAt(vt, "invalid regular expression %s after '%s': %v", quoteIfNeeded(vt.text), ot.text, rerr)
		}
		c.re = re
	}
	return c, nil
}

func (p *parser) parseSubject(t token) (subject, *ParseError) {
	if t.kind != tWord {
		if t.kind == tEOF {
			return subject{}, p.errAt(t, "expected a condition such as attribute:os == linux, found end of expression")
		}
		return subject{}, p.errAt(t, "expected a condition such as attribute:os == linux, found %s", t.describe())
	}
	w := t.text
	lw := strings.ToLower(w)
	switch {
	case lw == "task:group":
		return subject{taskGroup: true, text: "task:group"}, nil
	case lw == "instanceid" || lw == "ec2instanceid":
		return subject{attr: "node", text: w}, nil
	case strings.HasPrefix(lw, "attribute:"):
		name := w[len("attribute:"):]
		if name == "" {
			return subject{}, p.errAt(t, "attribute name missing after 'attribute:'")
		}
		return subject{attr: name, text: w}, nil
	}
	return subject{}, p.errAt(t, "unknown subject '%s'; use attribute:NAME, task:group or instanceId", w)
}

func (p *parser) parseList(opTok token) ([]literal, *ParseError) {
	open := p.advance()
	if open.kind != tLParen && open.kind != tLBrack {
		return nil, p.errAt(open, "expected '(' or '[' to start the list after '%s', found %s", opTok.text, open.describe())
	}
	closeKind, closeText := tRParen, ")"
	if open.kind == tLBrack {
		closeKind, closeText = tRBrack, "]"
	}
	var vals []literal
	for {
		v := p.advance()
		if v.kind != tWord && v.kind != tString {
			return nil, p.errAt(v, "expected a value in the list after '%s', found %s", opTok.text, v.describe())
		}
		vals = append(vals, newLiteral(v.text))
		sep := p.advance()
		if sep.kind == closeKind {
			return vals, nil
		}
		if sep.kind != tComma {
			return nil, p.errAt(sep, "expected ',' or '%s' in the list, found %s", closeText, sep.describe())
		}
	}
}
