package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// loadgenReport is what the report reads of loadgen's -json output.
type loadgenReport struct {
	Service  string `json:"service"`
	Resolver struct {
		Delta *struct {
			DecisionCount int64 `json:"decision_count"`
			// The mix's decision times (loadgen computes them from the
			// service's histogram: p50 and p99 are bucket bounds).
			DecisionMeanMs *float64 `json:"decision_mean_ms"`
			DecisionP50Ms  *float64 `json:"decision_p50_ms"`
			DecisionP99Ms  *float64 `json:"decision_p99_ms"`
		} `json:"delta"`
		After *struct {
			DecisionLatency struct {
				Count  int64   `json:"count"`
				MeanMs float64 `json:"meanMs"`
			} `json:"decisionLatency"`
		} `json:"after"`
		Error string `json:"error"`
	} `json:"resolver"`
	Baseline *struct {
		Service struct {
			Rate float64 `json:"rate_per_s"`
		} `json:"service"`
		Raw struct {
			Rate float64 `json:"rate_per_s"`
		} `json:"raw"`
		RateRatio float64 `json:"rate_ratio"`
		Skipped   string  `json:"skipped"`
	} `json:"baseline"`
}

// maxLoadgenBytes bounds the loadgen report read.
const maxLoadgenBytes = 16 << 20

// parseLoadgen reads loadgen's -json output.
func parseLoadgen(r io.Reader) (*loadgenReport, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxLoadgenBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read loadgen report: %w", err)
	}
	if len(data) > maxLoadgenBytes {
		return nil, fmt.Errorf("loadgen report larger than %d bytes", maxLoadgenBytes)
	}
	var lg loadgenReport
	if err := json.Unmarshal(data, &lg); err != nil {
		return nil, fmt.Errorf("loadgen report: %w", err)
	}
	return &lg, nil
}

// row is one figure of issue 14's table, with the baseline it is
// compared with in the same run.
type row struct {
	What     string
	Value    string // the figure, or "missing"
	Baseline string // what it is compared with, or "missing"
	Ratio    string // value/baseline, or "missing"
	Goal     string
	Verdict  string // "met", "not met", "missing" or "" (no goal to check)
}

const missing = "missing"

// Benchmark names. The engine's sub-benchmarks may be renamed: each
// figure lists the names it accepts, first found wins.
var (
	benchGet        = []string{"BenchmarkDecision/impl=couchdb-get"}
	benchWasm       = []string{"BenchmarkDecision/impl=wasm", "BenchmarkDecision/impl=wasm-trusted"}
	benchDeadline   = []string{"BenchmarkDecision/impl=wasm-deadline", "BenchmarkDecision/impl=wasm-untrusted", "BenchmarkDecision/impl=wasm-file"}
	benchLoadWarm   = []string{"BenchmarkLoad/cache=warm"}
	benchLoadShared = []string{"BenchmarkLoad/cache=in-process"}
	benchLoadCold   = []string{"BenchmarkLoad/cache=off", "BenchmarkLoad/cache=cold"}
	benchBuiltins   = []string{"BenchmarkLoadBuiltins/mode=sequential", "BenchmarkLoadBuiltins"}
	benchMemory     = []string{"BenchmarkMemory"}
	benchSvcGet     = []string{"BenchmarkServiceVsCouch/op=get/via=ratio"}
	benchSvcPut     = []string{"BenchmarkServiceVsCouch/op=put/via=ratio"}
	unitMiBAfter    = "MiB-after-100k"
	unitMiBInstance = "MiB/instance"
)

