package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/accord-db/accord/resolve"
)

// Fixture is a file of conflict fixtures, the format of the repository's
// testdata/conflicts: conflicts for a plugin configured one way, and the
// decision each must produce.
type Fixture struct {
	// About says what the fixture checks.
	About string `json:"about"`
	// Plugin names the built-in the fixture was written for; a
	// [Reloader] checks any module against it and ignores it.
	Plugin string `json:"plugin"`
	// Params configure the plugin for the fixture; nil means the
	// plugin's own (those of [Plugin.Params]).
	Params json.RawMessage `json:"params,omitempty"`
	// RandByte pins the random source: every random byte the plugin
	// reads is this one (its clocks are pinned too, see
	// Config.Deterministic).
	RandByte byte `json:"rand_byte"`
	// Cases are the conflicts and their wanted decisions.
	Cases []FixtureCase `json:"cases"`
}

// FixtureCase is one conflict of a [Fixture] and the decision it must
// produce: the same action, delay, reason and (compact) document.
type FixtureCase struct {
	Conflict resolve.Conflict `json:"conflict"`
	Want     resolve.Decision `json:"want"`
}

// maxFixtureBytes bounds a fixture file.
const maxFixtureBytes = 4 << 20

// ErrFixture: a module answered a fixture's conflict otherwise than the
// fixture wants, or could not run it (its parameters refused, a call
// failed), so a [Reloader] refused it.
var ErrFixture = errors.New("fixture failed")

// ReadFixture reads a fixture file (at most 4 MiB).
func ReadFixture(path string) (Fixture, error) {
	f, err := os.Open(path)
	if err != nil {
		return Fixture{}, fmt.Errorf("engine: fixture: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFixtureBytes+1))
	if err != nil {
		return Fixture{}, fmt.Errorf("engine: fixture %s: %w", filepath.Base(path), err)
	}
	if len(data) > maxFixtureBytes {
		return Fixture{}, fmt.Errorf("engine: fixture %s: more than %d MiB", filepath.Base(path), maxFixtureBytes>>20)
	}
	var fx Fixture
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // a misspelt field would be a check silently dropped
	if err := dec.Decode(&fx); err != nil {
		return Fixture{}, fmt.Errorf("engine: fixture %s: %w", filepath.Base(path), err)
	}
	if len(fx.Cases) == 0 {
		return Fixture{}, fmt.Errorf("engine: fixture %s: no cases", filepath.Base(path))
	}
	for i := range fx.Cases {
		if err := fx.Cases[i].Conflict.Validate(); err != nil {
			return Fixture{}, fmt.Errorf("engine: fixture %s: case %d: %w", filepath.Base(path), i, err)
		}
		if doc := fx.Cases[i].Want.Doc; doc != nil {
			var b bytes.Buffer
			if err := json.Compact(&b, doc); err != nil {
				return Fixture{}, fmt.Errorf("engine: fixture %s: case %d: want.doc: %w", filepath.Base(path), i, err)
			}
			fx.Cases[i].Want.Doc = b.Bytes()
		}
	}
	if fx.About == "" {
		fx.About = filepath.Base(path)
	}
	return fx, nil
}

// constReader fills every buffer with one byte.
type constReader byte

func (r constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// minFixtureCallTimeout is the least call timeout of a fixture check: a
// slow call on a loaded host must not refuse a sound module.
const minFixtureCallTimeout = 5 * time.Second

// checkFixtures loads p (a module given as bytes) in a runtime of its own
// per fixture, with pinned clocks and random source, and runs every case.
// It returns an error wrapping ErrFixture at the first wrong decision or
// failure.
func (rt *Runtime) checkFixtures(ctx context.Context, p Plugin, fixtures []Fixture) error {
	for _, fx := range fixtures {
		if err := rt.checkFixture(ctx, p, fx); err != nil {
			if !errors.Is(err, ErrFixture) {
				err = fmt.Errorf("%w: %w", ErrFixture, err)
			}
			return fmt.Errorf("fixture %q: %w", resolve.Clip(fx.About), err)
		}
	}
	return nil
}

func (rt *Runtime) checkFixture(ctx context.Context, p Plugin, fx Fixture) error {
	cfg := rt.cfg
	cfg.Deterministic, cfg.Rand, cfg.Recorder = true, constReader(fx.RandByte), nil
	cfg.PoolSize = 1
	cfg.CallTimeout = max(cfg.CallTimeout, minFixtureCallTimeout)
	frt, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	defer frt.Close(context.Background())
	if fx.Params != nil {
		p.Params = fx.Params
	}
	r, err := frt.Load(ctx, p)
	if err != nil {
		return err
	}
	for i := range fx.Cases {
		c := &fx.Cases[i]
		d, err := r.Resolve(ctx, &c.Conflict)
		if err != nil {
			return fmt.Errorf("case %d: %w", i, err)
		}
		if d.Action != c.Want.Action || d.DelayMS != c.Want.DelayMS || d.Reason != c.Want.Reason || !bytes.Equal(d.Doc, c.Want.Doc) {
			return fmt.Errorf("%w: case %d: decided %s (delay %d ms, reason %q), want %s (delay %d ms, reason %q)",
				ErrFixture, i, d.Action, d.DelayMS, resolve.Clip(d.Reason), c.Want.Action, c.Want.DelayMS, resolve.Clip(c.Want.Reason))
		}
	}
	return nil
}
