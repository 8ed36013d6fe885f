package tamper

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	c := canon{dec: dec, skip: skip}
	out, err := c.value(dst, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotCanonicalizable, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON value", ErrNotCanonicalizable)
	}
	return out, nil
}

type canon struct {
	dec  *json.Decoder
	skip func(string) bool
}

func (c *canon) value(dst []byte, depth int) ([]byte, error) {
	tok, err := c.dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= MaxDepth {
			return nil, fmt.Errorf("nested deeper than %d", MaxDepth)
		}
		if t == '[' {
			return c.array(dst, depth+1)
		}
		if t == '{' {
			return c.object(dst, depth+1)
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return appendString(dst, t), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, fmt.Errorf("number %.40s: %w", t, err)
		}
		return AppendNumber(dst, f), nil
	case bool:
		return strconv.AppendBool(dst, t), nil
	case nil:
		return append(dst, "null"...), nil
	}
	return nil, fmt.Errorf("unexpected token %T", tok)
}

func (c *canon) array(dst []byte, depth int) ([]byte, error) {
	dst = append(dst, '[')
	for i := 0; c.dec.More(); i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = c.value(dst, depth); err != nil {
			return nil, err
		}
	}
	if _, err := c.dec.Token(); err != nil { // ]
		return nil, err
	}
	return append(dst, ']'), nil
}

// member is an object member: its name and where its canonical value is
// in the scratch buffer.
type member struct {
	name       string
	start, end int
}

func (c *canon) object(dst []byte, depth int) ([]byte, error) {
	top := depth == 1 && c.skip != nil
	var members []member
	var scratch []byte
	seen := map[string]bool{}
	for c.dec.More() {
		tok, err := c.dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("object member name is not a string")
		}
		if seen[name] {
			return nil, fmt.Errorf("member %.40q given twice", name)
		}
		seen[name] = true
		if top && c.skip(name) {
			var skipped json.RawMessage
			if err := c.dec.Decode(&skipped); err != nil {
				return nil, err
			}
			continue
		}
		start := len(scratch)
		if scratch, err = c.value(scratch, depth); err != nil {
			return nil, err
		}
		members = append(members, member{name, start, len(scratch)})
	}
	if _, err := c.dec.Token(); err != nil { // }
		return nil, err
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
