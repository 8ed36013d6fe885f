package resolve

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"
)

// This file is the package's JSON: a scanner, a decoder of the ABI's
// objects and an encoder, written by hand so that a plugin built with this
// package links neither encoding/json nor reflect (which, with fmt, were
// half of a Go plugin's module, and a module's size is what a warm load
// costs). Each function does what encoding/json does with the same input
// — the same values accepted, the same errors refused, the same bytes
// written — and is fuzzed against it (json_test.go): a JSON value is valid
// as json.Valid says (nesting at most 10000 deep), a string decodes as
// json.Unmarshal decodes it (invalid UTF-8 and lone surrogates become
// U+FFFD), an object's keys match a field's name as encoding/json matches
// them (case-insensitively), and a string or raw value encodes as
// json.Marshal encodes it (HTML characters escaped).

// maxJSONDepth is how deep encoding/json lets arrays and objects nest.
const maxJSONDepth = 10000

// errJSON is the error of input that is not JSON; errJSONType of JSON
// whose value does not fit where it goes. Both are wrapped with what was
// being decoded.
var (
	errJSONSyntax = errors.New("not valid JSON")
	errJSONType   = errors.New("a JSON value of the wrong type")
)

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

// scanValue checks the JSON value that starts at b[i] (white space
// before it is skipped) and returns the index just past it. deepest is
// how deep it nests arrays and objects; a value nested deeper than
// maxDepth is refused with deepest maxDepth+1. It keeps its own stack, so
// hostile nesting costs a byte a level, not a Go call frame.
func scanValue(b []byte, i, maxDepth int) (end, deepest int, ok bool) {
	var stackBuf [64]byte
	stack := stackBuf[:0]
	for {
		// A value starts at i.
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, deepest, false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if len(stack) >= maxDepth {
				return i, maxDepth + 1, false
			}
			stack = append(stack, c)
			deepest = max(deepest, len(stack))
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '{'+2 == '}', '['+2 == ']'
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i, ok = scanKey(b, i); !ok {
					return i, deepest, false
				}
			}
			continue
		case c == '"':
			if i, ok = scanString(b, i); !ok {
				return i, deepest, false
			}
		case c == 't':
			if i, ok = scanLiteral(b, i, "true"); !ok {
				return i, deepest, false
			}
		case c == 'f':
			if i, ok = scanLiteral(b, i, "false"); !ok {
				return i, deepest, false
			}
		case c == 'n':
			if i, ok = scanLiteral(b, i, "null"); !ok {
				return i, deepest, false
			}
		case c == '-' || '0' <= c && c <= '9':
			if i, ok = scanNumber(b, i); !ok {
				return i, deepest, false
			}
		default:
			return i, deepest, false
		}
		// A value ended at i: close what it ends, or go on to the next.
		for {
			if len(stack) == 0 {
				return i, deepest, true
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return i, deepest, false
			}
			top := stack[len(stack)-1]
			if b[i] == top+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return i, deepest, false
			}
			i++
			if top == '{' {
				if i, ok = scanKey(b, skipSpace(b, i)); !ok {
					return i, deepest, false
				}
			}
			break
		}
	}
}

// scanKey checks an object's key and its colon at b[i].
func scanKey(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	i, ok := scanString(b, i)
	if !ok {
		return i, false
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	return i + 1, true
}

// scanString checks the string whose opening quote is at b[i]. Like
// encoding/json it takes bytes that are not UTF-8 (decoding makes them
// U+FFFD) but no control character.
func scanString(b []byte, i int) (int, bool) {
	for i++; i < len(b); {
		// The plain bytes first, in a tight loop.
		for i < len(b) && b[i] >= 0x20 && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			i++
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if len(b)-i < 5 {
					return i, false
				}
				for _, h := range b[i+1 : i+5] {
					if unhex(h) < 0 {
						return i, false
					}
				}
				i += 5
			default:
				return i, false
			}
		default:
			i++
		}
	}
	return i, false
}

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

func scanLiteral(b []byte, i int, word string) (int, bool) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return i, false
	}
	return i + len(word), true
}

// scanNumber checks the number at b[i]: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) (int, bool) {
	digits := func() int {
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i - start
	}
	if b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, false
		}
	}
	return i, true
}

// validJSON reports whether b is exactly one JSON value (with white space
// around it), as json.Valid does, and how deep it nests arrays and
// objects; it gives up (false, with a depth of maxDepth+1) past maxDepth.
func validJSON(b []byte, maxDepth int) (depth int, ok bool) {
	end, depth, ok := scanValue(b, 0, maxDepth)
	return depth, ok && skipSpace(b, end) == len(b)
}

// validDocument is json.Valid(b).
func validDocument(b []byte) bool {
	_, ok := validJSON(b, maxJSONDepth)
	return ok
}

