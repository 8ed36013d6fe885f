package resolve

import (
	"bytes"
	"encoding/json"
)

// validJSON reports whether b is exactly one JSON value (with white space
// around it), as encoding/json.Valid does, and how deep it nests arrays
// and objects; it gives up (false) past maxDepth. It exists because
// encoding/json's scanner calls a function per byte, which is slow in a
// WebAssembly guest; FuzzValidJSON checks it against json.Valid.
func validJSON(b []byte, maxDepth int) (depth int, ok bool) {
	v := validator{b: b, max: maxDepth}
	v.ws()
	if !v.value(0) {
		return v.deepest, false
	}
	v.ws()
	return v.deepest, v.i == len(b)
}

// maxValidDepth is how deep validDocument checks JSON itself; deeper
// JSON is left to encoding/json, which needs no stack for it.
const maxValidDepth = 512

// validDocument is json.Valid(b), faster in a WebAssembly guest.
func validDocument(b []byte) bool {
	depth, ok := validJSON(b, maxValidDepth)
	if depth > maxValidDepth {
		return json.Valid(b)
	}
	return ok
}

type validator struct {
	b       []byte
	i       int
	max     int
	deepest int
}

func (v *validator) ws() {
	for v.i < len(v.b) {
		switch v.b[v.i] {
		case ' ', '\t', '\n', '\r':
			v.i++
		default:
			return
		}
	}
}

func (v *validator) lit(s string) bool {
	if len(v.b)-v.i < len(s) || string(v.b[v.i:v.i+len(s)]) != s {
		return false
	}
	v.i += len(s)
	return true
}

func (v *validator) value(depth int) bool {
	if v.i >= len(v.b) {
		return false
	}
	switch c := v.b[v.i]; {
	case c == '{' || c == '[':
		depth++
		if depth > v.max {
			v.deepest = depth
			return false
		}
		v.deepest = max(v.deepest, depth)
		v.i++
		v.ws()
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		if v.i < len(v.b) && v.b[v.i] == closing {
			v.i++
			return true
		}
		for {
			if c == '{' {
				if v.i >= len(v.b) || v.b[v.i] != '"' || !v.str() {
					return false
				}
				v.ws()
				if v.i >= len(v.b) || v.b[v.i] != ':' {
					return false
				}
				v.i++
				v.ws()
			}
			if !v.value(depth) {
				return false
			}
			v.ws()
			if v.i >= len(v.b) {
				return false
			}
			switch v.b[v.i] {
			case ',':
				v.i++
				v.ws()
			case closing:
				v.i++
				return true
			default:
				return false
			}
		}
	case c == '"':
		return v.str()
	case c == 't':
		return v.lit("true")
	case c == 'f':
		return v.lit("false")
	case c == 'n':
		return v.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return v.num()
	}
	return false
}

// str checks the string at v.i (its opening quote).
func (v *validator) str() bool {
	v.i++
	for v.i < len(v.b) {
		c := v.b[v.i]
		switch {
		case c == '"':
			v.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			v.i++
			if v.i >= len(v.b) {
				return false
			}
			switch v.b[v.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				v.i++
			case 'u':
				if len(v.b)-v.i < 5 {
					return false
				}
				for _, h := range v.b[v.i+1 : v.i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				v.i += 5
			default:
				return false
			}
		default:
			v.i++
		}
	}
	return false
}

// num checks the number at v.i.
func (v *validator) num() bool {
	digits := func() int {
		n := 0
		for v.i < len(v.b) && '0' <= v.b[v.i] && v.b[v.i] <= '9' {
			v.i++
			n++
		}
		return n
	}
	if v.b[v.i] == '-' {
		v.i++
	}
	if v.i < len(v.b) && v.b[v.i] == '0' {
		v.i++
	} else if digits() == 0 {
		return false
	}
	if v.i < len(v.b) && v.b[v.i] == '.' {
		v.i++
		if digits() == 0 {
			return false
		}
	}
	if v.i < len(v.b) && (v.b[v.i] == 'e' || v.b[v.i] == 'E') {
		v.i++
		if v.i < len(v.b) && (v.b[v.i] == '+' || v.b[v.i] == '-') {
			v.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// writeCompact writes valid JSON b without the white space outside its
// strings.
func writeCompact(buf *bytes.Buffer, b []byte) {
	start := 0 // of the run of bytes to keep
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			buf.Write(b[start:i])
			start = i + 1
		case '"':
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		}
	}
	buf.Write(b[start:])
}
