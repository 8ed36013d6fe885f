// Package pdktest tests a built resolver plugin (a .wasm file, in any
// language) the way the host will run it: it runs conflict fixtures
// through it, compares its decisions with the wanted ones and with a
// native twin's, applies the store's rules to every decision, and checks
// that the plugin decides the same on fresh instances. From an author's
// test:
//
//	func TestFixtures(t *testing.T) {
//		fixtures, err := pdktest.ReadFixtures("testdata/conflicts")
//		require.NoError(t, err)
//		report, err := pdktest.Check(context.Background(), "giveup.wasm", fixtures, pdktest.Options{Determinism: true})
//		require.NoError(t, err)
//		for _, p := range report.Problems() {
//			t.Error(p)
//		}
//	}
//
// tools/resolver's test command is this package on the command line.
//
// # The store's rules
//
// A decision the engine accepts may still be one the store refuses (and
// fails the write with a couch.ResolverError): [StoreRules] applies the
// store's rules, so that a merge from a plugin that does not declare it
// needs "theirs", a merge answering a delete, or a merge over a document
// deleted meanwhile fails the author's test, not a production write.
package pdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

// Fixture is one file of conflict fixtures (the format of the
// repository's testdata/conflicts, as [engine.ReadFixture] reads it:
// conflicts for one plugin, configured one way, and the decision each
// must produce), and the file it was read from. [BuiltinTwin] picks the
// native twin of a built-in by its Plugin.
type Fixture struct {
	engine.Fixture
	// File is the file the fixture was read from.
	File string
}

// Case is one conflict of a fixture and the decision it must produce.
// A Want with no action wants nothing in particular: the case only runs
// the store's rules, the twin and the determinism check.
type Case = engine.FixtureCase

// ReadFixtures reads fixture files: each path is a .json file, or a
// directory whose *.json files are read (sorted).
func ReadFixtures(paths ...string) ([]Fixture, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("pdktest: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		m, err := filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, fmt.Errorf("pdktest: %w", err)
		}
		sort.Strings(m)
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("pdktest: no fixture files in %q", paths)
	}
	fixtures := make([]Fixture, 0, len(files))
	for _, file := range files {
		f, err := readFixture(file)
		if err != nil {
			return nil, err
		}
		fixtures = append(fixtures, f)
	}
	return fixtures, nil
}

func readFixture(file string) (Fixture, error) {
	f, err := engine.ReadFixture(file)
	if err != nil {
		return Fixture{}, fmt.Errorf("pdktest: %w", err)
	}
	return Fixture{Fixture: f, File: file}, nil
}

// ErrStoreRule is matched by the errors of [StoreRules].
var ErrStoreRule = errors.New("the store would refuse this decision")

// StoreRules returns the error with which couch's store would fail the
// write answered by d, from a resolver described by desc, about c (a
// write conflict); nil if the store would act on it. They are the engine's
// validation (resolve.Decision.Validate) and the store's merge rules: a
// merge only from a resolver that declares it needs "theirs", never
// answering a delete, never over a document deleted meanwhile.
func StoreRules(desc resolve.Description, c *resolve.Conflict, d resolve.Decision) error {
	if err := d.Validate(c); err != nil {
		return fmt.Errorf("%w: %w", ErrStoreRule, err)
	}
	if d.Action != resolve.ActionMerge || c.Kind != resolve.KindWrite {
		return nil
	}
	switch {
	case c.Op == resolve.OpDelete:
		return fmt.Errorf("%w: a merge cannot answer a conflicting delete", ErrStoreRule)
	case desc.Needs != nil && !desc.Has(resolve.NeedTheirs):
		return fmt.Errorf(`%w: a merge needs the current revision: declare "theirs" in the resolver's needs (it declares %q)`, ErrStoreRule, desc.Needs)
	case c.Theirs == nil:
		return fmt.Errorf("%w: the document was deleted meanwhile; a merge would bring it back", ErrStoreRule)
	}
	return nil
}

// Options says how [Check] runs a plugin. The zero value runs each case
// once, with no twin.
type Options struct {
	// Twin, if set, returns the native twin of the plugin for a fixture
	// (configured with its Params and RandByte): each case's decision
	// must equal the twin's. [BuiltinTwin] knows the built-ins.
	Twin func(f *Fixture) (resolve.Resolver, error)
	// Determinism runs each case again, alone, on a fresh instance and
	// reports a decision that differs from the one taken by the instance
	// that served the fixture's cases in order: a plugin whose decision
	// depends on state kept from call to call, or on the clock. (Every
	// run has the same pinned clock and the fixture's constant random
	// source, so random draws cannot tell the runs apart.)
	Determinism bool
	// Engine configures the runtime the plugin runs in. Deterministic is
	// always set; the call timeout defaults to 10 s and the start timeout
	// to a minute, so that a loaded machine (or the race detector) does
	// not fail a test.
	Engine engine.Config
}

// Result is the outcome of one case.
type Result struct {
	// Fixture is the fixture's file, Case the case's index in it.
	Fixture string
	Case    int
	// Want is the wanted decision, Got the plugin's.
	Want, Got resolve.Decision
	// Twin is the native twin's decision, when there is a twin.
	Twin *resolve.Decision
	// Fresh is the decision of the case run alone on a fresh instance
	// (Options.Determinism), set only when it differs from Got.
	Fresh *resolve.Decision
	// Err is the plugin's error (the call failed), or the store's
	// refusal of its decision (ErrStoreRule).
	Err error
}

