package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFlagsDefaults(t *testing.T) {
	var stderr bytes.Buffer
	cfg, err := parseFlags(nil, &stderr)
	require.NoError(t, err)
	assert.Equal(t, defaultService, cfg.Service.String())
	assert.Equal(t, 50, cfg.NumberFruit)
	assert.Equal(t, 10, cfg.Concurrency)
	assert.Equal(t, time.Minute, cfg.Duration)
	assert.Equal(t, defaultMix, cfg.Mix)
	assert.Equal(t, 100, defaultMix.total())
	assert.Equal(t, 10*time.Second, cfg.Timeout)
	assert.Equal(t, 5*time.Second, cfg.ProgressInterval)
	assert.Zero(t, cfg.Seed)
	assert.Empty(t, stderr.String())
}

func TestParseFlagsRecipe(t *testing.T) {
	cfg, err := parseFlags([]string{
		"-service", "http://127.0.0.1:9000/", "-concurrency", "25", "-number-fruit", "10", "-duration", "15s",
		"-percent-get", "20", "-percent-taste", "40", "-percent-put", "40", "-percent-post", "0", "-percent-delete", "0",
		"-seed", "42", "-timeout", "2s", "-progress-interval", "0", "-json", "r.json", "-html", "r.html",
	}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:9000", cfg.Service.String(), "a trailing slash is dropped")
	assert.Equal(t, mix{opGet: 20, opPut: 40, opTaste: 40}, cfg.Mix)
	assert.Equal(t, config{
		Service: cfg.Service, NumberFruit: 10, Concurrency: 25, Duration: 15 * time.Second, Mix: cfg.Mix,
		Seed: 42, Timeout: 2 * time.Second, JSONFile: "r.json", HTMLFile: "r.html",
	}, cfg)
}

// TestRunUsageErrors checks that a command line that cannot run exits 2
// with a message saying what is wrong, before sending any request (the
// service URL points nowhere).
func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{
			name: "mix over 100",
			args: []string{"-percent-get", "40", "-percent-put", "40", "-percent-taste", "30", "-percent-post", "0", "-percent-delete", "0"},
			want: []string{"must total 100", "-percent-get 40, -percent-put 40, -percent-taste 30, -percent-post 0, -percent-delete 0 total 110"},
		},
		{
			name: "mix under 100",
			args: []string{"-percent-get", "20", "-percent-taste", "40", "-percent-put", "30", "-percent-post", "0", "-percent-delete", "0"},
			want: []string{"loadgen: the percentages must total 100, but -percent-get 20, -percent-put 30, -percent-taste 40, -percent-post 0, -percent-delete 0 total 90"},
		},
		{
			name: "defaults left for the rest",
			args: []string{"-percent-get", "20", "-percent-taste", "40", "-percent-put", "40"},
			want: []string{"-percent-post 5, -percent-delete 5 total 110"},
		},
		{name: "negative percentage", args: []string{"-percent-get", "-10", "-percent-put", "70"}, want: []string{"-percent-get -10: a percentage is between 0 and 100"}},
		{name: "percentage over 100", args: []string{"-percent-get", "140"}, want: []string{"-percent-get 140"}},
		{name: "no fruit", args: []string{"-number-fruit", "0"}, want: []string{"-number-fruit 0"}},
		{name: "no workers", args: []string{"-concurrency", "0"}, want: []string{"-concurrency 0"}},
		{name: "no duration", args: []string{"-duration", "0s"}, want: []string{"-duration 0s: must be positive"}},
		{name: "no timeout", args: []string{"-timeout", "-1s"}, want: []string{"-timeout -1s"}},
		{name: "negative progress interval", args: []string{"-progress-interval", "-1s"}, want: []string{"-progress-interval"}},
		{name: "not a URL", args: []string{"-service", "127.0.0.1:8445"}, want: []string{"-service: couch: bad URL", "want a base URL such as " + defaultService}},
		{name: "service not http", args: []string{"-service", "ftp://admin:s3cret@127.0.0.1"}, want: []string{"-service ftp://admin:xxxxx@127.0.0.1 is not a base URL"}},
		{name: "stray argument", args: []string{"-duration", "1s", "now"}, want: []string{`unexpected argument "now"`}},
		{name: "unknown flag", args: []string{"-workers", "3"}, want: []string{"flag provided but not defined: -workers", "usage: loadgen"}},
		{name: "bad duration", args: []string{"-duration", "soon"}, want: []string{"invalid value \"soon\" for flag -duration"}},
		{name: "unwritable report", args: []string{"-json", "/nonexistent/dir/r.json"}, want: []string{"cannot write the report"}},
		{name: "baseline not a URL", args: []string{"-baseline-couch", "http://admin:s3cret@127.0.0.1:5984/%zz"}, want: []string{"-baseline-couch is not a URL", exampleCouch}},
		{name: "baseline without scheme", args: []string{"-baseline-couch", "localhost:5984/accord_sample"}, want: []string{"not an absolute URL", "want a database URL"}},
		{name: "baseline not http", args: []string{"-baseline-couch", "ftp://admin:s3cret@127.0.0.1/accord_sample"}, want: []string{"-baseline-couch ftp://admin:xxxxx@127.0.0.1/accord_sample: want an http or https"}},
		{name: "baseline without host", args: []string{"-baseline-couch", "http:///accord_sample"}, want: []string{"want an http or https"}},
		{name: "baseline without database", args: []string{"-baseline-couch", "http://admin:s3cret@127.0.0.1:5984/"}, want: []string{"-baseline-couch http://admin:xxxxx@127.0.0.1:5984: no database name"}},
		{name: "baseline with query", args: []string{"-baseline-couch", "http://127.0.0.1:5984/accord_sample?x=1"}, want: []string{"no query or fragment"}},
		{name: "baseline escaped slash", args: []string{"-baseline-couch", "http://127.0.0.1:5984/a%2Fb"}, want: []string{"%2F"}},
		{name: "baseline duration alone", args: []string{"-baseline-duration", "2s"}, want: []string{"-baseline-duration 2s: there is no baseline without -baseline-couch"}},
		{name: "baseline duration negative", args: []string{"-baseline-couch", exampleCouch, "-baseline-duration", "-2s"}, want: []string{"-baseline-duration -2s: must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"-service", "http://127.0.0.1:1"}, tt.args...), &stdout, &stderr)
			assert.Equal(t, exitUsage, code, "run(%q) exit code; stderr: %s", tt.args, stderr.String())
			for _, w := range tt.want {
				assert.Contains(t, stderr.String(), w)
			}
			assert.Empty(t, stdout.String())
			assert.NotContains(t, stderr.String(), "s3cret", "no password in a message")
		})
	}
}

