//go:build !linux

package engine_test

import "time"

// threadCPU is the CPU time the calling OS thread has used, or 0 where
// it cannot be read (here).
func threadCPU() time.Duration { return 0 }

// processCPU is the CPU time the process has used, or 0 where it cannot
// be read (here).
func processCPU() time.Duration { return 0 }
