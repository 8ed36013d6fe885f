// Command resolver is the kit for writing an Accord resolver plugin, from
// an empty folder to a module to pin in a service's config:
//
//	resolver new [-lang go|assemblyscript] [-accord DIR] NAME   scaffold NAME/: source, a fixture, a README, its own module
//	resolver build [DIR]                                        build DIR's plugin reproducibly; print its size and sha256
//	resolver describe FILE.wasm                                 what accord_describe says, the exports, the ABI check
//	resolver test [-determinism] [-twin] FILE.wasm [FIXTURES...]  run conflict fixtures; diff the decisions
//	resolver bench [-params JSON] FILE.wasm                     decision latency for a few document sizes, against a native baseline
//	resolver replay -from RECORDING FILE.wasm|BUILTIN           run a flight recording through another resolver; report changed decisions
//
// Install it from a checkout of this repository (offline):
//
//	go install ./tools/resolver
//
// docs/writing-resolvers.md walks through every command. Exit codes: 0
// success, 1 failure (a fixture failed, a decision changed in a replay, a
// build failed), 2 usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// The exit codes of run.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// command is one subcommand.
type command struct {
	usage string
	run   func(args []string, stdout, stderr io.Writer) int
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"new":      {"new [-lang go|assemblyscript] [-accord DIR] [-dir PARENT] NAME", runNew},
		"build":    {"build [DIR]", runBuild},
		"describe": {"describe FILE.wasm", runDescribe},
		"test":     {"test [-determinism] [-twin] [-params JSON] FILE.wasm [FIXTURE.json|DIR ...]", runTest},
		"bench":    {"bench [-params JSON] [-baseline NAME] [-baseline-params JSON] [-benchtime D] FILE.wasm", runBench},
		"replay":   {"replay -from RECORDING.jsonl [-params JSON] [-show N] FILE.wasm|BUILTIN", runReplay},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "resolver: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return cmd.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "usage: resolver COMMAND [flags] ARGS\n\ncommands:\n")
	for _, name := range names {
		fmt.Fprintf(w, "  resolver %s\n", commands[name].usage)
	}
	fmt.Fprintf(w, "\nSee docs/writing-resolvers.md.\n")
}

// flagSet returns a flag set for a subcommand, its usage naming it.
func flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("resolver "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: resolver %s\n", commands[name].usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses a subcommand's flags, allowing flags after the arguments
// too (resolver test FILE.wasm -determinism), and checks the number of
// arguments left. ok is false with the exit code to return.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) (rest []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		args = fs.Args()
		i := 0
		for i < len(args) && !strings.HasPrefix(args[i], "-") {
			i++
		}
		rest = append(rest, args[:i]...)
		if i == len(args) {
			break
		}
		args = args[i:]
	}
	if len(rest) < minArgs || maxArgs >= 0 && len(rest) > maxArgs {
		fs.Usage()
		return nil, exitUsage, false
	}
	return rest, exitOK, true
}

// fail prints a one-line error and returns exitFail.
func fail(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "resolver: "+format+"\n", args...)
	return exitFail
}
