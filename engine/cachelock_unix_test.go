//go:build unix

package engine

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSumMapped checks the SHA-256 of a file read through a mapping, and
// that a file that shrank after its size was taken (reading it faults)
// is reported unreadable instead of crashing the host.
func TestSumMapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entry")
	content := make([]byte, 3<<20+17)
	for i := range content {
		content[i] = byte(i * 7)
	}
	require.NoError(t, os.WriteFile(path, content, 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()

	sum, ok := sumMapped(f, int64(len(content)))
	require.True(t, ok)
	assert.Equal(t, sha256.Sum256(content), sum)

	require.NoError(t, os.Truncate(path, 4096))
	_, ok = sumMapped(f, int64(len(content)))
	assert.False(t, ok, "a file that shrank under its mapping")
	got, err := fileSum(path)
	require.NoError(t, err)
	assert.Equal(t, hexSum(content[:4096]), got)
}
