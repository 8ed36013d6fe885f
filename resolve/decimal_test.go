package resolve

import (
	"math/big"
	"strings"
	"testing"
)

// FuzzDecimal checks the merge's exact decimals against math/big, which
// the merge used before: the same order, the same sum written the same
// way (big.Int's String for an integer, big.Rat's FloatString otherwise).
func FuzzDecimal(f *testing.F) {
	for _, s := range [][3]string{
		{"5", "4", "3"}, {"1.5", "1.5", "0"}, {"0.1", "0.2", "0.3"}, {"-0.5", "0", "0"}, {"1.50", "-0.25", "0"},
		{"1e999", "1e-999", "0"}, {"-1E+2", "100", "0.0"}, {"0.000", "-0", "0e5"}, {"123456789012345678901234567890", "-1", "9.99e28"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, mine, theirs, base string) {
		var sum decimal
		var ref big.Rat
		scale := 0
		var prev decimal
		var prevRat *big.Rat
		for i, s := range []string{mine, theirs, base} {
			if _, ok := validJSON([]byte(s), 1); !ok || len(s) == 0 || strings.TrimSpace(s) != s || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
				return // not a number as the merge hands them over
			}
			d, sc, err := parseNumber([]byte(s))
			if err != nil {
				return
			}
			r, ok := new(big.Rat).SetString(s)
			if !ok {
				t.Fatalf("math/big refuses %q", s)
			}
			if prevRat != nil {
				if got, want := cmpDecimal(prev, d), prevRat.Cmp(r); got != want {
					t.Fatalf("cmpDecimal(%+v, %q) = %d, math/big says %d", prev, s, got, want)
				}
			}
			prev, prevRat = d, r
			scale = max(scale, sc)
			if i == 2 {
				if len(d.digits) > 0 {
					d.neg = !d.neg
				}
				r.Neg(r)
			}
			sum = addDecimal(sum, d)
			ref.Add(&ref, r)
		}
		want := ref.FloatString(scale)
		if ref.IsInt() {
			want = ref.Num().String()
		}
		if got := sum.format(scale); got != want {
			t.Fatalf("%s + %s - %s = %s, math/big says %s", mine, theirs, base, got, want)
		}
	})
}
