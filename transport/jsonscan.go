package transport

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// fieldOf names the envelope field that the JSON object key k (its bytes
// between the quotes; plain when printable ASCII without escapes) matches
// under encoding/json's case folding, or "".
func fieldOf(k []byte, plain bool) string {
	if !plain {
		return foldedField(appendFolded(nil, unquote(append(append([]byte{'"'}, k...), '"'))))
	}
	switch len(k) {
	case 2, 4, 5, 8:
		var up [8]byte
		for i, c := range k {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			up[i] = c
		}
		return foldedField(up[:len(k)])
	}
	return ""
}

func foldedField(f []byte) string {
	switch string(f) {
	case "ID":
		return "ID"
	case "EVENT":
		return "EVENT"
	case "DATA":
		return "DATA"
	case "MESSAGES":
		return "MESSAGES"
	}
	return ""
}

// appendFolded folds s the way encoding/json folds field names: ASCII
// letters to upper case, other runes to the smallest rune of their fold set
// (so the long s matches "S" and the Kelvin sign "K").
func appendFolded(out []byte, s string) []byte {
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			out = append(out, byte(r))
			continue
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

// plainString reports whether the bytes of a JSON string (between the
// quotes) are printable ASCII without escapes, so they are the string.
func plainString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}

// unquote decodes a valid JSON string literal the way encoding/json does
// (invalid UTF-8 and lone surrogates become U+FFFD). It is the rare path:
// escapes or non-ASCII bytes.
func unquote(raw []byte) string {
	if inner := raw[1 : len(raw)-1]; plainString(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(raw, &s) // raw was validated by the parser
	return s
}

// jsonParser walks JSON text, checking its syntax as encoding/json does
// (including its nesting limit), without building values.
type jsonParser struct {
	b     []byte
	i     int
	depth int
	base  int64 // offset of b in a larger text, for error messages
}

// jsonMaxDepth is encoding/json's limit on nested arrays and objects.
const jsonMaxDepth = 10000

func (p *jsonParser) fail(where string) error {
	if p.i >= len(p.b) {
		return fmt.Errorf("unexpected end of JSON input %s", where)
	}
	return fmt.Errorf("invalid character %q at offset %d %s", p.b[p.i], p.base+int64(p.i), where)
}

func (p *jsonParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *jsonParser) push() error {
	if p.depth++; p.depth > jsonMaxDepth {
		return errors.New("exceeded max depth")
	}
	return nil
}

// ws skips JSON whitespace.
func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value checks the value at p.i and returns where it starts and ends.
func (p *jsonParser) value() (start, end int, err error) {
	start = p.i
	switch c := p.peek(); {
	case c == '"':
		_, _, _, err = p.str()
	case c == '{':
		err = p.object()
	case c == '[':
		err = p.array()
	case c == 't':
		err = p.literal("true")
	case c == 'f':
		err = p.literal("false")
	case c == 'n':
		err = p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		err = p.number()
	default:
		err = p.fail("where a value belongs")
	}
	return start, p.i, err
}

// object checks the object at p.i.
func (p *jsonParser) object() error {
	return p.members(func(_, _ int, _ bool, _, _ int) error { return nil })
}

// array checks the array at p.i.
func (p *jsonParser) array() error {
	return p.elements(func() error {
		_, _, err := p.value()
		return err
	})
}

// members reads the object at p.i, checking its syntax, and calls member
// with the offsets of each key's contents (plain as str reports it) and of
// its value. An error from member stops the reading and is returned.
func (p *jsonParser) members(member func(ks, ke int, plain bool, vs, ve int) error) error {
	p.i++ // {
	if err := p.push(); err != nil {
		return err
	}
	p.ws()
	if p.peek() == '}' {
		p.i++
		p.depth--
		return nil
	}
	for {
		p.ws()
		if p.peek() != '"' {
			return p.fail("where a field name belongs")
		}
		ks, ke, plain, err := p.str()
		if err != nil {
			return err
		}
		p.ws()
		if p.peek() != ':' {
			return p.fail("after a field name")
		}
		p.i++
		p.ws()
		vs, ve, err := p.value()
		if err != nil {
			return err
		}
		if err := member(ks, ke, plain, vs, ve); err != nil {
			return err
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			p.depth--
			return nil
		default:
			return p.fail("in an object")
		}
	}
}

// elements reads the array at p.i and calls elem with p at the start of
// each element; elem must read the element. An error from elem stops the
// reading and is returned.
func (p *jsonParser) elements(elem func() error) error {
	p.i++ // [
	if err := p.push(); err != nil {
		return err
	}
	p.ws()
	if p.peek() == ']' {
		p.i++
		p.depth--
		return nil
	}
	for {
		p.ws()
		if err := elem(); err != nil {
			return err
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			p.depth--
			return nil
		default:
			return p.fail("in a list")
		}
	}
}

// str checks the string at p.i and returns the offsets of its contents;
// plain reports printable ASCII without escapes.
func (p *jsonParser) str() (start, end int, plain bool, err error) {
	p.i++
	start, plain = p.i, true
	b := p.b
	for p.i < len(b) {
		// Runs of plain bytes first, the common case: eight at a time
		// while no byte of the eight needs a look (see plain8), then one
		// table look-up each.
		for p.i+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[p.i:])) {
			p.i += 8
		}
		for p.i < len(b) && jsonPlain[b[p.i]] {
			p.i++
		}
		if p.i >= len(b) {
			break
		}
		c := b[p.i]
		switch {
		case c == '"':
			p.i++
			return start, p.i - 1, plain, nil
		case c == '\\':
			plain = false
			p.i++
			switch p.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				p.i++
				for k := 0; k < 4; k++ {
					if !isHex(p.peek()) {
						return 0, 0, false, p.fail("in a \\u escape")
					}
					p.i++
				}
			default:
				return 0, 0, false, p.fail("in a string escape")
			}
		case c < 0x20:
			return 0, 0, false, p.fail("in a string")
		default:
			if c >= 0x80 {
				plain = false
			}
			p.i++
		}
	}
	return 0, 0, false, p.fail("in a string")
}

// plain8 reports whether none of the eight bytes packed in x is a control
// character (below 0x20), a quote, a backslash or a byte of 0x80 and up:
// whether all eight are jsonPlain. Each test sets the high bit of a byte
// lane when the lane matches; a borrow into the next lane can set another
// lane's bit as well, but only when some lane matched already, so whether
// any bit is set is exact.
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	control := (x - ones*0x20) &^ x
	q := x ^ (ones * '"')
	quote := (q - ones) &^ q
	bs := x ^ (ones * '\\')
	backslash := (bs - ones) &^ bs
	return (control|quote|backslash|x)&highs == 0
}

// jsonPlain marks the bytes that stand for themselves in a JSON string and
// keep it plain: printable ASCII but the quote and the backslash.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (p *jsonParser) literal(word string) error {
	if !bytes.HasPrefix(p.b[p.i:], []byte(word)) {
		for k := 0; k < len(word) && p.i < len(p.b) && p.b[p.i] == word[k]; k++ {
			p.i++
		}
		return p.fail("in a literal")
	}
	p.i += len(word)
	return nil
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonParser) number() error {
	if p.peek() == '-' {
		p.i++
	}
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return p.fail("in a number")
	}
	if p.peek() == '.' {
		p.i++
		if !p.digits() {
			return p.fail("after a decimal point")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if !p.digits() {
			return p.fail("in an exponent")
		}
	}
	return nil
}

func (p *jsonParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
