package resolve

import "strings"

// decimal is an exact decimal number, digits × 10^exp: what the merge
// compares and adds numbers with, instead of math/big (which links fmt
// into a plugin). parseNumber bounds its inputs (64 bytes, exponents
// within ±999), so a sum of three has at most a few thousand digits.
type decimal struct {
	neg    bool
	digits []byte // '0'…'9', no leading zero; empty for zero
	exp    int
}

// parseDecimal parses a valid JSON number whose exponent fits an int.
func parseDecimal(s string, exp int) decimal {
	var d decimal
	mant := s
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
	}
	if mant[0] == '-' {
		d.neg = true
		mant = mant[1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	d.digits = append([]byte(intPart), frac...)
	d.exp = exp - len(frac)
	return d.norm()
}

// norm strips leading zeros and makes zero positive.
func (d decimal) norm() decimal {
	i := 0
	for i < len(d.digits) && d.digits[i] == '0' {
		i++
	}
	d.digits = d.digits[i:]
	if len(d.digits) == 0 {
		d.neg, d.exp = false, 0
	}
	return d
}

// cmpAbs compares |a| and |b|.
func cmpAbs(a, b decimal) int {
	switch {
	case len(a.digits) == 0 || len(b.digits) == 0:
		return cmpInt(len(a.digits), len(b.digits))
	case len(a.digits)+a.exp != len(b.digits)+b.exp:
		// The position of the leading digit decides.
		return cmpInt(len(a.digits)+a.exp, len(b.digits)+b.exp)
	}
	for i := 0; i < max(len(a.digits), len(b.digits)); i++ {
		x, y := digitAt(a.digits, i), digitAt(b.digits, i)
		if x != y {
			return cmpInt(int(x), int(y))
		}
	}
	return 0
}

func digitAt(d []byte, i int) byte {
	if i < len(d) {
		return d[i]
	}
	return '0'
}

// cmpDecimal compares a and b: -1, 0 or +1.
func cmpDecimal(a, b decimal) int {
	switch {
	case a.neg != b.neg:
		if a.neg {
			return -1
		}
		return 1
	case a.neg:
		return -cmpAbs(a, b)
	}
	return cmpAbs(a, b)
}

// scaled returns d's digits with zeros appended down to the exponent exp
// (at most d.exp).
func (d decimal) scaled(exp int) []byte {
	out := make([]byte, len(d.digits), len(d.digits)+d.exp-exp)
	copy(out, d.digits)
	for range d.exp - exp {
		out = append(out, '0')
	}
	return out
}

// addDecimal returns a + b, exactly.
func addDecimal(a, b decimal) decimal {
	if len(a.digits) == 0 {
		return b
	}
	if len(b.digits) == 0 {
		return a
	}
	exp := min(a.exp, b.exp)
	x, y := a.scaled(exp), b.scaled(exp)
	if a.neg == b.neg {
		return decimal{neg: a.neg, digits: addDigits(x, y), exp: exp}.norm()
	}
	if cmpAbs(a, b) < 0 {
		a, x, y = b, y, x
	}
	return decimal{neg: a.neg, digits: subDigits(x, y), exp: exp}.norm()
}

// addDigits returns x + y, decimal digit strings.
func addDigits(x, y []byte) []byte {
	if len(x) < len(y) {
		x, y = y, x
	}
	out := make([]byte, len(x)+1)
	carry := byte(0)
	for i := 1; i <= len(x); i++ {
		s := x[len(x)-i] - '0' + carry
		if i <= len(y) {
			s += y[len(y)-i] - '0'
		}
		carry = s / 10
		out[len(out)-i] = s%10 + '0'
	}
	out[0] = carry + '0'
	return out
}

// subDigits returns x - y, decimal digit strings with x ≥ y.
func subDigits(x, y []byte) []byte {
	out := make([]byte, len(x))
	borrow := byte(0)
	for i := 1; i <= len(x); i++ {
		d := x[len(x)-i] - '0'
		s := borrow
		if i <= len(y) {
			s += y[len(y)-i] - '0'
		}
		borrow = 0
		if d < s {
			d += 10
			borrow = 1
		}
		out[len(out)-i] = d - s + '0'
	}
	return out
}

// format writes d as math/big writes a rational number: an integer as
// big.Int's String does, anything else as big.Rat's FloatString(scale)
// does (scale is at least d's number of decimal places).
func (d decimal) format(scale int) string {
	if len(d.digits) == 0 {
		return "0"
	}
	var intPart, frac []byte
	if d.exp >= 0 {
		intPart = d.scaled(0)
	} else {
		places := -d.exp
		if places >= len(d.digits) {
			frac = append([]byte(strings.Repeat("0", places-len(d.digits))), d.digits...)
		} else {
			intPart, frac = d.digits[:len(d.digits)-places], d.digits[len(d.digits)-places:]
		}
		if strings.Trim(string(frac), "0") == "" {
			frac = nil // an integer
		}
	}
	var b strings.Builder
	if d.neg {
		b.WriteByte('-')
	}
	if len(intPart) == 0 {
		b.WriteByte('0')
	}
	b.Write(intPart)
	if frac != nil && scale > 0 {
		b.WriteByte('.')
		for i := range scale {
			b.WriteByte(digitAt(frac, i))
		}
	}
	return b.String()
}
