// Command loadgen drives a mix of requests through a fruit sample service
// to make its resolver work, reports what happened, and audits that no
// acknowledged write was lost.
//
//	go run ./tools/loadgen -service http://127.0.0.1:8445 -duration 30s
//
// It creates -number-fruit fruit, runs -concurrency workers for
// -duration, each sending one request after another drawn from the mix
// (-percent-get, -percent-put, -percent-taste, -percent-post,
// -percent-delete, which must total 100), then prints:
//
//   - a table per operation: requests, successes, failures by status,
//     p50/p95/p99/max latency and rate;
//   - the resolver's counters from GET /v1.0/_metrics before and after
//     the mix (conflicts, decisions by action, failures);
//   - the lost-update audit: every fruit's stored tastings, read back at
//     the end, must equal the tastings the service acknowledged, give or
//     take the ones whose answer never came (see audit.go).
//
// -json FILE writes the whole result; -html FILE a one-page report with
// a latency-over-time chart and a latency histogram per operation.
//
// -baseline-couch URL, the CouchDB database the service uses (e.g.
// http://127.0.0.1:5984/accord_sample; credentials in the URL or in
// COUCHDB_USER and COUCHDB_PASSWORD), adds a same-session baseline after
// the audit: two GET-only phases with the same workers, each for
// -baseline-duration (default -duration), one reading the core fruit
// through the service, the other their documents straight from CouchDB;
// the report gives each phase's rate, p50 and p99 and the ratios
// service/raw. Failures in these phases are reported but change neither
// the audit's verdict nor the exit status.
//
// Exit status: 0 the audit passed; 1 it failed (lost or phantom
// updates, or a fruit gone missing); 2 the command line is wrong; 3 the
// service could not be reached, the fruit could not be created or read
// back, the baseline could not start, or a report could not be written.
//
// The mix that makes lots of conflicts, the seed's recipe:
//
//	go run ./tools/loadgen -concurrency 25 -number-fruit 10 -duration 15s \
//		-percent-get 20 -percent-taste 40 -percent-put 40 -percent-post 0 -percent-delete 0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/signal"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// The exit codes of run.
const (
	exitOK          = 0
	exitAuditFailed = 1
	exitUsage       = 2
	exitSetup       = 3
)

// startHint is what to do when the service does not answer.
const startHint = "start the service first: `make run` starts CouchDB (pouchdb-server), installs the sample database and serves the backoff sample on 127.0.0.1:8445; or pass -service with the URL of a running one"

// run is the whole command: it reads args, writes the report to stdout
// and progress and errors to stderr, and returns the exit code. Ctrl-C
// ends the mix early; the audit and the report still follow, and a
// second Ctrl-C kills.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return exitUsage
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64() | 1 // never 0, so that the report's seed replays
	}
	// Find out about unwritable report files now, not after the run.
	for _, path := range []string{cfg.JSONFile, cfg.HTMLFile} {
		if path == "" {
			continue
		}
		_, statErr := os.Stat(path)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: cannot write the report: %v\n", err)
			return exitUsage
		}
		f.Close()
		if errors.Is(statErr, fs.ErrNotExist) {
			os.Remove(path)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := execute(ctx, cfg, stderr, stop)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return exitSetup
	}
	code := exitOK
	switch res.Audit.Verdict {
	case "FAIL":
		code = exitAuditFailed
	case "INCOMPLETE":
		code = exitSetup
	}
	if err := writeText(stdout, res); err != nil {
		fmt.Fprintf(stderr, "loadgen: writing the report: %v\n", err)
		code = max(code, exitSetup)
	}
	if cfg.JSONFile != "" {
		if err := writeJSONFile(cfg.JSONFile, res); err != nil {
			fmt.Fprintf(stderr, "loadgen: -json: %v\n", err)
			code = max(code, exitSetup)
		}
	}
	if cfg.HTMLFile != "" {
		if err := writeHTMLFile(cfg.HTMLFile, res); err != nil {
			fmt.Fprintf(stderr, "loadgen: -html: %v\n", err)
			code = max(code, exitSetup)
		}
	}
	if code == exitSetup && res.Audit.Verdict == "INCOMPLETE" {
		fmt.Fprintf(stderr, "loadgen: %d fruit could not be read back, so the audit is incomplete\n", res.Audit.Unread)
	}
	return code
}

