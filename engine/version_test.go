package engine

import (
	"os"
	"regexp"
	"testing"
)

// TestWazeroVersion keeps the version that keys the default compilation
// cache equal to the one go.mod requires, so that upgrading wazero never
// reads code compiled by another release.
func TestWazeroVersion(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/tetratelabs/wazero\s+(\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod does not require github.com/tetratelabs/wazero")
	}
	if got := string(m[1]); got != wazeroVersion {
		t.Errorf("go.mod requires wazero %s, engine.wazeroVersion is %s: update the constant", got, wazeroVersion)
	}
}
