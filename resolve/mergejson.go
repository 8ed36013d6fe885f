package resolve

import (
	"bytes"
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

// jsonKind is the type of a JSON value, in the order CompareJSON sorts
// them.
type jsonKind uint8

const (
	kindNull jsonKind = iota + 1
	kindFalse
	kindTrue
	kindNumber
	kindString
	kindArray
	kindObject
)

// jsonValue is a JSON value parsed lazily: an object's fields and an
// array's elements are parsed only when the merge looks inside (see
// expand), and every value keeps the bytes it was written as, so that a
// merge copies an unchanged subtree, and numbers, exactly. The merge
// parses documents with it rather than with encoding/json's reflection,
// which is slow in a WebAssembly guest, and most of a document is usually
// the same on all sides: it is compared as bytes and never parsed.
type jsonValue struct {
	kind     jsonKind
	raw      []byte       // the value as written; nil for a value the merge built
	expanded bool         // elems or fields are parsed
	elems    []*jsonValue // an array's elements
	fields   []field      // an object's fields, sorted by key, keys unique
	a        *arena       // where expand takes its values from
}

// field is an object's member. A key written without escapes is a string
// over the document's bytes, not a copy (see expand).
type field struct {
	key string
	val *jsonValue
}

// arena is where one merge's values, fields and numbers are allocated:
// in blocks reused from merge to merge (see getArena), so that a merge
// allocates next to nothing once its arena has grown to its documents'
// size. Garbage collection is what a merge cost most, natively and
// above all in a WebAssembly guest, where it is slower still.
type arena struct {
	vals   []jsonValue  // the current block of values; earlier ones are the GC's
	fields []field      // expand's and the merged objects' fields
	elems  []*jsonValue // expand's and union's elements
	bytes  []byte       // the counters' sums
}

// value returns a new value, v.
func (a *arena) value(v jsonValue) *jsonValue {
	if len(a.vals) == cap(a.vals) {
		// A new block: the values handed out stay where they are.
		a.vals = make([]jsonValue, 0, max(32, 2*cap(a.vals)))
	}
	v.a = a
	a.vals = append(a.vals, v)
	return &a.vals[len(a.vals)-1]
}

// reserveFields returns an empty slice with room for n fields, which
// appending to does not move.
func (a *arena) reserveFields(n int) []field {
	start := len(a.fields)
	a.fields = slices.Grow(a.fields, n)[:start+n]
	return a.fields[start : start : start+n]
}

// reserveElems is reserveFields for elements.
func (a *arena) reserveElems(n int) []*jsonValue {
	start := len(a.elems)
	a.elems = slices.Grow(a.elems, n)[:start+n]
	return a.elems[start : start : start+n]
}

// The bounds of an arena kept for the next merge: one that a merge of
// large documents grew past them is left to the garbage collector.
const (
	maxArenaValues = 4096
	maxArenaBytes  = 64 << 10
)

// spareArena is an arena kept from one merge for the next; merges at the
// same time get new ones.
var spareArena atomic.Pointer[arena]

func getArena() *arena {
	if a := spareArena.Swap(nil); a != nil {
		return a
	}
	return new(arena)
}

// putArena keeps a for the next merge, emptied (so that it holds on to
// no document), unless it grew large.
func putArena(a *arena) {
	if cap(a.vals) > maxArenaValues || cap(a.fields) > maxArenaValues || cap(a.elems) > maxArenaValues || cap(a.bytes) > maxArenaBytes {
		return
	}
	clear(a.vals)
	clear(a.fields)
	clear(a.elems)
	a.vals, a.fields, a.elems, a.bytes = a.vals[:0], a.fields[:0], a.elems[:0], a.bytes[:0]
	spareArena.Store(a)
}

// get returns the value of the field key of an object (nil: absent, or
// v is nil or not an object).
func (v *jsonValue) get(key string) *jsonValue {
	if v == nil || v.kind != kindObject {
		return nil
	}
	v.expand()
	i, ok := slices.BinarySearchFunc(v.fields, key, func(f field, k string) int { return strings.Compare(f.key, k) })
	if !ok {
		return nil
	}
	return v.fields[i].val
}

// text returns a string's decoded text.
func (v *jsonValue) text() string {
	return unquote(v.raw) // validJSON accepted it
}

// sameBytes reports whether a and b were written as the same bytes, which
// makes them the same value.
func sameBytes(a, b *jsonValue) bool {
	return a != nil && b != nil && len(a.raw) > 0 && bytes.Equal(a.raw, b.raw)
}

// at returns the value at a dotted path (nil: absent).
func (v *jsonValue) at(path string) *jsonValue {
	for v != nil {
		key, rest, more := strings.Cut(path, ".")
		v = v.get(key)
		if !more {
			return v
		}
		path = rest
	}
	return nil
}

// parseJSON parses the top level of one JSON value, nested at most
// MaxMergeDepth deep, into a.
func parseJSON(a *arena, b []byte) (*jsonValue, error) {
	start := skipSpace(b, 0)
	end, depth, ok := scanValue(b, start, MaxMergeDepth)
	if !ok || skipSpace(b, end) != len(b) {
		if depth > MaxMergeDepth {
			return nil, errorf("nested deeper than %d", MaxMergeDepth)
		}
		return nil, errors.New("not valid JSON")
	}
	// The scan found where the value ends: the parser need not.
	kind := kindNumber
	switch b[start] {
	case '{':
		kind = kindObject
	case '[':
		kind = kindArray
	case '"':
		kind = kindString
	case 't':
		kind = kindTrue
	case 'f':
		kind = kindFalse
	case 'n':
		kind = kindNull
	}
	return a.value(jsonValue{kind: kind, raw: b[start:end]}), nil
}

// depthOf is how deep valid JSON nests arrays and objects.
func depthOf(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// valueParser parses JSON that json.Valid accepted, into a.
type valueParser struct {
	b []byte
	i int
	a *arena
}

func (p *valueParser) ws() { p.i = skipSpace(p.b, p.i) }

// value parses the value at p.i, leaving an array or object unexpanded.
func (p *valueParser) value() *jsonValue {
	p.ws()
	start := p.i
	switch c := p.b[p.i]; c {
	case '{', '[':
		depth := 0
		for ; ; p.i++ {
			switch p.b[p.i] {
			case '"':
				p.stringToken()
				p.i--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			if depth == 0 {
				p.i++
				break
			}
		}
		kind := kindObject
		if c == '[' {
			kind = kindArray
		}
		return p.a.value(jsonValue{kind: kind, raw: p.b[start:p.i]})
	case '"':
		return p.a.value(jsonValue{kind: kindString, raw: p.stringToken()})
	case 't':
		p.i += 4
		return p.a.value(jsonValue{kind: kindTrue, raw: p.b[start:p.i]})
	case 'f':
		p.i += 5
		return p.a.value(jsonValue{kind: kindFalse, raw: p.b[start:p.i]})
	case 'n':
		p.i += 4
		return p.a.value(jsonValue{kind: kindNull, raw: p.b[start:p.i]})
	default:
		for p.i < len(p.b) && strings.IndexByte("+-0123456789.eE", p.b[p.i]) >= 0 {
			p.i++
		}
		return p.a.value(jsonValue{kind: kindNumber, raw: p.b[start:p.i]})
	}
}

// expand parses one level of an array or object.
func (v *jsonValue) expand() {
	if v.expanded || (v.kind != kindObject && v.kind != kindArray) {
		return
	}
	v.expanded = true
	a := v.a
	p := valueParser{b: v.raw, i: 1, a: a}
	// The elements or fields go to the end of the arena's, where nothing
	// else is appended until this value's are all there.
	if v.kind == kindArray {
		start := len(a.elems)
		for {
			p.ws()
			switch p.b[p.i] {
			case ']':
				v.elems = a.elems[start:len(a.elems):len(a.elems)]
				return
			case ',':
				p.i++
			}
			a.elems = append(a.elems, p.value())
		}
	}
	start := len(a.fields)
	sorted := true
	for {
		p.ws()
		switch p.b[p.i] {
		case '}':
			v.fields = a.fields[start:len(a.fields):len(a.fields)]
			if !sorted {
				// Sort, keeping the last of duplicate keys as
				// encoding/json does.
				slices.SortStableFunc(v.fields, func(a, b field) int { return strings.Compare(a.key, b.key) })
				out := v.fields[:0]
				for i, f := range v.fields {
					if i+1 < len(v.fields) && v.fields[i+1].key == f.key {
						continue
					}
					out = append(out, f)
				}
				v.fields = out
			}
			return
		case ',':
			p.i++
			p.ws()
		}
		key := keyString(p.stringToken()) // validJSON accepted it
		p.ws()
		p.i++ // ':'
		val := p.value()
		if n := len(a.fields); n > start && a.fields[n-1].key >= key {
			sorted = false
		}
		a.fields = append(a.fields, field{key, val})
	}
}

// keyString decodes a key token as unquote does. A key without escapes
// and in UTF-8 is its bytes as a string, not a copy: a merge's keys live
// no longer than the merge, which copies what it keeps (a merged
// document's keys are encoded, a path in a note or an error is built by
// concatenation), and the documents are not written while it runs.
func keyString(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	if len(inner) == 0 || containsByte(inner, '\\') || !utf8.Valid(inner) {
		return unquote(tok)
	}
	return unsafe.String(&inner[0], len(inner))
}

// stringToken returns the string token at p.i, quotes included.
func (p *valueParser) stringToken() []byte {
	start := p.i
	p.i++
	for p.b[p.i] != '"' {
		if p.b[p.i] == '\\' {
			p.i++
		}
		p.i++
	}
	p.i++
	return p.b[start:p.i]
}

// appendTo appends the compact encoding of v: what it was written as,
// compacted, but for the objects the merge built, whose keys are sorted,
// and strings that were not valid UTF-8, which are re-encoded.
func (v *jsonValue) appendTo(b []byte) []byte {
	switch {
	case v.kind == kindObject && v.raw == nil:
		b = append(b, '{')
		for i, f := range v.fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, f.key)
			b = append(b, ':')
			b = f.val.appendTo(b)
		}
		return append(b, '}')
	case v.kind == kindArray && v.raw == nil:
		b = append(b, '[')
		for i, e := range v.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendTo(b)
		}
		return append(b, ']')
	case v.kind == kindString && !utf8.Valid(v.raw):
		return appendJSONString(b, v.text())
	case v.kind == kindObject || v.kind == kindArray:
		return appendCompact(b, v.raw, false)
	}
	return append(b, v.raw...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// CompareJSON orders two JSON values as the merge rules max, min,
// latest_by and union do: by type first (absent (nil) < null < false <
// true < numbers < strings < arrays < objects, as CouchDB collates), then
// numbers by value, exactly; strings by their UTF-8 bytes (so RFC 3339
// timestamps of one format sort by time); arrays element by element, then
// by length; objects by their sorted keys, then values. It returns -1, 0
// or +1.
//
// # Errors
//
// Comparing a number longer than [MaxMergeNumberBytes] fails, as does
// anything that is not one JSON value; every error matches [ErrMerge].
func CompareJSON(a, b RawJSON) (int, error) {
	var va, vb *jsonValue
	var err error
	ar := getArena()
	defer putArena(ar)
	if a != nil {
		if va, err = parseJSON(ar, a); err != nil {
			return 0, errorf("resolve: %w: %w", ErrMerge, err)
		}
	}
	if b != nil {
		if vb, err = parseJSON(ar, b); err != nil {
			return 0, errorf("resolve: %w: %w", ErrMerge, err)
		}
	}
	c, err := compareJSON(va, vb)
	if err != nil {
		return 0, errorf("resolve: %w: %w", ErrMerge, err)
	}
	return c, nil
}

func compareJSON(a, b *jsonValue) (int, error) {
	switch {
	case a == nil && b == nil:
		return 0, nil
	case a == nil:
		return -1, nil
	case b == nil:
		return 1, nil
	case a.kind != b.kind:
		if a.kind < b.kind {
			return -1, nil
		}
		return 1, nil
	case sameBytes(a, b):
		return 0, nil
	}
	a.expand()
	b.expand()
	switch a.kind {
	case kindNumber:
		return compareNumbers(a.raw, b.raw)
	case kindString:
		// A string without escapes, in UTF-8, decodes to its bytes.
		x, y := a.raw[1:len(a.raw)-1], b.raw[1:len(b.raw)-1]
		if !containsByte(x, '\\') && !containsByte(y, '\\') && utf8.Valid(x) && utf8.Valid(y) {
			return bytes.Compare(x, y), nil
		}
		return strings.Compare(a.text(), b.text()), nil
	case kindArray:
		for i := range min(len(a.elems), len(b.elems)) {
			if c, err := compareJSON(a.elems[i], b.elems[i]); c != 0 || err != nil {
				return c, err
			}
		}
		return cmpInt(len(a.elems), len(b.elems)), nil
	case kindObject:
		for i := range min(len(a.fields), len(b.fields)) {
			if c := strings.Compare(a.fields[i].key, b.fields[i].key); c != 0 {
				return c, nil
			}
		}
		if c := cmpInt(len(a.fields), len(b.fields)); c != 0 {
			return c, nil
		}
		for i := range a.fields {
			if c, err := compareJSON(a.fields[i].val, b.fields[i].val); c != 0 || err != nil {
				return c, err
			}
		}
	}
	return 0, nil
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// equalJSON reports whether a and b are the same JSON value (absent only
// equals absent; numbers by value, or by their bytes when too long to
// compare).
func equalJSON(a, b *jsonValue) bool {
	if sameBytes(a, b) {
		return true
	}
	c, err := compareJSON(a, b)
	if err != nil {
		return bytes.Equal(a.appendTo(nil), b.appendTo(nil))
	}
	return c == 0
}

func compareNumbers(a, b []byte) (int, error) {
	if bytes.Equal(a, b) {
		return 0, nil
	}
	// Integers of up to 18 digits compare as int64s; the others, exactly
	// as decimals.
	if x, ok := smallInt(a); ok {
		if y, ok := smallInt(b); ok {
			return cmp.Compare(x, y), nil
		}
	}
	x, _, err := parseNumber(a)
	if err != nil {
		return 0, err
	}
	y, _, err := parseNumber(b)
	if err != nil {
		return 0, err
	}
	return cmpDecimal(x, y), nil
}

// parseNumber parses a JSON number exactly, and says how many decimal
// places it has. Numbers longer than MaxMergeNumberBytes, or with an
// exponent beyond ±999, are refused: their digits would cost memory and
// time.
func parseNumber(b []byte) (decimal, int, error) {
	if len(b) > MaxMergeNumberBytes {
		return decimal{}, 0, errorf("number of %d bytes, at most %d", len(b), MaxMergeNumberBytes)
	}
	s := string(b)
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > 999 || e < -999 {
			return decimal{}, 0, errorf("number %s has an exponent beyond ±999", Clip(s))
		}
		exp = e
	}
	scale := 0
	if _, frac, ok := strings.Cut(mant, "."); ok {
		scale = len(frac)
	}
	scale = max(scale-exp, 0)
	return parseDecimal(s, exp), scale, nil
}