// execute creates the fruit, runs the mix, reads the counters and
// audits; with -baseline-couch it then runs the baseline phases (see
// baseline.go). An error means there is nothing to report: the service
// could not be reached, the fruit could not be created, or the baseline
// cannot run (checked before the mix). After ctx is done (Ctrl-C) it
// calls stopSignals, so that a second Ctrl-C kills.
func execute(ctx context.Context, cfg config, stderr io.Writer, stopSignals func()) (*result, error) {
	svc := newService(cfg.Service, cfg.Concurrency, cfg.Timeout)
	defer svc.close()
	if err := svc.health(ctx); err != nil {
		return nil, fmt.Errorf("the service at %s does not answer: %v\n%s", cfg.Service.Redacted(), err, startHint)
	}
	r := newRunner(cfg, svc)
	started := time.Now()
	if err := r.setup(ctx); err != nil {
		return nil, fmt.Errorf("setup against %s failed: %v\nIs the sample database installed? %s", cfg.Service.Redacted(), err, startHint)
	}
	setup := time.Since(started)
	var base *baseline
	if cfg.BaselineCouch != nil {
		var err error
		if base, err = r.prepareBaseline(ctx); err != nil {
			return nil, err
		}
		defer base.db.close()
	}

	before, metricsErr := svc.metrics(ctx)
	prog := startProgress(stderr, isTerminal(stderr), r, cfg.Duration, cfg.ProgressInterval)
	samples, elapsed := r.runMix(ctx)
	prog.end()
	interrupted := ctx.Err() != nil
	if interrupted {
		stopSignals()
		fmt.Fprintln(stderr, "loadgen: interrupted: auditing what ran (Ctrl-C again to quit)")
	}
	// The audit and the last counters are read even after Ctrl-C.
	after := context.Background()

	res := &result{
		Service:     cfg.Service.Redacted(),
		Seed:        cfg.Seed,
		NumberFruit: cfg.NumberFruit,
		Concurrency: cfg.Concurrency,
		DurationS:   cfg.Duration.Seconds(),
		TimeoutS:    cfg.Timeout.Seconds(),
		Mix:         cfg.Mix.json(),
		StartedAt:   started.UTC().Truncate(time.Millisecond),
		SetupS:      setup.Seconds(),
		ElapsedS:    elapsed.Seconds(),
		Interrupted: interrupted,
	}
	res.Operations, res.Total = operationStats(samples, elapsed)

	if metricsErr == nil {
		var afterM *resolverMetrics
		afterM, metricsErr = svc.metrics(after)
		if metricsErr == nil {
			res.Resolver = resolverSection{Before: before, After: afterM, Delta: delta(before, afterM)}
		}
	}
	if metricsErr != nil {
		res.Resolver.Error = metricsErr.Error()
	}

	recs := r.records()
	if cfg.AuditCouch != nil {
		res.Audit = audit(recs, r.readLeaves(after, recs))
	} else {
		res.Audit = audit(recs, r.readBack(after, recs))
	}

	if base != nil {
		if interrupted {
			res.Baseline = &baselineResult{Couch: cfg.BaselineCouch.Redacted(), Skipped: "the mix was interrupted"}
		} else {
			res.Baseline = r.runBaseline(ctx, base, stderr)
			if res.Baseline.Interrupted {
				stopSignals()
				fmt.Fprintln(stderr, "loadgen: interrupted: the baseline is cut short")
			}
		}
	}
	return res, nil
}

// operationStats sums up the samples per operation, leaving out the
// operations the mix had none of, and over all of them.
func operationStats(samples []sample, elapsed time.Duration) ([]opStats, opStats) {
	byOp := make([][]sample, numOps)
	for _, s := range samples {
		byOp[s.Op] = append(byOp[s.Op], s)
	}
	var ops []opStats
	for o := range numOps {
		if len(byOp[o]) > 0 {
			ops = append(ops, buildStats(o.String(), byOp[o], elapsed))
		}
	}
	total := buildStats("all", samples, elapsed)
	total.StepS, total.Series, total.Hist = 0, nil, nil // the page charts each operation
	return ops, total
}

// writeHTMLFile writes the HTML report to path.
func writeHTMLFile(path string, res *result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeHTML(f, res); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
