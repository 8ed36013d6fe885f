package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"time"
)

// The same-session baseline. With -baseline-couch, after the audit,
// loadgen runs two GET-only phases with the mix's -concurrency workers,
// each for -baseline-duration, taking turns every baselineSlice:
//
//   - "service GET": GET /v1.0/fruits/{fruit_id} through the service;
//   - "raw GET": GET {db}/{docid} of the same fruit's documents straight
//     from CouchDB.
//
// Both aim at the core fruit, and each worker draws them from its -seed
// generator as in the mix, so the two phases read the same sequence of
// fruit. The ratios service/raw say what the service costs over the
// database it stands on, measured by one client in one session. Only a
// 200 counts as a success; failures here are reported, but change
// neither the audit's verdict nor the exit status.

// viewByFruitID is the sample database's view from fruit_id to
// document, relative to the database.
const viewByFruitID = "/_design/fruit_by_fruit_id/_view/fruit_by_fruit_id"

// The baseline phases, as the report names them.
const (
	phaseService = "service GET"
	phaseRaw     = "raw GET"
)

// baselineResult is the report of the baseline phases.
type baselineResult struct {
	Couch     string  `json:"couch"`      // the database, password redacted
	DurationS float64 `json:"duration_s"` // of each phase, as asked
	Fruit     int     `json:"fruit"`      // the core fruit the phases read
	Service   opStats `json:"service"`    // GET /v1.0/fruits/{fruit_id}
	Raw       opStats `json:"raw"`        // GET {db}/{docid}
	// Service over raw: the rates, the p50 and the p99 latencies; 0
	// where the raw phase has none.
	RateRatio   float64 `json:"rate_ratio"`
	P50Ratio    float64 `json:"p50_ratio"`
	P99Ratio    float64 `json:"p99_ratio"`
	Interrupted bool    `json:"interrupted,omitempty"`
	// Skipped says why the phases did not run (Ctrl-C during the mix).
	Skipped string `json:"skipped,omitempty"`
}

// Phases lists the two phases, service first.
func (b *baselineResult) Phases() []opStats { return []opStats{b.Service, b.Raw} }

// Summary puts the ratios in words.
func (b *baselineResult) Summary() string {
	x := func(v float64) string {
		if v <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f×", v)
	}
	return fmt.Sprintf("%s rate is %s the raw server's; p50 %s, p99 %s", phaseService, x(b.RateRatio), x(b.P50Ratio), x(b.P99Ratio))
}

// couchDB returns a client for the database of -baseline-couch, with the
// credentials of COUCHDB_USER and COUCHDB_PASSWORD if its URL has none.
// (net/http sends the URL's credentials as basic auth, and leaves the
// password out of its errors.)
func couchDB(cfg config) *service {
	u := *cfg.BaselineCouch
	if user := os.Getenv("COUCHDB_USER"); user != "" && u.User == nil {
		u.User = url.UserPassword(user, os.Getenv("COUCHDB_PASSWORD"))
	}
	return newService(&u, cfg.Concurrency, cfg.Timeout)
}

