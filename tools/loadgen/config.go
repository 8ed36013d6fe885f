package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/accord-db/accord/couch"
)

// op is one kind of request loadgen sends.
type op uint8

// The operations, in the order the mix and the report list them.
const (
	opGet    op = iota // GET /v1.0/fruits/{id}
	opPut              // PUT /v1.0/fruits/{id} with a new color
	opTaste            // POST /v1.0/fruits/{id}/tastings
	opPost             // POST /v1.0/fruits: a new spare fruit
	opDelete           // DELETE /v1.0/fruits/{id} of a spare fruit
	numOps
)

var opNames = [numOps]string{"get", "put", "taste", "post", "delete"}

func (o op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// mix holds the percentage of each operation; a valid mix totals 100.
type mix [numOps]int

// defaultMix is read-mostly with enough tastings and updates to meet a
// few conflicts, and a trickle of creates and deletes: get 40, put 20,
// taste 30, post 5, delete 5.
var defaultMix = mix{opGet: 40, opPut: 20, opTaste: 30, opPost: 5, opDelete: 5}

// pick draws an operation with the mix's odds.
func (m mix) pick(rng *rand.Rand) op {
	n := rng.IntN(100)
	for o := range numOps {
		if n < m[o] {
			return o
		}
		n -= m[o]
	}
	return opGet // unreachable for a mix that totals 100
}

func (m mix) total() int {
	t := 0
	for _, p := range m {
		t += p
	}
	return t
}

// String lists the mix as the flags that give it.
func (m mix) String() string {
	parts := make([]string, numOps)
	for o := range numOps {
		parts[o] = fmt.Sprintf("-percent-%s %d", o, m[o])
	}
	return strings.Join(parts, ", ")
}

// config is a validated command line.
type config struct {
	Service          *url.URL
	NumberFruit      int
	Concurrency      int
	Duration         time.Duration
	Mix              mix
	Seed             uint64 // 0: a random seed, chosen at start and reported
	Timeout          time.Duration
	ProgressInterval time.Duration // 0: no periodic progress lines
	JSONFile         string
	HTMLFile         string
	// BaselineCouch is the CouchDB database the service uses, for the
	// baseline phases after the audit; nil: no baseline. It may carry
	// credentials: print it with Redacted.
	BaselineCouch *url.URL
	// AuditCouch is the CouchDB database the service uses, for the
	// audit to read every leaf of every fruit from; nil: the audit reads
	// through the service. It may carry credentials: print it with
	// Redacted.
	AuditCouch *url.URL
	// BaselineDuration is how long each baseline phase runs; 0 (the
	// default) is Duration.
	BaselineDuration time.Duration
}

const defaultService = "http://127.0.0.1:8445"

// usageError is a command line that cannot run; run exits 2 with it.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// parseFlags reads the command line. It returns flag.ErrHelp for -h, a
// *usageError for anything wrong, having printed the usage to stderr.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg      config
		service  string
		couchURL string
		auditURL string
	)
	fs.StringVar(&service, "service", defaultService, "base URL of the fruit service")
	fs.IntVar(&cfg.NumberFruit, "number-fruit", 50, "fruit created before the run; every one of them is audited at the end")
	fs.IntVar(&cfg.Concurrency, "concurrency", 10, "workers sending requests, each one at a time")
	fs.DurationVar(&cfg.Duration, "duration", time.Minute, "how long to send the mix (the fruit are created before, the audit comes after)")
	help := map[op]string{
		opGet:    "percentage of GET /v1.0/fruits/{id}",
		opPut:    "percentage of PUT /v1.0/fruits/{id} (a new color)",
		opTaste:  "percentage of POST /v1.0/fruits/{id}/tastings (the audited counter)",
		opPost:   "percentage of POST /v1.0/fruits (a new spare fruit)",
		opDelete: "percentage of DELETE /v1.0/fruits/{id} (of a spare fruit, never an audited one)",
	}
	for o := range numOps {
		fs.IntVar(&cfg.Mix[o], "percent-"+o.String(), defaultMix[o], help[o])
	}
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the operations and fruit each worker picks (0: a random seed, printed in the report)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "time limit of one request; a tasting that runs out of it is indeterminate")
	fs.DurationVar(&cfg.ProgressInterval, "progress-interval", 5*time.Second, "interval of the progress lines when stderr is not a terminal (0: none)")
	fs.StringVar(&cfg.JSONFile, "json", "", "write the whole result as JSON to this file")
	fs.StringVar(&cfg.HTMLFile, "html", "", "write a one-page HTML report with latency charts to this file")
	fs.StringVar(&auditURL, "audit-couch", "", "read every fruit for the audit straight from the CouchDB database at `URL`, the one the service uses, with every leaf revision (open_revs=all): a tasting parked in a losing leaf is lost, and the verdict counts the losing leaves")
	fs.StringVar(&couchURL, "baseline-couch", "", "after the audit, compare GETs through the service with GETs straight from the CouchDB database at `URL`, the one the service uses (e.g. "+exampleCouch+"; credentials in the URL or in COUCHDB_USER and COUCHDB_PASSWORD)")
	fs.DurationVar(&cfg.BaselineDuration, "baseline-duration", 0, "how long each baseline phase runs (default: -duration)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: loadgen [-service URL] [flags]

Creates -number-fruit fruit in a running fruit service, sends the mix of
requests from -concurrency workers for -duration, then prints a latency
table per operation, the resolver's counters and a lost-update audit of
every fruit's tastings. With -baseline-couch it then compares GETs
through the service with GETs straight from CouchDB (a baseline whose
failures do not change the exit status). Exit status: 0 clean audit,
1 audit failed, 2 bad command line, 3 service unreachable or setup
failed (the baseline's included).

A mix that makes lots of conflicts (the seed's recipe):

	loadgen -concurrency 25 -number-fruit 10 -duration 15s \
		-percent-get 20 -percent-taste 40 -percent-put 40 -percent-post 0 -percent-delete 0

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, &usageError{err.Error()} // the flag package printed the usage
	}
	if fs.NArg() > 0 {
		return cfg, usagef("unexpected argument %q: every setting is a flag, see -h", fs.Arg(0))
	}
	u, err := couch.ParseURL(service)
	if err != nil {
		// Nothing of the input: it may hold a password.
		return cfg, usagef("-service: %v; want a base URL such as %s", err, defaultService)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, usagef("-service %s is not a base URL such as %s", u.Redacted(), defaultService)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	cfg.Service = u
	if couchURL != "" {
		if cfg.BaselineCouch, err = parseCouchURL(couchURL); err != nil {
			return cfg, err
		}
	}
	if auditURL != "" {
		if cfg.AuditCouch, err = parseCouchURL(auditURL); err != nil {
			return cfg, usagef("%s", strings.Replace(err.Error(), "-baseline-couch", "-audit-couch", 1))
		}
	}
	if err := cfg.validate(); err != nil {
		return cfg, err
	}
	if cfg.BaselineCouch != nil && cfg.BaselineDuration == 0 {
		cfg.BaselineDuration = cfg.Duration
	}
	return cfg, nil
}

const exampleCouch = "http://127.0.0.1:5984/accord_sample"

// parseCouchURL checks a -baseline-couch URL: http or https, a host, and
// a database name at the end of the path. Its messages never show the
// password.
func parseCouchURL(raw string) (*url.URL, error) {
	u, err := couch.ParseURL(raw)
	if err != nil {
		// Nothing of raw: url.Parse's message quotes it, password and all.
		return nil, usagef("-baseline-couch is not a URL (%v); want a database URL such as %s", err, exampleCouch)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	switch {
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return nil, usagef("-baseline-couch %s: want an http or https database URL such as %s", u.Redacted(), exampleCouch)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, usagef("-baseline-couch %s: a database URL has no query or fragment", u.Redacted())
	case strings.TrimLeft(u.Path, "/") == "":
		return nil, usagef("-baseline-couch %s: no database name at the end of the path, as in %s", u.Redacted(), exampleCouch)
	case u.RawPath != "":
		// An escaped slash (a/b as a%2Fb): loadgen joins paths unescaped.
		return nil, usagef("-baseline-couch %s: loadgen does not support escaped characters such as %%2F in the path", u.Redacted())
	}
	return u, nil
}

// validate checks the numbers of a parsed command line.
func (c config) validate() error {
	switch {
	case c.NumberFruit < 1:
		return usagef("-number-fruit %d: need at least 1 fruit to audit", c.NumberFruit)
	case c.Concurrency < 1:
		return usagef("-concurrency %d: need at least 1 worker", c.Concurrency)
	case c.Duration <= 0:
		return usagef("-duration %v: must be positive", c.Duration)
	case c.Timeout <= 0:
		return usagef("-timeout %v: must be positive", c.Timeout)
	case c.ProgressInterval < 0:
		return usagef("-progress-interval %v: must be 0 (none) or positive", c.ProgressInterval)
	case c.BaselineDuration < 0:
		return usagef("-baseline-duration %v: must be positive", c.BaselineDuration)
	case c.BaselineDuration > 0 && c.BaselineCouch == nil:
		return usagef("-baseline-duration %v: there is no baseline without -baseline-couch", c.BaselineDuration)
	}
	for o := range numOps {
		if p := c.Mix[o]; p < 0 || p > 100 {
			return usagef("-percent-%s %d: a percentage is between 0 and 100", o, p)
		}
	}
	if t := c.Mix.total(); t != 100 {
		return usagef("the percentages must total 100, but %s total %d", c.Mix, t)
	}
	return nil
}
