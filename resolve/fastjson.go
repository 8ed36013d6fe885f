package resolve

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// decodeConflictFast decodes the ABI v1 encoding of a conflict as a host
// writes it (the keys of [Conflict], each spelt as its tag, plain ASCII
// strings, integer numbers) without reflection. It reports false for
// anything else, which the caller then decodes with encoding/json: the
// result, when it reports true, is the one encoding/json would give,
// but for documents that are null, which it leaves nil as DecodeConflict
// reports them.
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
		key, ok := p.plainBytes()
		if !ok {
			return c, false
		}
		p.ws()
		if !p.byte(':') {
			return c, false
		}
		p.ws()
		switch string(key) { // compiled without allocating
		case "kind":
			var v []byte
			v, ok = p.plainBytes()
			c.Kind = kindOf(v)
		case "op":
			var v []byte
			v, ok = p.plainBytes()
			c.Op = opOf(v)
		case "abi":
			ok = p.int(&c.ABI)
		case "attempt":
			ok = p.int(&c.Attempt)
		case "elapsed_ms":
			ok = p.int64(&c.ElapsedMS)
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

func (p *parser) ws() { p.i = skipSpace(p.b, p.i) }

// skipSpace returns the index of the first byte of b at or after i that
// is not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
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
	b, ok := p.plainBytes()
	return string(b), ok
}

// plainBytes is plainString without the copy: the bytes are the input's.
func (p *parser) plainBytes() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			b := p.b[start:p.i]
			p.i++
			return b, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// kindOf and opOf return the constants for the known spellings, so that
// decoding them allocates nothing; an unknown one is copied for the
// validation error.
func kindOf(b []byte) Kind {
	switch string(b) {
	case string(KindWrite):
		return KindWrite
	case string(KindReplication):
		return KindReplication
	}
	return Kind(b)
}

func opOf(b []byte) Op {
	switch string(b) {
	case string(OpCreate):
		return OpCreate
	case string(OpUpdate):
		return OpUpdate
	case string(OpDelete):
		return OpDelete
	}
	return Op(b)
}

// digits reads an optionally negative integer without fraction or
// exponent, and returns its bytes.
func (p *parser) digits() ([]byte, bool) {
	start := p.i
	p.byte('-')
	first := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	switch {
	case p.i == first, p.b[first] == '0' && p.i-first > 1:
		return nil, false
	case p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E'):
		return nil, false
	}
	return p.b[start:p.i], true
}

func (p *parser) int(v *int) bool {
	var n int64
	if !p.int64(&n) || int64(int(n)) != n {
		return false
	}
	*v = int(n)
	return true
}

