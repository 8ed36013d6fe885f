package tamper

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrNotCanonicalizable is matched by the error of [Canonical] for input
// that has no canonical form: not JSON, a key given twice in one object, a
// number out of the range of an IEEE 754 double, or nesting deeper than
// [MaxDepth].
var ErrNotCanonicalizable = errors.New("JSON has no canonical form")

// MaxDepth caps the nesting of arrays and objects [Canonical] accepts.
const MaxDepth = 256

// Canonical returns the canonical form of the JSON text in, as RFC 8785
// (the JSON Canonicalization Scheme) defines it: no white space; object
// members sorted by their names' UTF-16 code units; strings with only the
// escapes ECMAScript's JSON.stringify makes; numbers as an IEEE 754
// double, printed the way ECMAScript prints them (1.0 and 1e0 are 1, 1e21
// is 1e+21, 1e-7 is 1e-7, 0.000001 is 0.000001). Two JSON texts that
// differ only in white space, member order, string escaping or number
// spelling have one canonical form, which is why a signature over it
// survives CouchDB re-encoding a document.
//
// Invalid UTF-8 and lone surrogate escapes are replaced by U+FFFD (as
// encoding/json decodes them) rather than refused.
func Canonical(in []byte) ([]byte, error) {
	return appendCanonical(nil, in, nil)
}

// appendCanonical appends the canonical form of in to dst, leaving out
// the members of the top-level object whose names skip reports.
func appendCanonical(dst, in []byte, skip func(name string) bool) ([]byte, error) {
	sc := scanner{data: in, skip: skip}
	sc.space()
	out, err := sc.value(dst, 0)
	if err == nil {
		if sc.space(); sc.pos != len(sc.data) {
			err = errors.New("data after the JSON value")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotCanonicalizable, err)
	}
	return out, nil
}

// scanner is a JSON parser (RFC 8259) that writes the canonical form as
// it reads. It accepts what encoding/json accepts (FuzzCanonical checks
// it against encoding/json), but refuses duplicate member names.
type scanner struct {
	data []byte
	pos  int
	skip func(string) bool
}

var errEnd = errors.New("unexpected end of JSON")

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) value(dst []byte, depth int) ([]byte, error) {
	if s.pos >= len(s.data) {
		return nil, errEnd
	}
	switch c := s.data[s.pos]; {
	case c == '{' || c == '[':
		if depth >= MaxDepth {
			return nil, fmt.Errorf("nested deeper than %d", MaxDepth)
		}
		s.pos++
		if c == '[' {
			return s.array(dst, depth+1)
		}
		return s.object(dst, depth+1)
	case c == '"':
		str, err := s.string()
		if err != nil {
			return nil, err
		}
		return appendString(dst, str), nil
	case c == '-' || c >= '0' && c <= '9':
		return s.number(dst)
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
			s.pos += len(lit)
			return append(dst, lit...), nil
		}
	}
	return nil, fmt.Errorf("invalid character at offset %d", s.pos)
}

func (s *scanner) array(dst []byte, depth int) ([]byte, error) {
	dst = append(dst, '[')
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return append(dst, ']'), nil
	}
	for i := 0; ; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		s.space()
		var err error
		if dst, err = s.value(dst, depth); err != nil {
			return nil, err
		}
		s.space()
		if s.pos >= len(s.data) {
			return nil, errEnd
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return append(dst, ']'), nil
		default:
			return nil, fmt.Errorf("invalid character at offset %d in an array", s.pos)
		}
	}
}

// member is an object member: its name and where its canonical value is
// in the scratch buffer.
type member struct {
	name       string
	start, end int
}

func (s *scanner) object(dst []byte, depth int) ([]byte, error) {
	top := depth == 1 && s.skip != nil
	var members []member
	var names map[string]bool // every member's name, for large objects; small ones are scanned
	var skipped []string      // the top-level names left out
	var scratch []byte
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return append(dst, '{', '}'), nil
	}
	for {
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return nil, fmt.Errorf("object member name expected at offset %d", s.pos)
		}
		name, err := s.string()
		if err != nil {
			return nil, err
		}
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return nil, fmt.Errorf("':' expected at offset %d", s.pos)
		}
		s.pos++
		s.space()
		if dup(members, names, name) || slices.Contains(skipped, name) {
			return nil, fmt.Errorf("member %.40q given twice", name)
		}
		start := len(scratch)
		if scratch, err = s.value(scratch, depth); err != nil {
			return nil, err
		}
		if top && s.skip(name) {
			scratch = scratch[:start]
			skipped = append(skipped, name) // still counts for duplicates
		} else {
			members = append(members, member{name, start, len(scratch)})
			if names != nil || len(members) > 16 {
				if names == nil {
					names = make(map[string]bool, 2*len(members))
					for _, m := range members {
						names[m.name] = true
					}
				}
				names[name] = true
			}
		}
		s.space()
		if s.pos >= len(s.data) {
			return nil, errEnd
		}
		if s.data[s.pos] == ',' {
			s.pos++
			continue
		}
		if s.data[s.pos] != '}' {
			return nil, fmt.Errorf("invalid character at offset %d in an object", s.pos)
		}
		s.pos++
		break
	}
	slices.SortFunc(members, func(a, b member) int { return compareUTF16(a.name, b.name) })
	dst = append(dst, '{')
	for i, m := range members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, m.name)
		dst = append(dst, ':')
		dst = append(dst, scratch[m.start:m.end]...)
	}
	return append(dst, '}'), nil
}