// unquote decodes the string token tok (quotes included, scanned by
// scanString) as encoding/json decodes it: escapes resolved, a lone or
// broken surrogate and every byte that is not UTF-8 replaced by U+FFFD.
func unquote(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain || (!containsByte(inner, '\\') && utf8.Valid(inner)) {
		return string(inner)
	}
	out := make([]byte, 0, len(inner))
	for i := 0; i < len(inner); {
		c := inner[i]
		switch {
		case c == '\\':
			i++
			switch e := inner[i]; e {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(inner[i+1:])
				i += 4
				if isSurrogate(r) {
					if r2 := rune(-1); len(inner)-i >= 7 && inner[i+1] == '\\' && inner[i+2] == 'u' {
						r2 = hex4(inner[i+3:])
						if r >= 0xd800 && r < 0xdc00 && r2 >= 0xdc00 && r2 < 0xe000 {
							out = utf8.AppendRune(out, (r-0xd800)<<10|(r2-0xdc00)+0x10000)
							i += 7
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
			default: // '"', '\\', '/'
				out = append(out, e)
			}
			i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(inner[i:])
			out = utf8.AppendRune(out, r) // RuneError for a byte that is not UTF-8
			i += size
		}
	}
	return string(out)
}

func hex4(b []byte) rune {
	return unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3])
}

func isSurrogate(r rune) bool { return r >= 0xd800 && r < 0xe000 }

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// keyIs reports whether the key token tok names the field name (ASCII,
// lower case) as encoding/json matches a key to a field: after decoding,
// equal but for case, where ſ (U+017F) is an s and the Kelvin sign
// (U+212A) a k, as Unicode folds them.
func keyIs(tok []byte, name string) bool {
	inner := tok[1 : len(tok)-1]
	if len(inner) == len(name) && string(inner) == name {
		return true
	}
	key := unquote(tok)
	j := 0
	for _, r := range key {
		if j >= len(name) {
			return false
		}
		n := name[j]
		switch {
		case 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
		case r == 0x17f:
			r = 's'
		case r == 0x212a:
			r = 'k'
		}
		if r != rune(n) {
			return false
		}
		j++
	}
	return j == len(name)
}

// jsonObject walks the members of the object at b[i:end], which
// scanValue accepted: fn gets each key's token and its value's bounds.
// null stands for no object (fn is not called). Any other value is a type
// error.
func jsonObject(b []byte, fn func(key []byte, start, end int) error) error {
	i := skipSpace(b, 0)
	if b[i] == 'n' {
		return nil
	}
	if b[i] != '{' {
		return typeError(b[i:], "an object")
	}
	for i = skipSpace(b, i+1); b[i] != '}'; {
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		keyEnd, _ := scanString(b, i)
		key := b[i:keyEnd]
		start := skipSpace(b, skipSpace(b, keyEnd)+1) // past the colon
		end, _, _ := scanValue(b, start, maxJSONDepth)
		if err := fn(key, start, end); err != nil {
			return err
		}
		i = skipSpace(b, end)
	}
	return nil
}

// jsonArray is jsonObject for an array's elements.
func jsonArray(b []byte, fn func(start, end int) error) error {
	i := skipSpace(b, 0)
	if b[i] != '[' {
		return typeError(b[i:], "an array")
	}
	for i = skipSpace(b, i+1); b[i] != ']'; {
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		end, _, _ := scanValue(b, i, maxJSONDepth)
		if err := fn(i, end); err != nil {
			return err
		}
		i = skipSpace(b, end)
	}
	return nil
}

// decodeString decodes a JSON string; null leaves *v as it is, as
// encoding/json does.
func decodeString(v []byte, s *string) error {
	switch v[0] {
	case '"':
		*s = unquote(v)
	case 'n':
	default:
		return typeError(v, "a string")
	}
	return nil
}

// decodeInt decodes a JSON number that is an integer within 64 bits (an
// int on a 64-bit platform); null leaves *n as it is.
func decodeInt(v []byte, n *int64, bits int) error {
	switch v[0] {
	case 'n':
		return nil
	case 't', 'f', '"', '[', '{':
		return typeError(v, "an integer")
	}
	if x, ok := smallInt(v); ok && bits == 64 {
		*n = x
		return nil
	}
	x, err := strconv.ParseInt(string(v), 10, bits)
	if err != nil {
		return typeError(v, "an integer of "+strconv.Itoa(bits)+" bits")
	}
	*n = x
	return nil
}

// smallInt parses a JSON integer of at most 18 digits, which fits 64
// bits, without strconv (a plugin parses three a conflict). It reports
// false for anything else, which decodeInt hands to strconv.
func smallInt(v []byte) (int64, bool) {
	neg := v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var x int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		x = x*10 + int64(c-'0')
	}
	if neg {
		x = -x
	}
	return x, true
}

