package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLimitedMemoryGrows checks the linear memory as it grows within its
// capacity (no copy, no clearing) and past it (a copy): what the guest
// wrote is kept, what is added is zero, and growth past the limit is
// refused and told.
func TestLimitedMemoryGrows(t *testing.T) {
	const page = 65536
	m := &limitedMemory{limit: 8 * page}
	m.Allocate(2*page, 1<<32)
	sizes := []uint64{page, 2 * page, 3 * page, 3 * page, 5 * page, 8 * page}
	for i, size := range sizes {
		buf := m.Reallocate(size)
		require.Len(t, buf, int(size))
		if i > 0 {
			prev := sizes[i-1]
			for j := range prev {
				if buf[j] != byte(j%251+1) {
					t.Fatalf("Reallocate(%d): byte %d = %d, want what was written, %d", size, j, buf[j], byte(j%251+1))
				}
			}
			for j := prev; j < size; j++ {
				if buf[j] != 0 {
					t.Fatalf("Reallocate(%d): new byte %d = %d, want 0", size, j, buf[j])
				}
			}
		}
		for j := range buf {
			buf[j] = byte(j%251 + 1)
		}
	}
	assert.Nil(t, m.Reallocate(9*page))
	assert.True(t, m.refused)
	assert.Equal(t, uint64(9*page), m.asked)
}
