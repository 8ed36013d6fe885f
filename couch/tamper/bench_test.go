package tamper_test

import (
	"testing"
)

// fruitDoc is a fruit as the service stores it.
const fruitDoc = `{"_id":"0f3c2a9e8b7d4c1a9e8b7d4c1a0f3c2a","_rev":"3-8b7d4c1a0f3c2a9e8b7d4c1a0f3c2a9e","type":"fruit_v1.0","fruit_id":"9e8b7d4c1a0f3c2a9e8b7d4c1a0f3c2a","color":"red","tastings":12,"created_on":"2026-12-01T15:58:26.294366Z","updated_on":"2026-12-01T15:58:34.661502Z"}`

// BenchmarkSigner measures signing and verifying one fruit document,
// and, as the baseline, decoding it.
func BenchmarkSigner(b *testing.B) {
	s := signer(b, ring(b, "bench", "k1"))
	signed, err := s.Sign("0f3c2a9e8b7d4c1a9e8b7d4c1a0f3c2a", []byte(fruitDoc))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Sign("0f3c2a9e8b7d4c1a9e8b7d4c1a0f3c2a", []byte(fruitDoc)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Open("0f3c2a9e8b7d4c1a9e8b7d4c1a0f3c2a", signed); err != nil {
				b.Fatal(err)
			}
		}
	})
}