// figure formats a value in ns as a duration.
func dur(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.1f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func times(r float64) string { return fmt.Sprintf("%.3f×", r) }

func percent(r float64) string { return fmt.Sprintf("%.2f %%", 100*r) }

// verdict says whether ok holds.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// compare is the row of a duration value against a duration baseline,
// their ratio shown by show and judged by met; a figure not found is
// "missing".
func compare(what, goal string, value float64, okValue bool, label string, base float64, okBase bool, show func(float64) string, met func(float64) bool) row {
	r := row{What: what, Goal: goal, Value: missing, Baseline: missing, Ratio: missing, Verdict: missing}
	if okValue {
		r.Value = dur(value)
	}
	if okBase {
		r.Baseline = label + dur(base)
	}
	if okValue && okBase {
		r.Ratio, r.Verdict = show(value/base), verdict(met(value/base))
	}
	return r
}

// rows computes the table from the benchmark results and the loadgen
// report (nil if there is none). A figure that is not there is
// "missing", never estimated.
func rows(rs results, lg *loadgenReport) []row {
	var out []row
	get, _, okGet := rs.first("ns/op", benchGet...)
	wasm, _, okWasm := rs.first("ns/op", benchWasm...)
	deadline, _, okDeadline := rs.first("ns/op", benchDeadline...)

	out = append(out,
		compare("built-in decision through the pool, no deadline enforcement (share of a GET)", "keep (< 1 % of a GET)",
			wasm, okWasm, "GET ", get, okGet, percent, func(r float64) bool { return r < 0.01 }),
		compare("decision with deadline enforcement, vs the unenforced call", "≤ 1.5×",
			deadline, okDeadline, "unenforced ", wasm, okWasm, times, func(r float64) bool { return r <= 1.5 }),
		compare("decision with deadline enforcement (share of a GET)", "< 1 % of a GET",
			deadline, okDeadline, "GET ", get, okGet, percent, func(r float64) bool { return r < 0.01 }))

	out = append(out, enforcementRows(rs, get, okGet)...)

	out = append(out, serviceDecisionRow(lg, wasm, okWasm))

	for _, sv := range []struct {
		names []string
		what  string
		goal  bool
	}{
		{benchSvcGet, "service GET vs the same read with the bare client (BenchmarkServiceVsCouch)", true},
		{benchSvcPut, "service PUT vs the same write with the bare client (BenchmarkServiceVsCouch)", false},
	} {
		r := row{What: sv.what, Value: missing, Baseline: missing, Ratio: missing}
		if sv.goal {
			r.Goal, r.Verdict = "≤ 1.05×", missing
		}
		if v, name, ok := rs.first("service-ns/op", sv.names...); ok {
			r.Value = "service " + dur(v)
			if c, ok := rs.median(name, "couch-ns/op"); ok {
				r.Baseline = "couch " + dur(c)
			}
			if view, ok := rs.median(name, "view-ns/op"); ok {
				r.Baseline += ", the seed's view lookup " + dur(view)
			}
		}
		if ratio, _, ok := rs.first("service/couch", sv.names...); ok {
			r.Ratio = times(ratio)
			if sv.goal {
				r.Verdict = verdict(ratio <= 1.05)
			}
		}
		out = append(out, r)
	}

	r := row{What: "service GET rate vs raw CouchDB GETs under the same load (loadgen -baseline-couch)", Goal: "≥ 0.9×",
		Value: missing, Baseline: missing, Ratio: missing, Verdict: missing}
	if lg != nil && lg.Baseline != nil && lg.Baseline.Skipped == "" && lg.Baseline.Raw.Rate > 0 {
		b := lg.Baseline
		r.Value = fmt.Sprintf("%.0f GET/s", b.Service.Rate)
		r.Baseline = fmt.Sprintf("raw %.0f GET/s", b.Raw.Rate)
		r.Ratio, r.Verdict = times(b.RateRatio), verdict(b.RateRatio >= 0.9)
	}
	out = append(out, r)

	cold, _, okCold := rs.first("ns/op", benchLoadCold...)
	for _, ld := range []struct {
		names []string
		what  string
		goal  float64
	}{
		{benchLoadWarm, "warm load of one Go plugin (vs a cold load)", 20e6},
		// A faster path than a start's, which only a second load in
		// one process takes: reported beside the goal, not against it.
		{benchLoadShared, "load of one Go plugin already loaded in the process, engine.Config.ShareCompiled (vs a cold load)", 0},
		{benchBuiltins, "warm load of every built-in (vs a cold load of one)", 50e6},
	} {
		r = row{What: ld.what, Goal: "< " + dur(ld.goal), Value: missing, Baseline: missing, Ratio: missing, Verdict: missing}
		if ld.goal == 0 {
			r.Goal, r.Verdict = "", ""
		}
		v, _, ok := rs.first("ns/op", ld.names...)
		if ok {
			r.Value = dur(v)
			if ld.goal != 0 {
				r.Verdict = verdict(v < ld.goal)
			}
		}
		if okCold {
			r.Baseline = "cold " + dur(cold)
		}
		if ok && okCold {
			r.Ratio = times(v / cold)
		}
		out = append(out, r)
	}

	r = row{What: "memory per Go-guest instance after 100k calls (vs after start)", Goal: "≤ 4 MiB",
		Value: missing, Baseline: missing, Ratio: missing, Verdict: missing}
	after, _, okAfter := rs.first(unitMiBAfter, benchMemory...)
	started, _, okStarted := rs.first(unitMiBInstance, benchMemory...)
	if okAfter {
		r.Value, r.Verdict = fmt.Sprintf("%.2f MiB", after), verdict(after <= 4)
	}
	if okStarted {
		r.Baseline = fmt.Sprintf("started %.2f MiB", started)
	}
	if okAfter && okStarted && started > 0 {
		r.Ratio = times(after / started)
	}
	out = append(out, r)
	return out
}

// enforcementRows are, for every plugin of the engine's
// BenchmarkEnforcement (BenchmarkEnforcement/plugin=NAME/trust=…), its
// decision with deadline enforcement against the same decision without
// it, and as a share of a GET: the goal is both for every
// plugin. None if the benchmark did not run.
func enforcementRows(rs results, get float64, okGet bool) []row {
	const prefix, untrusted, trusted = "BenchmarkEnforcement/plugin=", "/trust=untrusted", "/trust=trusted"
	var plugins []string
	for name := range rs {
		if p, ok := strings.CutPrefix(name, prefix); ok {
			if p, ok := strings.CutSuffix(p, untrusted); ok {
				plugins = append(plugins, p)
			}
		}
	}
	slices.Sort(plugins)
	var out []row
	for _, p := range plugins {
		r := row{What: fmt.Sprintf("plugin %s with deadline enforcement, vs unenforced; share of a GET", p),
			Goal: "≤ 1.5× and < 1 % of a GET", Value: missing, Baseline: missing, Ratio: missing, Verdict: missing}
		v, okV := rs.median(prefix+p+untrusted, "ns/op")
		t, okT := rs.median(prefix+p+trusted, "ns/op")
		if okV {
			r.Value = dur(v)
		}
		if okT {
			r.Baseline = "unenforced " + dur(t)
		}
		if okV && okT {
			r.Ratio = times(v / t)
			if okGet {
				r.Ratio += "; " + percent(v/get) + " of a GET"
				r.Verdict = verdict(v/t <= 1.5 && v/get < 0.01)
			}
		}
		out = append(out, r)
	}
	return out
}

// serviceDecisionRow is the decision time inside the service under
// loadgen, against the benchmark's median of the same decision (the
// built-in backoff without deadline enforcement, as the seed's recipe
// runs it).
func serviceDecisionRow(lg *loadgenReport, bench float64, okBench bool) row {
	r := row{What: "decision time inside the service under loadgen, p99 over the mix, vs the benchmark's median", Goal: "p99 ≤ 3× the benchmark",
		Value: missing, Baseline: missing, Ratio: missing, Verdict: missing}
	if okBench {
		r.Baseline = "benchmark " + dur(bench)
	}
	if lg == nil || lg.Resolver.Delta == nil || lg.Resolver.Delta.DecisionCount == 0 {
		return r
	}
	d := lg.Resolver.Delta
	if d.DecisionP99Ms != nil {
		r.Value = fmt.Sprintf("p99 ≤ %s", dur(*d.DecisionP99Ms*1e6))
		var more []string
		if d.DecisionP50Ms != nil {
			more = append(more, "p50 ≤ "+dur(*d.DecisionP50Ms*1e6))
		}
		if d.DecisionMeanMs != nil {
			more = append(more, "mean "+dur(*d.DecisionMeanMs*1e6))
		}
		more = append(more, fmt.Sprintf("%d decisions", d.DecisionCount))
		r.Value += " (" + strings.Join(more, ", ") + ")"
		if okBench {
			ratio := *d.DecisionP99Ms * 1e6 / bench
			r.Ratio, r.Verdict = times(ratio), verdict(ratio <= 3)
		}
	} else if d.DecisionMeanMs != nil {
		r.Value = fmt.Sprintf("mean %s (p99 missing)", dur(*d.DecisionMeanMs*1e6))
	}
	return r
}

// writeTable writes the rows as a Markdown table.
func writeTable(w io.Writer, rs []row) {
	fmt.Fprintln(w, "| what | figure | baseline, same run | ratio | goal | |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", cell(r.What), cell(r.Value), cell(r.Baseline), cell(r.Ratio), cell(r.Goal), cell(r.Verdict))
	}
}
