package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got, "differs from %s (go test -run %s -update rewrites it)", path, name)
}

// TestReport prints the table from the outputs of one `make bench` run
// on pouchdb-server, captured in testdata/.
func TestReport(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"-title", "captured"}
	for _, f := range []string{"engine-decision.txt", "engine-load.txt", "engine-memory.txt", "service.txt"} {
		args = append(args, "-bench", filepath.Join("testdata", f))
	}
	args = append(args, "-loadgen", filepath.Join("testdata", "loadgen.json"))
	require.Equal(t, 0, run(args, &out, &errOut), "stderr: %s", errOut.String())
	golden(t, "TestReport", out.String())
	assert.NotContains(t, out.String(), missing, "every figure is in the captured outputs")
}

// TestReportMissing checks that a figure whose benchmark or report is
// not there is "missing", never a number, and that the sub-benchmarks'
// other names are accepted.
func TestReportMissing(t *testing.T) {
	tests := []struct {
		name  string
		bench string
		// The rows (by the start of their description) that must have
		// a figure; every other must say missing.
		have []string
	}{
		{"nothing", "", nil},
		{"only the GET yardstick", "BenchmarkDecision/impl=couchdb-get-2 \t 100 \t 1000000 ns/op\n", nil},
		{"renamed: impl=wasm-untrusted", "BenchmarkDecision/impl=wasm-trusted-2 \t 100 \t 5000 ns/op\n" +
			"BenchmarkDecision/impl=wasm-untrusted-2 \t 100 \t 6000 ns/op\n",
			[]string{"built-in decision", "decision with deadline enforcement, vs", "decision with deadline enforcement (share"}},
		{"a figure without its baseline", "BenchmarkMemory-2 \t 1 \t 1 ns/op \t 3.5 MiB-after-100k\n",
			[]string{"memory per Go-guest"}},
		{"enforcement per plugin, one without its trusted run", "BenchmarkEnforcement/plugin=retry/trust=trusted-2 \t 10 \t 5000 ns/op\n" +
			"BenchmarkEnforcement/plugin=retry/trust=untrusted-2 \t 10 \t 6000 ns/op\n" +
			"BenchmarkEnforcement/plugin=asretry/trust=untrusted-2 \t 10 \t 900 ns/op\n",
			[]string{"plugin asretry", "plugin retry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := results{}
			require.NoError(t, parseBench(strings.NewReader(tt.bench), rs))
			for _, r := range rows(rs, nil) {
				has := false
				for _, h := range tt.have {
					has = has || strings.HasPrefix(r.What, h)
				}
				if has {
					assert.NotEqual(t, missing, r.Value, "%s", r.What)
					continue
				}
				assert.Equal(t, missing, r.Value, "%s", r.What)
				if r.Goal != "" {
					assert.Equal(t, missing, r.Verdict, "%s", r.What)
				}
			}
		})
	}
	t.Run("a loadgen report without a baseline or histogram", func(t *testing.T) {
		lg, err := parseLoadgen(strings.NewReader(`{"resolver":{"delta":{"decision_count":5}}}`))
		require.NoError(t, err)
		for _, r := range rows(results{}, lg) {
			assert.Equal(t, missing, r.Value, "%s", r.What)
		}
	})
	t.Run("not a loadgen report", func(t *testing.T) {
		_, err := parseLoadgen(strings.NewReader(`not json`))
		require.Error(t, err)
	})
}

// TestEnforcementRows checks the per-plugin rows of BenchmarkEnforcement.
func TestEnforcementRows(t *testing.T) {
	rs := results{}
	require.NoError(t, parseBench(strings.NewReader(
		"BenchmarkDecision/impl=couchdb-get-2 \t 100 \t 1000000 ns/op\n"+
			"BenchmarkEnforcement/plugin=retry/trust=trusted-2 \t 10 \t 5000 ns/op \t 4000 cpu-ns/op\n"+
			"BenchmarkEnforcement/plugin=retry/trust=untrusted-2 \t 10 \t 6000 ns/op \t 4500 cpu-ns/op\n"+
			"BenchmarkEnforcement/plugin=merge/trust=trusted-2 \t 10 \t 10000 ns/op\n"+
			"BenchmarkEnforcement/plugin=merge/trust=untrusted-2 \t 10 \t 20000 ns/op\n"), rs))
	got := map[string]row{}
	for _, r := range rows(rs, nil) {
		got[r.What] = r
	}
	retry := got["plugin retry with deadline enforcement, vs unenforced; share of a GET"]
	assert.Equal(t, "1.200×; 0.60 % of a GET", retry.Ratio)
	assert.Equal(t, "met", retry.Verdict)
	merge := got["plugin merge with deadline enforcement, vs unenforced; share of a GET"]
	assert.Equal(t, "2.000×; 2.00 % of a GET", merge.Ratio)
	assert.Equal(t, "not met", merge.Verdict)
}
