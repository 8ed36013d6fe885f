package resolve

import (
	"encoding/json"
	"strconv"
)

// decodeConflictFast decodes the ABI v1 encoding of a conflict as a host
// writes it (the keys of [Conflict], each spelt as its tag, plain ASCII
// strings, integer numbers) without reflection. It reports false for
// anything else, which the caller then decodes with encoding/json: the
// result, when it reports true, is the one encoding/json would give.
//
// It exists because a plugin decodes a conflict on every call, and
// encoding/json's reflection is slow in a WebAssembly guest: it is most
// of the cost of a decision that reads no document (see
// BenchmarkDecodeConflict and the engine's BenchmarkDecision).
func decodeConflictFast(b []byte) (Conflict, bool) {
	var c Conflict
	p := parser{b: b}
	p.ws()
	if !p.byte('{') {
		return c, false
	}
	p.ws()
	if p.byte('}') {
		return c, p.end()
	}
	for {
		p.ws()
		key, ok := p.plainString()
		if !ok {
			return c, false
		}
		p.ws()
		if !p.byte(':') {
			return c, false
		}
		p.ws()
		switch key {
		case "abi":
			ok = p.int(&c.ABI)
		case "attempt":
			ok = p.int(&c.Attempt)
		case "elapsed_ms":
			ok = p.int64(&c.ElapsedMS)
		case "kind":
			var s string
			s, ok = p.plainString()
			c.Kind = Kind(s)
		case "op":
			var s string
			s, ok = p.plainString()
			c.Op = Op(s)
		case "db":
			c.DB, ok = p.plainString()
		case "id":
			c.ID, ok = p.plainString()
		case "base":
			c.Base, ok = p.raw()
		case "mine":
			c.Mine, ok = p.raw()
		case "theirs":
			c.Theirs, ok = p.raw()
		case "conflicts":
			c.Conflicts, ok = p.rawArray()
		case "base_missing":
			ok = p.bool(&c.BaseMissing)
		default:
			return c, false
		}
		if !ok {
			return c, false
		}
		p.ws()
		if p.byte('}') {
			return c, p.end()
		}
		if !p.byte(',') {
			return c, false
		}
	}
}

// parser reads JSON from b at i. Each method reports false when the input
// is not in the narrow form it accepts.
type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (p *parser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// plainString reads a string of printable ASCII without escapes.
func (p *parser) plainString() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
		p.i++
	}
	return "", false
}

// digits reads an optionally negative integer without fraction or
// exponent.
func (p *parser) digits() (string, bool) {
	start := p.i
	p.byte('-')
	first := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	switch {
	case p.i == first, p.b[first] == '0' && p.i-first > 1:
		return "", false
	case p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E'):
		return "", false
	}
	return string(p.b[start:p.i]), true
}

func (p *parser) int(v *int) bool {
	s, ok := p.digits()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(s, 10, strconv.IntSize)
	*v = int(n)
	return err == nil
}

func (p *parser) int64(v *int64) bool {
	s, ok := p.digits()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	*v = n
	return err == nil
}

func (p *parser) literal(word string) bool {
	if len(p.b)-p.i >= len(word) && string(p.b[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return true
	}
	return false
}

func (p *parser) bool(v *bool) bool {
	switch {
	case p.literal("true"):
		*v = true
	case p.literal("false"):
		*v = false
	default:
		return false
	}
	return true
}

// raw reads any JSON value and returns a copy of its bytes, as
// json.RawMessage's UnmarshalJSON would keep them.
func (p *parser) raw() (json.RawMessage, bool) {
	start := p.i
	if !p.skip(0) {
		return nil, false
	}
	v := p.b[start:p.i]
	if !json.Valid(v) {
		return nil, false
	}
	return append(json.RawMessage(nil), v...), true
}

// rawArray reads null or an array of JSON values.
func (p *parser) rawArray() ([]json.RawMessage, bool) {
	if p.literal("null") {
		return nil, true
	}
	if !p.byte('[') {
		return nil, false
	}
	vs := []json.RawMessage{}
	p.ws()
	if p.byte(']') {
		return vs, true
	}
	for {
		p.ws()
		v, ok := p.raw()
		if !ok {
			return nil, false
		}
		vs = append(vs, v)
		p.ws()
		if p.byte(']') {
			return vs, true
		}
		if !p.byte(',') {
			return nil, false
		}
	}
}

// maxDepth bounds the nesting skip follows; deeper values go to
// encoding/json.
const maxDepth = 1000

// skip moves past one JSON value, checking only its structure (raw
// validates what it skipped).
func (p *parser) skip(depth int) bool {
	if depth > maxDepth || p.i >= len(p.b) {
		return false
	}
	switch p.b[p.i] {
	case '{', '[':
		open := p.b[p.i]
		closing := byte('}')
		if open == '[' {
			closing = ']'
		}
		p.i++
		p.ws()
		if p.byte(closing) {
			return true
		}
		for {
			p.ws()
			if open == '{' {
				if !p.skipString() {
					return false
				}
				p.ws()
				if !p.byte(':') {
					return false
				}
				p.ws()
			}
			if !p.skip(depth + 1) {
				return false
			}
			p.ws()
			if p.byte(closing) {
				return true
			}
			if !p.byte(',') {
				return false
			}
		}
	case '"':
		return p.skipString()
	default:
		start := p.i
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return p.i > start
			}
			p.i++
		}
		return p.i > start
	}
}

func (p *parser) skipString() bool {
	if !p.byte('"') {
		return false
	}
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '"':
			p.i++
			return true
		case '\\':
			p.i++
		}
		p.i++
	}
	return false
}