// Problems lists what is wrong with the result, empty when it passed.
func (r Result) Problems() []string {
	var ps []string
	where := fmt.Sprintf("%s case %d", r.Fixture, r.Case)
	if r.Err != nil {
		ps = append(ps, fmt.Sprintf("%s: %v", where, r.Err))
	}
	if r.Want.Action != "" && !reflect.DeepEqual(r.Want, r.Got) {
		ps = append(ps, fmt.Sprintf("%s: decided %s, want %s", where, show(r.Got), show(r.Want)))
	}
	if r.Twin != nil && !reflect.DeepEqual(*r.Twin, r.Got) {
		ps = append(ps, fmt.Sprintf("%s: decided %s, its native twin %s", where, show(r.Got), show(*r.Twin)))
	}
	if r.Fresh != nil {
		ps = append(ps, fmt.Sprintf("%s: not deterministic: decided %s after the cases before it, %s alone on a fresh instance", where, show(r.Got), show(*r.Fresh)))
	}
	return ps
}

// Report is the outcome of [Check].
type Report struct {
	// Plugin is what the plugin's accord_describe said.
	Plugin  resolve.Description
	Results []Result
}

// Problems lists every problem of every result.
func (r *Report) Problems() []string {
	var ps []string
	for _, res := range r.Results {
		ps = append(ps, res.Problems()...)
	}
	return ps
}

// show is a decision on one line, as JSON.
func show(d resolve.Decision) string {
	b, err := resolve.AppendDecision(nil, d)
	if err != nil {
		return fmt.Sprintf("%+v", d)
	}
	return string(b)
}

// Check runs every case of the fixtures through the plugin in the file
// wasm (plain or gzip-compressed), loaded as the engine loads any file
// (untrusted, with each fixture's parameters), and reports the result of
// each. The error is for what keeps it from running a fixture at all: a
// plugin the engine refuses to load, a twin that cannot be built.
func Check(ctx context.Context, wasm string, fixtures []Fixture, opt Options) (*Report, error) {
	cfg := opt.Engine
	cfg.Deterministic = true
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = time.Minute
	}
	report := &Report{}
	for i := range fixtures {
		f := &fixtures[i]
		results, desc, err := checkFixture(ctx, wasm, f, cfg, opt)
		if err != nil {
			return report, fmt.Errorf("pdktest: %s: %w", f.File, err)
		}
		report.Plugin = desc
		report.Results = append(report.Results, results...)
	}
	return report, nil
}

func checkFixture(ctx context.Context, wasm string, f *Fixture, cfg engine.Config, opt Options) ([]Result, resolve.Description, error) {
	cfg.Rand = constReader(f.RandByte)
	r, closeAll, err := load(ctx, cfg, wasm, f.Params)
	if err != nil {
		return nil, resolve.Description{}, err
	}
	defer closeAll()
	desc := r.Describe()
	var twin resolve.Resolver
	if opt.Twin != nil {
		if twin, err = opt.Twin(f); err != nil {
			return nil, desc, fmt.Errorf("twin: %w", err)
		}
	}
	results := make([]Result, len(f.Cases))
	for i := range f.Cases {
		c := &f.Cases[i]
		res := Result{Fixture: f.File, Case: i, Want: c.Want}
		res.Got, res.Err = r.Resolve(ctx, &c.Conflict)
		if res.Err == nil {
			res.Err = StoreRules(desc, &c.Conflict, res.Got)
		}
		if twin != nil {
			td, err := twin.Resolve(ctx, &c.Conflict)
			if err != nil {
				return nil, desc, fmt.Errorf("twin: case %d: %w", i, err)
			}
			res.Twin = &td
		}
		results[i] = res
	}
	if opt.Determinism {
		if err := again(ctx, wasm, f, cfg, results); err != nil {
			return nil, desc, err
		}
	}
	return results, desc, nil
}

// again runs each case alone on a fresh instance, with the same pinned
// clock and random source, and records the decision where it differs from
// the one in results.
func again(ctx context.Context, wasm string, f *Fixture, cfg engine.Config, results []Result) error {
	for i := range f.Cases {
		if results[i].Err != nil {
			continue
		}
		r, closeAll, err := load(ctx, cfg, wasm, f.Params)
		if err != nil {
			return err
		}
		d, err := r.Resolve(ctx, &f.Cases[i].Conflict)
		closeAll()
		if err != nil {
			results[i].Err = fmt.Errorf("alone on a fresh instance: %w", err)
			continue
		}
		if !reflect.DeepEqual(d, results[i].Got) {
			results[i].Fresh = &d
		}
	}
	return nil
}

// load starts a runtime of its own with the plugin loaded, so that each
// load has fresh instances.
func load(ctx context.Context, cfg engine.Config, wasm string, params json.RawMessage) (*engine.Resolver, func(), error) {
	rt, err := engine.New(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	r, err := rt.Load(ctx, engine.Plugin{Path: wasm, Params: params})
	if err != nil {
		_ = rt.Close(ctx)
		return nil, nil, err
	}
	return r, func() { _ = rt.Close(context.Background()) }, nil
}

// constReader fills every buffer with one byte.
type constReader byte

func (r constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// BuiltinTwin returns the native twin of the built-in plugin a fixture
// is written for (basic, retry, backoff, merge; asretry is retry's
// AssemblyScript twin), configured with the fixture's parameters and
// random byte.
func BuiltinTwin(f *Fixture) (resolve.Resolver, error) {
	switch strings.TrimPrefix(f.Plugin, "as") {
	case "basic":
		return resolve.Basic(), nil
	case "retry":
		p, err := resolve.ParseRetryParams(f.Params)
		return resolve.Retry(p), err
	case "backoff":
		p, err := resolve.ParseBackoffParams(f.Params)
		return resolve.Backoff(p, constReader(f.RandByte)), err
	case "merge":
		p, err := resolve.ParseMergeParams(f.Params)
		return resolve.Merge(p), err
	}
	return nil, fmt.Errorf("no native twin for plugin %q", f.Plugin)
}
