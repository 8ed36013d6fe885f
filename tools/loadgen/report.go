package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// result is everything a run found: what -json writes, and what the
// text and HTML reports show.
type result struct {
	Service     string    `json:"service"`
	Seed        uint64    `json:"seed"`
	NumberFruit int       `json:"number_fruit"`
	Concurrency int       `json:"concurrency"`
	DurationS   float64   `json:"duration_s"` // as asked
	TimeoutS    float64   `json:"timeout_s"`
	Mix         mixJSON   `json:"mix"`
	StartedAt   time.Time `json:"started_at"`
	SetupS      float64   `json:"setup_s"`   // creating the core fruit
	ElapsedS    float64   `json:"elapsed_s"` // the mix, as run
	Interrupted bool      `json:"interrupted,omitempty"`
	// Operations has one entry per operation of the mix that ran, in
	// the order get, put, taste, post, delete.
	Operations []opStats       `json:"operations"`
	Total      opStats         `json:"total"`
	Resolver   resolverSection `json:"resolver"`
	Audit      auditResult     `json:"audit"`
	// Baseline is there with -baseline-couch.
	Baseline *baselineResult `json:"baseline,omitempty"`
}

// mixJSON is the mix by operation name.
type mixJSON struct {
	Get    int `json:"get"`
	Put    int `json:"put"`
	Taste  int `json:"taste"`
	Post   int `json:"post"`
	Delete int `json:"delete"`
}

func (m mix) json() mixJSON {
	return mixJSON{Get: m[opGet], Put: m[opPut], Taste: m[opTaste], Post: m[opPost], Delete: m[opDelete]}
}

// resolverSection is the service's resolver counters before and after
// the mix, and what the mix added.
type resolverSection struct {
	Before *resolverMetrics `json:"before,omitempty"`
	After  *resolverMetrics `json:"after,omitempty"`
	Delta  *resolverDelta   `json:"delta,omitempty"`
	Error  string           `json:"error,omitempty"` // why there are none
}

// resolverDelta is what the mix added to the counters.
type resolverDelta struct {
	Conflicts int64            `json:"conflicts"`
	Decisions map[string]int64 `json:"decisions"`
	Failures  int64            `json:"failures"`
	// DecisionCount is the number of decisions the latency figures count.
	DecisionCount int64 `json:"decision_count"`
	// The decision times of the mix alone (the service's counters are
	// cumulative since it started): the mean, and p50 and p99 as the
	// upper bound of the histogram bucket they fall in. Absent without
	// decisions, or when the service does not send its histogram; a
	// quantile past the last bucket is absent too.
	DecisionMeanMs *float64 `json:"decision_mean_ms,omitempty"`
	DecisionP50Ms  *float64 `json:"decision_p50_ms,omitempty"`
	DecisionP99Ms  *float64 `json:"decision_p99_ms,omitempty"`
}

// delta computes after − before.
func delta(before, after *resolverMetrics) *resolverDelta {
	d := &resolverDelta{
		Conflicts:     after.Conflicts - before.Conflicts,
		Failures:      after.Failures - before.Failures,
		DecisionCount: after.DecisionLatency.Count - before.DecisionLatency.Count,
		Decisions:     map[string]int64{},
	}
	for k, v := range after.Decisions {
		d.Decisions[k] = v - before.Decisions[k]
	}
	if n := d.DecisionCount; n > 0 {
		bl, al := before.DecisionLatency, after.DecisionLatency
		mean := (al.MeanMs*float64(al.Count) - bl.MeanMs*float64(bl.Count)) / float64(n)
		d.DecisionMeanMs = &mean
		d.DecisionP50Ms = quantileMs(bl.Buckets, al.Buckets, n, 0.50)
		d.DecisionP99Ms = quantileMs(bl.Buckets, al.Buckets, n, 0.99)
	}
	for k, v := range before.Decisions {
		if _, ok := after.Decisions[k]; !ok {
			d.Decisions[k] = -v
		}
	}
	return d
}

