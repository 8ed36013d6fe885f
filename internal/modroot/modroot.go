// Package modroot finds the repository's root: the nearest directory at
// or above the working directory that holds go.mod. Tests and tools use
// it to find files (node_modules, plugin sources) from any package.
package modroot

import (
	"errors"
	"os"
	"path/filepath"
)

// ErrNotFound is returned when no directory at or above the working
// directory holds go.mod.
var ErrNotFound = errors.New("no go.mod in the working directory or above")

// Find returns the root directory.
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNotFound
		}
		dir = parent
	}
}