func decodeIntField(v []byte, n *int) error {
	x := int64(*n)
	if err := decodeInt(v, &x, strconv.IntSize); err != nil {
		return err
	}
	*n = int(x)
	return nil
}

func decodeBool(v []byte, b *bool) error {
	switch v[0] {
	case 't':
		*b = true
	case 'f':
		*b = false
	case 'n':
	default:
		return typeError(v, "a boolean")
	}
	return nil
}

// typeError says that the JSON value v cannot be decoded as want,
// naming v's type, not quoting it.
func typeError(v []byte, want string) error {
	kind := "number"
	switch v[0] {
	case '"':
		kind = "string"
	case '{':
		kind = "object"
	case '[':
		kind = "array"
	case 't', 'f':
		kind = "bool"
	case 'n':
		kind = "null"
	}
	return wrapError("cannot unmarshal "+kind+" into "+want, errJSONType)
}

// decodeRaw copies a raw value, null included, as json.RawMessage does.
func decodeRaw(v []byte) RawJSON {
	return append(RawJSON(nil), v...)
}

// decodeDoc is decodeRaw for a document, where null means none: nil,
// without a copy (nullToNil's result, a copy of null, would be nil too).
func decodeDoc(v []byte) RawJSON {
	if v[0] == 'n' {
		return nil
	}
	return decodeRaw(v)
}

// aliasDoc is decodeDoc without the copy: v itself, but for null.
func aliasDoc(v []byte) RawJSON {
	if v[0] == 'n' {
		return nil
	}
	return RawJSON(v[:len(v):len(v)])
}

// decodeStringAgain is decodeString, but that a string spelt as prev,
// without escapes and in UTF-8 (which it then decodes to), is prev, not a
// copy of it.
func decodeStringAgain(v []byte, s *string, prev string) error {
	if len(v) == len(prev)+2 && v[0] == '"' && string(v[1:len(v)-1]) == prev && !containsByte(v, '\\') && utf8.ValidString(prev) {
		*s = prev
		return nil
	}
	return decodeString(v, s)
}

// decodeTop checks that b is one JSON value with nothing but white space
// after it, as a json.Decoder reads it, and returns it without the space
// around it.
func decodeTop(b []byte) ([]byte, error) {
	start := skipSpace(b, 0)
	end, depth, ok := scanValue(b, start, maxJSONDepth)
	if !ok {
		return nil, syntaxError(b, start, end, depth, maxJSONDepth)
	}
	if !onlySpace(b[end:]) {
		return nil, trailingError(end)
	}
	return b[start:end], nil
}

// syntaxError says why scanning the value that starts at b[start]
// stopped at b[end] (deepest: how deep it got, past maxDepth if too deep).
func syntaxError(b []byte, start, end, deepest, maxDepth int) error {
	switch {
	case deepest > maxDepth:
		return wrapError("JSON nested deeper than "+strconv.Itoa(maxJSONDepth), errJSONSyntax)
	case start >= len(b):
		return wrapError("EOF", errJSONSyntax)
	case end >= len(b):
		return wrapError("unexpected EOF: the JSON value is cut short", errJSONSyntax)
	}
	// As encoding/json says it: the byte, not more of the input.
	return wrapError("invalid character "+quoteByte(b[end])+" at offset "+strconv.Itoa(end), errJSONSyntax)
}

func trailingError(end int) error {
	return wrapError("trailing data after the JSON value at offset "+strconv.Itoa(end), errJSONSyntax)
}

// objectReader reads the members of the JSON object that b holds (white
// space around it) in one pass, checking the syntax as it goes: what a
// plugin does with every conflict, and a host with every decision. An
// object that turns out not to be JSON, or anything but an object (a
// type error) or null (no members), ends the reading with err set; the
// caller must then discard what it decoded, as encoding/json would
// return an error for the whole input.
type objectReader struct {
	b        []byte
	i        int
	started  bool
	key, val []byte // the current member's key token and value
	err      error
}