// quantileMs is the upper bound of the bucket holding quantile q of the
// n decisions between two cumulative histograms, or nil if the
// histograms are missing, differ in their bounds, or q lies past the
// last bound.
func quantileMs(before, after []latencyBucket, n int64, q float64) *float64 {
	if len(after) == 0 || len(before) != 0 && len(before) != len(after) {
		return nil
	}
	rank := int64(math.Ceil(q * float64(n)))
	for i, b := range after {
		c := b.Count
		if len(before) > 0 {
			if before[i].LeMs != b.LeMs {
				return nil
			}
			c -= before[i].Count
		}
		if c >= rank {
			le := b.LeMs
			return &le
		}
	}
	return nil
}

// decisionOrder lists the actions of the ABI first, then any other.
func decisionOrder(m map[string]int64) []string {
	known := []string{"retry", "merge", "accept", "fail"}
	var rest []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(known, k) {
			rest = append(rest, k)
		}
	}
	return append(known, rest...)
}

// fmtMs prints milliseconds with a precision that suits their size.
func fmtMs(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.2fms", v)
	}
}

// failureList prints failures by kind, the most frequent first.
func failureList(f map[string]int) string {
	if len(f) == 0 {
		return "-"
	}
	keys := slices.Collect(maps.Keys(f))
	slices.SortFunc(keys, func(a, b string) int {
		if f[a] != f[b] {
			return f[b] - f[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, f[k])
	}
	return strings.Join(parts, " ")
}

// writeText prints the report for people.
func writeText(w io.Writer, res *result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "loadgen: %s, %d workers, %d fruit, %s (seed %d)\n",
		res.Service, res.Concurrency, res.NumberFruit, time.Duration(res.DurationS*float64(time.Second)), res.Seed)
	fmt.Fprintf(&b, "mix: get %d%%, put %d%%, taste %d%%, post %d%%, delete %d%%\n",
		res.Mix.Get, res.Mix.Put, res.Mix.Taste, res.Mix.Post, res.Mix.Delete)
	ran := fmt.Sprintf("the mix ran %.2fs", res.ElapsedS)
	if res.Interrupted {
		ran += " (interrupted)"
	}
	fmt.Fprintf(&b, "%s, after %.2fs creating the fruit\n\n", ran, res.SetupS)

	rows := [][]string{{"operation", "requests", "ok", "gone", "failed", "p50", "p95", "p99", "max", "rate/s"}}
	row := func(s opStats) {
		rows = append(rows, []string{s.Op, fmt.Sprint(s.Count), fmt.Sprint(s.OK), fmt.Sprint(s.Gone), fmt.Sprint(s.Failed),
			fmtMs(s.Latency.P50Ms), fmtMs(s.Latency.P95Ms), fmtMs(s.Latency.P99Ms), fmtMs(s.Latency.MaxMs), fmt.Sprintf("%.1f", s.Rate)})
	}
	for _, s := range res.Operations {
		row(s)
	}
	row(res.Total)
	writeTable(&b, rows)
	failed := false
	for _, s := range res.Operations {
		if s.Failed > 0 {
			if !failed {
				b.WriteString("failures by status:\n")
				failed = true
			}
			fmt.Fprintf(&b, "  %-7s %s\n", s.Op, failureList(s.Failures))
		}
	}

	b.WriteString("\n")
	writeResolverText(&b, res.Resolver)
	b.WriteString("\n")
	writeAuditText(&b, res.Audit)
	if res.Baseline != nil {
		b.WriteString("\n")
		writeBaselineText(&b, res.Baseline, res.Concurrency)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeResolverText(b *strings.Builder, rs resolverSection) {
	if rs.Delta == nil {
		fmt.Fprintf(b, "resolver: no counters: %s\n", rs.Error)
		return
	}
	name := rs.After.Plugin
	if rs.After.Version != "" {
		name += " " + rs.After.Version
	}
	fmt.Fprintf(b, "resolver %s (from %s, before → after the mix):\n", name, pathMetrics)
	var rows [][]string
	line := func(label string, before, after, d int64) {
		rows = append(rows, []string{"  " + label, fmt.Sprint(before), "→", fmt.Sprint(after), fmt.Sprintf("(%+d)", d)})
	}
	line("conflicts", rs.Before.Conflicts, rs.After.Conflicts, rs.Delta.Conflicts)
	for _, k := range decisionOrder(rs.Delta.Decisions) {
		line("decisions "+k, rs.Before.Decisions[k], rs.After.Decisions[k], rs.Delta.Decisions[k])
	}
	line("failures", rs.Before.Failures, rs.After.Failures, rs.Delta.Failures)
	writeTable(b, rows)
	if d := rs.Delta; d.DecisionMeanMs != nil {
		fmt.Fprintf(b, "  mean decision time %.3fms over the mix's %d decisions", *d.DecisionMeanMs, d.DecisionCount)
		for _, q := range []struct {
			name string
			v    *float64
		}{{"p50", d.DecisionP50Ms}, {"p99", d.DecisionP99Ms}} {
			if q.v != nil {
				fmt.Fprintf(b, ", %s ≤ %gms", q.name, *q.v)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "  mean decision time %.3fms over %d decisions since the service started\n", rs.After.DecisionLatency.MeanMs, rs.After.DecisionLatency.Count)
}

func writeAuditText(b *strings.Builder, a auditResult) {
	fmt.Fprintf(b, "lost-update audit: %s: %d fruit audited: %d clean, %d with lost updates", a.Verdict, a.Audited, a.Clean, a.Lost)
	if a.LostUpdates > 0 {
		fmt.Fprintf(b, " (%d tastings lost)", a.LostUpdates)
	}
	fmt.Fprintf(b, ", %d with phantom tastings, %d missing", a.Phantom, a.Missing)
	if a.Undeleted > 0 {
		fmt.Fprintf(b, ", %d still there after an acknowledged delete", a.Undeleted)
	}
	if a.Unread > 0 {
		fmt.Fprintf(b, ", %d not read back", a.Unread)
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "  tastings: %d acknowledged, %d indeterminate, %d stored\n", a.Acknowledged, a.Indeterminate, a.Stored)
	if a.WithLeaves > 0 {
		fmt.Fprintf(b, "  losing leaves: %d fruit have live losing leaves, holding %d tastings beyond their winners' (parked: not stored)\n", a.WithLeaves, a.Parked)
	}
	if a.Deleted+a.Unverifiable > 0 {
		fmt.Fprintf(b, "  not audited: %d deleted by loadgen, %d gone after a DELETE without a definite answer\n", a.Deleted, a.Unverifiable)
	}
	const maxLines = 20
	for i, p := range a.Problems {
		if i == maxLines {
			fmt.Fprintf(b, "  … and %d more (see -json)\n", len(a.Problems)-maxLines)
			break
		}
		fmt.Fprintf(b, "  %-8s fruit %s: acknowledged %d, indeterminate %d, refused %d: %s\n",
			strings.ToUpper(p.Verdict), p.ID, p.Acknowledged, p.Indeterminate, p.Refused, p.Detail)
	}
}

func writeBaselineText(b *strings.Builder, bl *baselineResult, workers int) {
	if bl.Skipped != "" {
		fmt.Fprintf(b, "baseline against %s: skipped: %s\n", bl.Couch, bl.Skipped)
		return
	}
	fmt.Fprintf(b, "baseline: GET only, %d workers, %d fruit, %s a phase, raw server %s", workers, bl.Fruit,
		time.Duration(bl.DurationS*float64(time.Second)), bl.Couch)
	if bl.Interrupted {
		b.WriteString(" (interrupted)")
	}
	b.WriteString("\n")
	rows := [][]string{{"phase", "requests", "ok", "failed", "p50", "p99", "rate/s"}}
	failed := false
	for _, s := range bl.Phases() {
		rows = append(rows, []string{s.Op, fmt.Sprint(s.Count), fmt.Sprint(s.OK), fmt.Sprint(s.Failed),
			fmtMs(s.Latency.P50Ms), fmtMs(s.Latency.P99Ms), fmt.Sprintf("%.1f", s.Rate)})
		failed = failed || s.Failed > 0
	}
	writeTable(b, rows)
	fmt.Fprintf(b, "  %s\n", bl.Summary())
	if failed {
		b.WriteString("failures by status (reported only: they change neither the audit's verdict nor the exit status):\n")
		for _, s := range bl.Phases() {
			if s.Failed > 0 {
				fmt.Fprintf(b, "  %-11s %s\n", s.Op, failureList(s.Failures))
			}
		}
	}
}

// writeTable lays out rows in columns two spaces apart, the first
// column aligned left and the others right.
func writeTable(b *strings.Builder, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		b.WriteString("\n")
	}
}

// writeJSONFile writes res to path.
func writeJSONFile(path string, res *result) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
