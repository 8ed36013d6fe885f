package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// maxLineBytes bounds one line of benchmark output; a longer one fails
// the parse (no result line is that long).
const maxLineBytes = 64 << 10

// results are the benchmark results of one or more `go test -bench`
// outputs: for each benchmark (its full name without the -GOMAXPROCS
// suffix) and unit, the values of its runs, in order.
type results map[string]map[string][]float64

// procsSuffix is the -GOMAXPROCS suffix go test adds to a benchmark's
// name when GOMAXPROCS > 1.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads `go test -bench` output (several packages' outputs,
// concatenated, are fine) into rs. Lines that are not results (the
// package header, PASS, logs) are skipped. A result whose name and
// figures came on separate lines (a benchmark that logged while it ran)
// is put back together.
func parseBench(r io.Reader, rs results) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	pending := "" // a benchmark name whose figures have not come yet
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		name := ""
		if strings.HasPrefix(fields[0], "Benchmark") {
			name, fields = procsSuffix.ReplaceAllString(fields[0], ""), fields[1:]
			if len(fields) == 0 {
				pending = name
				continue
			}
		} else if pending != "" {
			name = pending
		}
		if name == "" {
			continue
		}
		metrics, ok := figures(fields)
		if !ok {
			continue
		}
		pending = ""
		if rs[name] == nil {
			rs[name] = map[string][]float64{}
		}
		for unit, v := range metrics {
			rs[name][unit] = append(rs[name][unit], v)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read benchmark output: %w", err)
	}
	return nil
}

// figures reads "N v1 unit1 v2 unit2 …", the part of a result line after
// the name; ok is false if the fields are not that.
func figures(fields []string) (map[string]float64, bool) {
	if len(fields) < 3 || len(fields)%2 != 1 {
		return nil, false
	}
	if _, err := strconv.ParseUint(fields[0], 10, 64); err != nil {
		return nil, false
	}
	m := make(map[string]float64, len(fields)/2)
	for i := 1; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return nil, false
		}
		m[fields[i+1]] = v
	}
	return m, true
}

// median is the median of the runs of name in unit; ok is false if
// there is none.
func (rs results) median(name, unit string) (float64, bool) {
	vs := rs[name][unit]
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2, true
	}
	return s[len(s)/2], true
}

// first returns the median of the first of names that has runs in unit,
// and that name; ok is false if none has.
func (rs results) first(unit string, names ...string) (float64, string, bool) {
	for _, n := range names {
		if v, ok := rs.median(n, unit); ok {
			return v, n, true
		}
	}
	return 0, "", false
}
