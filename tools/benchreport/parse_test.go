package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBench(t *testing.T) {
	tests := []struct {
		name  string
		input string
		bench string
		unit  string
		want  float64 // the median
		runs  int
	}{
		{
			name:  "one line, the GOMAXPROCS suffix dropped",
			input: "BenchmarkDecision/impl=wasm-2         \t  200000\t      5234 ns/op\t     336 B/op\t       5 allocs/op\n",
			bench: "BenchmarkDecision/impl=wasm", unit: "ns/op", want: 5234, runs: 1,
		},
		{
			name: "the median of repeated runs",
			input: "BenchmarkDecision/impl=wasm-2 \t 1 \t 300 ns/op\n" +
				"BenchmarkDecision/impl=wasm-2 \t 1 \t 100 ns/op\n" +
				"BenchmarkDecision/impl=wasm-2 \t 1 \t 200 ns/op\n",
			bench: "BenchmarkDecision/impl=wasm", unit: "ns/op", want: 200, runs: 3,
		},
		{
			name: "an even count: the mean of the middle two",
			input: "BenchmarkMemory \t 1 \t 4.0 MiB/instance\n" +
				"BenchmarkMemory \t 1 \t 6.0 MiB/instance\n",
			bench: "BenchmarkMemory", unit: "MiB/instance", want: 5, runs: 2,
		},
		{
			name:  "custom metrics, no suffix without GOMAXPROCS > 1",
			input: "BenchmarkServiceVsCouch/op=get/via=ratio \t 500 \t 5313165 ns/op \t 2646218 couch-ns/op \t 2666947 service-ns/op \t 1.008 service/couch\n",
			bench: "BenchmarkServiceVsCouch/op=get/via=ratio", unit: "service/couch", want: 1.008, runs: 1,
		},
		{
			name: "name and figures on two lines, a log line between",
			input: "goos: linux\npkg: github.com/accord-db/accord/engine\n" +
				"BenchmarkMemory-2   \t\n" +
				"    bench_test.go:250: something the benchmark logged\n" +
				"       1\t1234567890 ns/op\t         4.250 MiB-after-100k\t         4.188 MiB/instance\n" +
				"PASS\nok  \tgithub.com/accord-db/accord/engine\t12.3s\n",
			bench: "BenchmarkMemory", unit: "MiB-after-100k", want: 4.25, runs: 1,
		},
		{
			name:  "a sub-benchmark whose name ends in digits keeps them",
			input: "BenchmarkPool/callers=16-2 \t 10 \t 99 ns/op\n",
			bench: "BenchmarkPool/callers=16", unit: "ns/op", want: 99, runs: 1,
		},
		{
			name: "not results: skipped",
			input: "BenchmarkDecision/impl=native-2 --- FAIL: something\n" +
				"BenchmarkDecision/impl=native-2 \t abc \t 12 ns/op\n" +
				"BenchmarkDecision/impl=native-2 \t 10 \t 12 ns/op \t 7\n" +
				"BenchmarkDecision/impl=native-2 \t 10 \t 13 ns/op\n",
			bench: "BenchmarkDecision/impl=native", unit: "ns/op", want: 13, runs: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := results{}
			require.NoError(t, parseBench(strings.NewReader(tt.input), rs))
			got, ok := rs.median(tt.bench, tt.unit)
			require.True(t, ok, "no %s in %s; parsed %v", tt.unit, tt.bench, rs)
			assert.InDelta(t, tt.want, got, 1e-9)
			assert.Len(t, rs[tt.bench][tt.unit], tt.runs)
		})
	}
}

func TestParseBenchTooLongLine(t *testing.T) {
	rs := results{}
	err := parseBench(strings.NewReader(strings.Repeat("x", maxLineBytes+1)), rs)
	require.Error(t, err)
}