// next moves to the next member; it reports false at the end of the
// object, or of the input, and on an error (see err).
func (r *objectReader) next() bool {
	b := r.b
	i := skipSpace(b, r.i)
	if !r.started {
		r.started = true
		switch {
		case i < len(b) && b[i] == 'n':
			end, ok := scanLiteral(b, i, "null")
			if !ok {
				r.err = syntaxError(b, 0, end, 0, maxJSONDepth)
				return false
			}
			return r.end(end)
		case i >= len(b) || b[i] != '{':
			if _, err := decodeTop(b); err != nil {
				r.err = err
			} else {
				r.err = typeError(b[i:], "an object")
			}
			return false
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return r.end(i + 1)
		}
	} else {
		switch {
		case i < len(b) && b[i] == '}':
			return r.end(i + 1)
		case i >= len(b) || b[i] != ',':
			r.err = syntaxError(b, 0, i, 0, maxJSONDepth)
			return false
		}
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		r.err = syntaxError(b, 0, i, 0, maxJSONDepth)
		return false
	}
	keyEnd, ok := scanString(b, i)
	if !ok {
		r.err = syntaxError(b, 0, keyEnd, 0, maxJSONDepth)
		return false
	}
	r.key = b[i:keyEnd]
	i = skipSpace(b, keyEnd)
	if i >= len(b) || b[i] != ':' {
		r.err = syntaxError(b, 0, i, 0, maxJSONDepth)
		return false
	}
	i = skipSpace(b, i+1)
	var end, deepest int
	switch {
	case i < len(b) && b[i] == '"':
		end, ok = scanString(b, i)
	case i < len(b) && (b[i] == '-' || '0' <= b[i] && b[i] <= '9'):
		end, ok = scanNumber(b, i)
	case i < len(b) && b[i] == 'n':
		end, ok = scanLiteral(b, i, "null")
	case i < len(b) && b[i] == 't':
		end, ok = scanLiteral(b, i, "true")
	case i < len(b) && b[i] == 'f':
		end, ok = scanLiteral(b, i, "false")
	default:
		// The object is one level: its values may nest one less.
		end, deepest, ok = scanValue(b, i, maxJSONDepth-1)
	}
	if !ok {
		r.err = syntaxError(b, 0, end, deepest, maxJSONDepth-1)
		return false
	}
	r.val = b[i:end]
	r.i = end
	return true
}

// end checks that only white space follows the object, which ended
// before b[i].
func (r *objectReader) end(i int) bool {
	r.i = i
	if !onlySpace(r.b[i:]) {
		r.err = trailingError(i)
	}
	return false
}

// onlySpace reports whether what follows a JSON value may be ignored:
// white space, in bytes.TrimSpace's sense (Unicode's, \f and U+00A0
// too), which is what the package's encoding/json decoder checked after
// the value it read.
func onlySpace(rest []byte) bool {
	return len(bytes.TrimSpace(rest)) == 0
}

// quoteByte quotes c in single quotes, as encoding/json's syntax errors
// quote the byte they stop at.
func quoteByte(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	if c >= utf8.RuneSelf {
		s = strconv.Quote(string([]byte{c}))
	}
	return "'" + s[1:len(s)-1] + "'"
}

// jsonHex is the digits of \u escapes.
const jsonHex = "0123456789abcdef"

// appendString appends s as json.Marshal encodes a string: quoted, with
// HTML's <, > and & escaped, and every byte that is not UTF-8 as U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', jsonHex[c>>4], jsonHex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', jsonHex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendRaw appends a raw JSON value as json.Marshal encodes a
// json.RawMessage: nil as null, anything else compacted, with HTML's <, >
// and & and U+2028 and U+2029 escaped. A value that is not valid JSON is
// an error.
func appendRaw(dst []byte, raw []byte) ([]byte, error) {
	if raw == nil {
		return append(dst, "null"...), nil
	}
	if !validDocument(raw) {
		return dst, errJSONSyntax
	}
	return appendCompact(dst, raw, true), nil
}

// appendCompact appends valid JSON b without the white space outside its
// strings, and with escape, HTML's characters escaped as json.Marshal
// escapes them.
func appendCompact(dst, b []byte, escape bool) []byte {
	start := 0 // of the run of bytes to keep
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case ' ', '\t', '\n', '\r':
			dst = append(dst, b[start:i]...)
			start = i + 1
		case '"':
			for i++; b[i] != '"'; i++ {
				switch c := b[i]; {
				case c == '\\':
					i++
				case !escape:
				case c == '<' || c == '>' || c == '&':
					dst = append(dst, b[start:i]...)
					dst = append(dst, '\\', 'u', '0', '0', jsonHex[c>>4], jsonHex[c&0xf])
					start = i + 1
				case c == 0xe2 && i+2 < len(b) && b[i+1] == 0x80 && b[i+2]&^1 == 0xa8:
					dst = append(dst, b[start:i]...)
					dst = append(dst, '\\', 'u', '2', '0', '2', jsonHex[b[i+2]&0xf])
					i += 2
					start = i + 1
				}
			}
		}
	}
	return append(dst, b[start:]...)
}

// writeCompact writes valid JSON b without the white space outside its
// strings, as json.Compact does.
func writeCompact(buf *bytes.Buffer, b []byte) {
	buf.Write(appendCompact(buf.AvailableBuffer(), b, false))
}
