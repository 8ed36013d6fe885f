// Command benchreport prints issue 14's table of performance figures from
// one run: `go test -bench` output (the engine's BenchmarkDecision,
// BenchmarkLoad, BenchmarkLoadBuiltins and BenchmarkMemory; samples/fruit's
// BenchmarkServiceVsCouch) and loadgen's -json report (with
// -baseline-couch). Every figure is shown beside the baseline it is
// judged against, measured in the same run, as a ratio, with the goal
// and whether it is met:
//
//	go test -run '^$' -bench . ./engine/ ./samples/fruit/ > bench.txt
//	go run ./tools/loadgen … -json loadgen.json -baseline-couch $DB
//	go run ./tools/benchreport -bench bench.txt -loadgen loadgen.json
//
// With the engine's BenchmarkEnforcement (plugin=NAME/trust=…), a row per
// plugin. `make bench` does all of it. A figure whose benchmark or report is not
// there is printed as "missing", never estimated; repeated runs of a
// benchmark (-count) are summed up by their median.
//
// Exit codes: 0 the table was printed (whether goals are met or not), 1
// an input could not be read, 2 bad arguments.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// files is a flag that may be given more than once.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var benchFiles files
	fs.Var(&benchFiles, "bench", "a `file` of go test -bench output (repeatable)")
	loadgenFile := fs.String("loadgen", "", "loadgen's -json report `file` (run with -baseline-couch)")
	title := fs.String("title", "", "a line printed above the table (the server, say)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: benchreport -bench FILE [-bench FILE…] [-loadgen FILE]\n\nPrints issue 14's table of figures, each against its baseline of the same run.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || len(benchFiles) == 0 && *loadgenFile == "" {
		fs.Usage()
		return 2
	}
	rs := results{}
	for _, name := range benchFiles {
		if err := readFile(name, func(r io.Reader) error { return parseBench(r, rs) }); err != nil {
			fmt.Fprintf(stderr, "benchreport: %v\n", err)
			return 1
		}
	}
	var lg *loadgenReport
	if *loadgenFile != "" {
		err := readFile(*loadgenFile, func(r io.Reader) error {
			var err error
			lg, err = parseLoadgen(r)
			return err
		})
		if err != nil {
			fmt.Fprintf(stderr, "benchreport: %v\n", err)
			return 1
		}
	}
	if *title != "" {
		fmt.Fprintf(stdout, "%s\n\n", *title)
	}
	writeTable(stdout, rows(rs, lg))
	return 0
}

func readFile(name string, read func(io.Reader) error) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := read(f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