// dup reports whether name is among the members (or in names, which
// holds them all once it exists).
func dup(members []member, names map[string]bool, name string) bool {
	if names != nil {
		return names[name]
	}
	for _, m := range members {
		if m.name == name {
			return true
		}
	}
	return false
}

// number reads a JSON number and appends its canonical form.
func (s *scanner) number(dst []byte) ([]byte, error) {
	d, start := s.data, s.pos
	i := start
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case digits() == 0:
		return nil, fmt.Errorf("invalid number at offset %d", start)
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			return nil, fmt.Errorf("invalid number at offset %d", start)
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, fmt.Errorf("invalid number at offset %d", start)
		}
	}
	s.pos = i
	f, err := strconv.ParseFloat(string(d[start:i]), 64)
	if err != nil {
		return nil, fmt.Errorf("number %.40s: %w", d[start:i], err)
	}
	return AppendNumber(dst, f), nil
}

// string reads a JSON string at s.pos (its opening quote) and returns
// its value. As encoding/json, it replaces invalid UTF-8 and lone
// surrogate escapes with U+FFFD, and refuses control characters.
func (s *scanner) string() (string, error) {
	d := s.data
	i := s.pos + 1
	// Fast path: no escapes, valid UTF-8.
	for j := i; j < len(d); j++ {
		c := d[j]
		if c == '"' {
			if utf8.Valid(d[i:j]) {
				s.pos = j + 1
				return string(d[i:j]), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	var b []byte
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return string(b), nil
		case c < 0x20:
			return "", fmt.Errorf("control character in a string at offset %d", i)
		case c == '\\':
			if i+1 >= len(d) {
				return "", errEnd
			}
			i++
			switch e := d[i]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(d, i+1)
				if !ok {
					return "", fmt.Errorf("invalid \\u escape at offset %d", i)
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2, ok := rune(-1), false
					if i+6 < len(d)+0 && d[i+1] == '\\' && d[i+2] == 'u' {
						r2, ok = hex4(d, i+3)
					}
					if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", fmt.Errorf("invalid escape at offset %d", i)
			}
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, n := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, "\ufffd"...)
			} else {
				b = append(b, d[i:i+n]...)
			}
			i += n
		}
	}
	return "", errEnd
}

// hex4 reads four hex digits at d[i:].
func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// compareUTF16 compares a and b by their UTF-16 code units, as RFC 8785
// sorts member names (which differs from UTF-8 byte order for characters
// above U+FFFF against U+E000 to U+FFFF).
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		a, b = a[na:], b[nb:]
		if ra == rb {
			continue
		}
		ua, ub := units(ra), units(rb)
		for i := range 2 {
			if ua[i] != ub[i] {
				return int(ua[i]) - int(ub[i])
			}
		}
	}
	return len(a) - len(b)
}

// units returns r's UTF-16 code units; the second is 0 for one unit.
func units(r rune) [2]uint16 {
	if r < 0x10000 {
		return [2]uint16{uint16(r), 0}
	}
	h, l := utf16.EncodeRune(r)
	return [2]uint16{uint16(h), uint16(l)}
}

// appendString appends s as ECMAScript's JSON.stringify writes it:
// only ", \ and control characters escaped, the latter as \b \t \n \f \r
// or \u00xx in lower-case hex.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		b := s[i]
		if b >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, "\ufffd"...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch b {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			if b < 0x20 {
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			} else {
				dst = append(dst, b)
			}
		}
		i++
	}
	return append(dst, '"')
}

// AppendNumber appends f as ECMAScript's Number.prototype.toString
// prints it (RFC 8785 section 3.2.2.3): the shortest decimal that reads
// back as f; plain notation for exponents from -7 to 20, else d.ddde±n;
// -0 as 0. f must be finite.
func AppendNumber(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0')
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // d.ddde±xx
	mant, exp, _ := bytes.Cut(e, []byte{'e'})
	x, _ := strconv.Atoi(string(exp))
	var digits []byte
	digits = append(digits, mant[0])
	if len(mant) > 2 {
		digits = append(digits, mant[2:]...)
	}
	k, n := len(digits), x+1 // f = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits...)
		for range n - k {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for range -n {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst
}