// docIDs looks up the document id of each fruit through the view,
// in order. Its errors say what to do.
func docIDs(ctx context.Context, db *service, fruitIDs []string) ([]string, error) {
	a := db.do(ctx, http.MethodPost, viewByFruitID, map[string]any{"keys": fruitIDs})
	var hint string
	switch {
	case a.Err != nil:
		hint = "is CouchDB running there? `make run` starts it on 127.0.0.1:5984"
	case a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden:
		hint = "check the credentials: in the URL, or in COUCHDB_USER and COUCHDB_PASSWORD"
	case a.Status == http.StatusNotFound:
		hint = "pass the database the service uses, with the sample's design documents installed: go run ./tools/dbinstall -host http://127.0.0.1:5984 -database accord_sample"
	case a.Status != http.StatusOK:
		hint = "is it a CouchDB database URL, such as " + exampleCouch + "?"
	}
	if hint != "" {
		return nil, fmt.Errorf("POST %s: %s\n%s", viewByFruitID, a.describe(), hint)
	}
	var v struct {
		Rows []struct {
			ID  string `json:"id"` // "" in a row for a key not found
			Key string `json:"key"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(a.Body, &v); err != nil {
		return nil, fmt.Errorf("POST %s: not a view's answer: %w", viewByFruitID, err)
	}
	byFruit := make(map[string]string, len(v.Rows))
	for _, row := range v.Rows {
		if row.ID != "" {
			byFruit[row.Key] = row.ID
		}
	}
	ids := make([]string, len(fruitIDs))
	missing := 0
	for i, f := range fruitIDs {
		if ids[i] = byFruit[f]; ids[i] == "" {
			missing++
		}
	}
	if missing > 0 {
		return nil, fmt.Errorf("%d of the %d fruit loadgen created are not in its view %s\npass the database the service uses (fruitsvc's -database)", missing, len(fruitIDs), viewByFruitID)
	}
	return ids, nil
}

// baseline is a prepared baseline: the raw server's client and the
// documents of the core fruit, in the order of runner.core.
type baseline struct {
	db   *service
	docs []string
}

// prepareBaseline finds the core fruit's documents in the database of
// -baseline-couch. It runs before the mix, so that a baseline that
// cannot run stops loadgen before any load.
func (r *runner) prepareBaseline(ctx context.Context) (*baseline, error) {
	db := couchDB(r.cfg)
	docs, err := docIDs(ctx, db, r.coreIDs())
	if err != nil {
		db.close()
		return nil, fmt.Errorf("-baseline-couch %s: %w", r.cfg.BaselineCouch.Redacted(), err)
	}
	return &baseline{db: db, docs: docs}, nil
}

func (r *runner) coreIDs() []string {
	ids := make([]string, len(r.core))
	for i, f := range r.core {
		ids[i] = f.rec.ID // immutable
	}
	return ids
}

// baselineSlice is how long one phase runs before the other takes its
// turn. The phases alternate, service then raw, in slices of this length
// until each has run -baseline-duration: on a shared machine the load
// of other processes drifts, and one long phase after the other would
// measure the drift as much as the service. (At each switch the
// requests under way finish before the other phase starts; the slice is
// long against a request so that this costs both phases little.)
var baselineSlice = 2 * time.Second

// runBaseline runs the service and the raw phases, interleaved in
// slices, until stop is done, and sums them up.
func (r *runner) runBaseline(stop context.Context, b *baseline, stderr io.Writer) *baselineResult {
	d := r.cfg.BaselineDuration
	res := &baselineResult{Couch: r.cfg.BaselineCouch.Redacted(), DurationS: d.Seconds(), Fruit: len(b.docs)}
	servicePaths, rawPaths := make([]string, len(b.docs)), make([]string, len(b.docs))
	for i, id := range r.coreIDs() {
		servicePaths[i], rawPaths[i] = fruitPath(id), "/"+url.PathEscape(b.docs[i])
	}
	phases := []struct {
		name    string
		c       *service
		paths   []string
		out     *opStats
		samples []sample
		elapsed time.Duration
		left    time.Duration
	}{
		{name: phaseService, c: r.svc, paths: servicePaths, out: &res.Service, left: d},
		{name: phaseRaw, c: b.db, paths: rawPaths, out: &res.Raw, left: d},
	}
	fmt.Fprintf(stderr, "loadgen: baseline: %s and %s, %s each, taking turns every %s\n", phaseService, phaseRaw, d, min(baselineSlice, d))
	prog := startProgress(stderr, isTerminal(stderr), r, 2*d, r.cfg.ProgressInterval)
	for stop.Err() == nil && (phases[0].left > 0 || phases[1].left > 0) {
		for i := range phases {
			p := &phases[i]
			if p.left <= 0 || stop.Err() != nil {
				continue
			}
			slice := min(baselineSlice, p.left)
			p.left -= slice
			samples, elapsed := r.runPhase(stop, slice, func(ctx context.Context, rng *rand.Rand) sample {
				s, a := r.timed(ctx, p.c, opGet, http.MethodGet, p.paths[rng.IntN(len(p.paths))], nil)
				s.Outcome = outcomeFailed
				if a.Err == nil && a.Status == http.StatusOK {
					s.Outcome = outcomeOK
				}
				return s
			})
			p.samples = append(p.samples, samples...)
			p.elapsed += elapsed
		}
	}
	prog.end()
	for _, p := range phases {
		*p.out = buildStats(p.name, p.samples, p.elapsed)
		p.out.StepS, p.out.Series, p.out.Hist = 0, nil, nil // a table is enough
	}
	res.Interrupted = stop.Err() != nil
	res.setRatios()
	return res
}

// setRatios computes the ratios service/raw of the phases' figures.
func (b *baselineResult) setRatios() {
	ratio := func(s, r float64) float64 {
		if r <= 0 {
			return 0
		}
		return s / r
	}
	b.RateRatio = ratio(b.Service.Rate, b.Raw.Rate)
	b.P50Ratio = ratio(b.Service.Latency.P50Ms, b.Raw.Latency.P50Ms)
	b.P99Ratio = ratio(b.Service.Latency.P99Ms, b.Raw.Latency.P99Ms)
}
