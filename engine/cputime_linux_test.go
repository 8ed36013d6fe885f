package engine_test

import (
	"syscall"
	"time"
)

// threadCPU is the CPU time the calling OS thread has used, or 0 where
// it cannot be read. Benchmarks that lock their goroutine to a thread
// report it beside the wall time: on a shared machine it is what the
// code costs, without the waits for a CPU.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU is the CPU time the whole process has used, or 0 where it
// cannot be read. A load runs on several threads (wazero's compilation
// workers, the garbage collector), so the load benchmarks report it.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