func TestParseFlagsBaseline(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		wantCouch    string // Redacted
		wantDuration time.Duration
	}{
		{name: "none", args: nil},
		{name: "duration of the mix", args: []string{"-duration", "15s", "-baseline-couch", exampleCouch},
			wantCouch: exampleCouch, wantDuration: 15 * time.Second},
		{name: "own duration", args: []string{"-duration", "15s", "-baseline-couch", exampleCouch, "-baseline-duration", "2s"},
			wantCouch: exampleCouch, wantDuration: 2 * time.Second},
		{name: "trailing slash and credentials", args: []string{"-baseline-couch", "https://admin:s3cret@couch.example:6984/db/"},
			wantCouch: "https://admin:xxxxx@couch.example:6984/db", wantDuration: time.Minute},
		{name: "behind a prefix", args: []string{"-baseline-couch", "http://127.0.0.1/couch/accord_sample"},
			wantCouch: "http://127.0.0.1/couch/accord_sample", wantDuration: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseFlags(tt.args, &bytes.Buffer{})
			require.NoError(t, err)
			if tt.wantCouch == "" {
				assert.Nil(t, cfg.BaselineCouch)
				assert.Zero(t, cfg.BaselineDuration)
				return
			}
			require.NotNil(t, cfg.BaselineCouch)
			assert.Equal(t, tt.wantCouch, cfg.BaselineCouch.Redacted())
			assert.Equal(t, tt.wantDuration, cfg.BaselineDuration)
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-h"}, &stdout, &stderr)
	assert.Equal(t, exitOK, code)
	for _, w := range []string{"usage: loadgen", "-percent-taste", "-baseline-couch", "-baseline-duration", "-number-fruit", "Exit status", "-percent-get 20 -percent-taste 40 -percent-put 40"} {
		assert.Contains(t, stderr.String(), w)
	}
}

func TestMixPick(t *testing.T) {
	tests := []struct {
		name string
		mix  mix
	}{
		{"default", defaultMix},
		{"recipe", mix{opGet: 20, opPut: 40, opTaste: 40}},
		{"only tastings", mix{opTaste: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := newRand(1, 0)
			var counts [numOps]int
			const n = 100_000
			for range n {
				counts[tt.mix.pick(rng)]++
			}
			for o := range numOps {
				got := float64(counts[o]) / n * 100
				assert.InDelta(t, tt.mix[o], got, 1, "%s: %.1f%% picked, want %d%%", o, got, tt.mix[o])
				if tt.mix[o] == 0 {
					assert.Zero(t, counts[o], "%s is never picked", o)
				}
			}
		})
	}
}

func TestMixPickReproducible(t *testing.T) {
	seq := func(seed uint64, worker int) []op {
		rng := newRand(seed, worker)
		out := make([]op, 50)
		for i := range out {
			out[i] = defaultMix.pick(rng)
		}
		return out
	}
	assert.Equal(t, seq(7, 3), seq(7, 3), "a seed replays a worker's operations")
	assert.NotEqual(t, seq(7, 3), seq(7, 4), "workers differ")
	assert.NotEqual(t, seq(7, 3), seq(8, 3), "seeds differ")
}

// TestURLFlagsNeverEchoCredentials gives -service and -baseline-couch
// URLs whose password is not percent-encoded: the usage error names the
// problem and prints nothing of the password.
func TestURLFlagsNeverEchoCredentials(t *testing.T) {
	passwords := []string{"hun/ter2", "hun#ter2", "hun?ter2", "4242/2424", "4242#2424", "4242?2424"}
	for _, flagName := range []string{"-service", "-baseline-couch"} {
		for _, pw := range passwords {
			raw := "http://admin:" + pw + "@127.0.0.1:5984/accord_sample"
			t.Run(flagName+" "+pw, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := run([]string{flagName, raw}, &stdout, &stderr)
				assert.Equal(t, exitUsage, code, "stderr: %s", stderr.String())
				assert.Contains(t, stderr.String(), "percent-encode")
				for _, piece := range []string{"hun", "ter2", "4242", "2424"} {
					assert.NotContains(t, stderr.String(), piece)
				}
			})
		}
		t.Run(flagName+" invalid port", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{flagName, "http://admin:hunter2@127.0.0.1:hunter2/accord_sample"}, &stdout, &stderr)
			assert.Equal(t, exitUsage, code)
			assert.NotContains(t, stderr.String(), "hunter2")
		})
	}
}

// TestUnreachableServiceNeverEchoesCredentials runs against a service URL
// with a password that nothing answers: the error names the service
// without the password.
func TestUnreachableServiceNeverEchoesCredentials(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-service", "http://admin:hunter2@127.0.0.1:1", "-duration", "1s"}, &stdout, &stderr)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr.String(), "does not answer")
	assert.NotContains(t, stdout.String()+stderr.String(), "hunter2")
}