// int64 reads an integer; one that overflows goes to encoding/json,
// which reports the error.
func (p *parser) int64(v *int64) bool {
	b, ok := p.digits()
	if !ok {
		return false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) > 18 { // 10^18 fits; longer may not
		return false
	}
	var n int64
	for _, c := range b {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	*v = n
	return true
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
	if p.literal("null") {
		// Absent, as DecodeConflict and DecodeDecision report it.
		return nil, true
	}
	start := p.i
	if !p.skip(0) {
		return nil, false
	}
	v := p.b[start:p.i]
	if !validDocument(v) {
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

// appendDecisionFast appends the encoding of a decision without a
// document whose action and reason need no escaping, as json.Marshal
// would write it, without reflection: a plugin encodes one on every call.
// It reports false for anything else, which the caller encodes with
// encoding/json.
func appendDecisionFast(b []byte, d Decision) ([]byte, bool) {
	if !plainJSON(string(d.Action)) || !plainJSON(d.Reason) || (d.Doc != nil && !plainDocument(d.Doc)) {
		return b, false
	}
	b = append(b, `{"action":"`...)
	b = append(b, d.Action...)
	b = append(b, '"')
	if d.DelayMS != 0 {
		b = append(b, `,"delay_ms":`...)
		b = strconv.AppendInt(b, d.DelayMS, 10)
	}
	if d.Doc != nil {
		b = append(b, `,"doc":`...)
		buf := bytes.NewBuffer(b)
		writeCompact(buf, d.Doc)
		b = buf.Bytes()
	}
	if d.Reason != "" {
		b = append(b, `,"reason":"`...)
		b = append(b, d.Reason...)
		b = append(b, '"')
	}
	return append(b, '}'), true
}

// plainDocument reports whether encoding/json would encode doc, a
// json.RawMessage, as doc compacted: valid JSON, valid UTF-8, and none of
// what it escapes for HTML (<, >, &, U+2028, U+2029). A merged document
// is usually plain, and encoding/json's scanner is slow in a guest.
func plainDocument(doc []byte) bool {
	if len(doc) == 0 || bytes.ContainsAny(doc, "<>&\u2028\u2029") || !utf8.Valid(doc) {
		return false
	}
	return validDocument(doc)
}

// plainJSON reports whether s encodes as a JSON string without escapes:
// printable ASCII but for the quote, the backslash and the characters
// encoding/json escapes for HTML.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// encodeConflictFast encodes a conflict without documents whose strings
// need no escaping, as json.Marshal would, without reflection: a host
// encodes one for every decision it asks for. It reports false for
// anything else, which the caller encodes with encoding/json.
func encodeConflictFast(c *Conflict) ([]byte, bool) {
	if c.Base != nil || c.Mine != nil || c.Theirs != nil || len(c.Conflicts) > 0 ||
		!plainJSON(string(c.Kind)) || !plainJSON(string(c.Op)) || !plainJSON(c.DB) || !plainJSON(c.ID) {
		return nil, false
	}
	b := make([]byte, 0, 160+len(c.DB)+len(c.ID))
	b = append(b, `{"abi":`...)
	b = strconv.AppendInt(b, int64(c.ABI), 10)
	b = append(b, `,"kind":"`...)
	b = append(b, c.Kind...)
	b = append(b, `","op":"`...)
	b = append(b, c.Op...)
	b = append(b, `","db":"`...)
	b = append(b, c.DB...)
	b = append(b, `","id":"`...)
	b = append(b, c.ID...)
	b = append(b, `","attempt":`...)
	b = strconv.AppendInt(b, int64(c.Attempt), 10)
	b = append(b, `,"elapsed_ms":`...)
	b = strconv.AppendInt(b, c.ElapsedMS, 10)
	// EncodeConflict writes absent losing revisions as [].
	b = append(b, `,"base":null,"mine":null,"theirs":null,"conflicts":[],"base_missing":`...)
	b = strconv.AppendBool(b, c.BaseMissing)
	return append(b, '}'), true
}

// decodeDecisionFast decodes a decision whose keys are the ABI's, whose
// strings are plain and whose delay is an integer, without reflection. It
// reports false for anything else, which the caller decodes with
// encoding/json: the result, when it reports true, is the one
// encoding/json would give.
func decodeDecisionFast(b []byte) (Decision, bool) {
	var d Decision
	p := parser{b: b}
	p.ws()
	if !p.byte('{') {
		return d, false
	}
	p.ws()
	if p.byte('}') {
		return d, p.end()
	}
	for {
		p.ws()
		key, ok := p.plainBytes()
		if !ok {
			return d, false
		}
		p.ws()
		if !p.byte(':') {
			return d, false
		}
		p.ws()
		switch string(key) {
		case "action":
			var v []byte
			v, ok = p.plainBytes()
			d.Action = actionOf(v)
		case "delay_ms":
			ok = p.int64(&d.DelayMS)
		case "reason":
			d.Reason, ok = p.plainString()
		case "doc":
			d.Doc, ok = p.raw()
		default:
			return d, false
		}
		if !ok {
			return d, false
		}
		p.ws()
		if p.byte('}') {
			return d, p.end()
		}
		if !p.byte(',') {
			return d, false
		}
	}
}

func actionOf(b []byte) Action {
	for _, a := range [...]Action{ActionRetry, ActionMerge, ActionAccept, ActionFail} {
		if string(b) == string(a) {
			return a
		}
	}
	return Action(b)
}
