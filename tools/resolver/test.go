package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/accord-db/accord/plugins/pdk/pdktest"
	"github.com/accord-db/accord/resolve"
)

func runTest(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("test", stderr)
	determinism := fs.Bool("determinism", false, "run each case again alone on a fresh instance; fail when its decision differs from the one taken after the cases before it (state kept between calls)")
	twin := fs.Bool("twin", false, "compare each decision with the native twin of the built-in the fixture names (basic, retry, backoff, merge)")
	params := fs.String("params", "", "the plugin's parameters, a `JSON` object, instead of each fixture's")
	rest, code, ok := parse(fs, args, 1, -1)
	if !ok {
		return code
	}
	file, paths := rest[0], rest[1:]
	if len(paths) == 0 {
		// The fixtures beside the module, as new lays them out.
		paths = []string{filepath.Join(filepath.Dir(file), "testdata", "conflicts")}
	}
	fixtures, err := pdktest.ReadFixtures(paths...)
	if err != nil {
		return fail(stderr, "test: %v", err)
	}
	if *params != "" {
		if !json.Valid([]byte(*params)) {
			return fail(stderr, "test: -params is not JSON")
		}
		for i := range fixtures {
			fixtures[i].Params = json.RawMessage(*params)
		}
	}
	opt := pdktest.Options{Determinism: *determinism}
	if *twin {
		opt.Twin = pdktest.BuiltinTwin
	}
	if _, err := os.Stat(file); err != nil {
		return fail(stderr, "test: %v", err)
	}
	report, err := pdktest.Check(context.Background(), file, fixtures, opt)
	if err != nil {
		return fail(stderr, "test: %v", err)
	}
	failed := 0
	for _, res := range report.Results {
		problems := res.Problems()
		if len(problems) == 0 {
			fmt.Fprintf(stdout, "ok   %s case %d: %s\n", res.Fixture, res.Case, show(res.Got))
			continue
		}
		failed++
		fmt.Fprintf(stdout, "FAIL %s case %d\n", res.Fixture, res.Case)
		for _, p := range problems {
			fmt.Fprintf(stdout, "     %s\n", p)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", len(report.Results)-failed, failed)
	if failed > 0 {
		return exitFail
	}
	return exitOK
}

// show is a decision on one line, as JSON.
func show(d resolve.Decision) string {
	b, err := resolve.AppendDecision(nil, d)
	if err != nil {
		return fmt.Sprintf("%+v", d)
	}
	return string(b)
}
