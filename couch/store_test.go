package couch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/resolve"
)

// counter is the content of the documents these tests write.
type counter struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Count int    `json:"count"`
	Note  string `json:"note,omitempty"`
}

// scripted is a resolver that answers with a function and records what
// it was asked.
type scripted struct {
	desc   resolve.Description
	answer func(*resolve.Conflict) (resolve.Decision, error)
	mu     sync.Mutex
	asked  []resolve.Conflict
}

func (s *scripted) Resolve(_ context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	s.mu.Lock()
	s.asked = append(s.asked, *c)
	s.mu.Unlock()
	return s.answer(c)
}

func (s *scripted) Describe() resolve.Description { return s.desc }

func always(d resolve.Decision) *scripted {
	return &scripted{
		desc:   resolve.Description{Name: "scripted", Needs: resolve.AllNeeds},
		answer: func(*resolve.Conflict) (resolve.Decision, error) { return d, nil },
	}
}

func newStore(t *testing.T, db *couch.DB, cfg couch.StoreConfig) *couch.Store[counter] {
	t.Helper()
	if cfg.Type == "" {
		cfg.Type = "counter_v1.0"
	}
	if cfg.Logger == nil {
		cfg.Logger = discard
	}
	s, err := couch.NewStore[counter](db, cfg)
	require.NoError(t, err)
	return s
}

func createCounter(t *testing.T, s *couch.Store[counter]) couch.Doc[counter] {
	t.Helper()
	d, err := s.Create(ctx, counter{Type: "counter_v1.0", Name: "c"})
	require.NoError(t, err)
	return d
}

// interfere returns a change that increments the count, after writing a
// competing increment behind the store's back on its first n calls, so
// that exactly the first n writes conflict.
func interfere(t *testing.T, db *couch.DB, id string, n int) func(*counter) error {
	var calls atomic.Int32
	return func(c *counter) error {
		if int(calls.Add(1)) <= n {
			var cur map[string]any
			require.NoError(t, db.Get(ctx, id, &cur))
			cur["count"] = cur["count"].(float64) + 1
			cur["note"] = "theirs"
			_, err := db.Put(ctx, id, cur)
			require.NoError(t, err)
		}
		c.Count++
		return nil
	}
}

func stored(t *testing.T, db *couch.DB, id string) counter {
	t.Helper()
	var c counter
	require.NoError(t, db.Get(ctx, id, &c))
	return c
}

func TestNewStoreRefusesUnversionedType(t *testing.T) {
	db := newDB(t)
	for _, typ := range []string{"", "counter", "counter_v1", "a b_v1.0"} {
		_, err := couch.NewStore[counter](db, couch.StoreConfig{Type: typ})
		assert.ErrorIs(t, err, couch.ErrInvalidType, "NewStore(%q)", typ)
	}
}

func TestCreateRefusesBadTypeBeforeSending(t *testing.T) {
	log, buf := debugLogger()
	c, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), Logger: log})
	require.NoError(t, err)
	s := newStore(t, c.DB("never_created"), couch.StoreConfig{})
	for _, v := range []counter{{Type: ""}, {Type: "counter"}, {Type: "other_v1.0"}} {
		_, err := s.Create(ctx, v)
		assert.ErrorIs(t, err, couch.ErrInvalidType, "Create(type %q)", v.Type)
	}
	assert.Empty(t, buf.String(), "nothing was sent")
}

func TestUpdateWithoutConflict(t *testing.T) {
	db := newDB(t)
	s := newStore(t, db, couch.StoreConfig{})
	d := createCounter(t, s)

	res, err := s.Update(ctx, couch.ByID(d.ID), func(c *counter) error { c.Count = 7; return nil })
	require.NoError(t, err)
	assert.Equal(t, couch.StatusWritten, res.Status)
	assert.Equal(t, 1, res.Attempts)
	assert.Equal(t, 0, res.Conflicts)
	assert.Equal(t, 7, res.Value.Count)
	assert.Equal(t, 7, stored(t, db, d.ID).Count)

	got, err := s.Get(ctx, couch.ByID(d.ID))
	require.NoError(t, err)
	assert.Equal(t, res.Rev, got.Rev)
}

func TestUpdateByView(t *testing.T) {
	db := newDB(t)
	_, err := db.InstallDesignDocs(ctx, []couch.DesignDoc{{ID: "_design/by_name",
		Body: []byte(`{"views":{"by_name":{"map":"function(doc){ emit(doc.name, null); }"}}}`)}})
	require.NoError(t, err)
	s := newStore(t, db, couch.StoreConfig{})
	d := createCounter(t, s)

	res, err := s.Update(ctx, couch.ByView("by_name", "by_name", "c"), func(c *counter) error { c.Count++; return nil })
	require.NoError(t, err)
	assert.Equal(t, d.ID, res.ID)
	assert.Equal(t, 1, stored(t, db, d.ID).Count)

	_, err = s.Update(ctx, couch.ByView("by_name", "by_name", "nope"), func(c *counter) error { return nil })
	assert.ErrorIs(t, err, couch.ErrNotFound)
}

func TestUpdateChangeErrorWritesNothing(t *testing.T) {
	db := newDB(t)
	s := newStore(t, db, couch.StoreConfig{})
	d := createCounter(t, s)
	boom := errors.New("boom")
	_, err := s.Update(ctx, couch.ByID(d.ID), func(c *counter) error { c.Count = 99; return boom })
	assert.ErrorIs(t, err, boom)
	rev, err := db.Rev(ctx, d.ID)
	require.NoError(t, err)
	assert.Equal(t, d.Rev, rev)
}

func TestUpdateRefusesTypeChange(t *testing.T) {
	db := newDB(t)
	s := newStore(t, db, couch.StoreConfig{})
	d := createCounter(t, s)
	_, err := s.Update(ctx, couch.ByID(d.ID), func(c *counter) error { c.Type = "counter"; return nil })
	assert.ErrorIs(t, err, couch.ErrInvalidType)
	assert.Equal(t, "counter_v1.0", stored(t, db, d.ID).Type)
}

// TestDecisions drives one conflict into each decision and checks what
// the database holds afterwards.
func TestDecisions(t *testing.T) {
	type check func(t *testing.T, db *couch.DB, d couch.Doc[counter], res couch.Result[counter], err error)
	tests := []struct {
		name     string
		resolver func(id string) resolve.Resolver
		check    check
	}{
		{"retry re-applies the change to the fresh revision",
			func(string) resolve.Resolver { return always(resolve.Decision{Action: resolve.ActionRetry}) },
			func(t *testing.T, db *couch.DB, d couch.Doc[counter], res couch.Result[counter], err error) {
				require.NoError(t, err)
				assert.Equal(t, couch.StatusWritten, res.Status)
				assert.Equal(t, 2, res.Attempts)
				assert.Equal(t, 1, res.Conflicts)
				assert.Equal(t, 2, stored(t, db, d.ID).Count, "their increment and ours")
			}},
		{"retry after a delay",
			func(string) resolve.Resolver {
				return always(resolve.Decision{Action: resolve.ActionRetry, DelayMS: 30})
			},
			func(t *testing.T, db *couch.DB, d couch.Doc[counter], res couch.Result[counter], err error) {
				require.NoError(t, err)
				assert.Equal(t, 2, stored(t, db, d.ID).Count)
			}},
		{"merge writes the resolver's document on theirs",
			func(id string) resolve.Resolver {
				return &scripted{desc: resolve.Description{Name: "adder", Needs: resolve.AllNeeds},
					answer: func(c *resolve.Conflict) (resolve.Decision, error) {
						var base, mine, theirs counter
						for raw, dst := range map[*json.RawMessage]*counter{&c.Base: &base, &c.Mine: &mine, &c.Theirs: &theirs} {
							if err := json.Unmarshal(*raw, dst); err != nil {
								return resolve.Decision{}, err
							}
						}
						merged := theirs
						merged.Count = theirs.Count + mine.Count - base.Count
						merged.Note = "merged"
						doc, _ := json.Marshal(merged)
						return resolve.Decision{Action: resolve.ActionMerge, Doc: doc}, nil
					}}
			},
			func(t *testing.T, db *couch.DB, d couch.Doc[counter], res couch.Result[counter], err error) {
				require.NoError(t, err)
				assert.Equal(t, couch.StatusMerged, res.Status)
				got := stored(t, db, d.ID)
				assert.Equal(t, 2, got.Count)
				assert.Equal(t, "merged", got.Note)
				assert.Equal(t, got, res.Value)
			}},
		{"accept keeps theirs and reports ours superseded",
			func(string) resolve.Resolver { return always(resolve.Decision{Action: resolve.ActionAccept}) },
			func(t *testing.T, db *couch.DB, d couch.Doc[counter], res couch.Result[counter], err error) {
				require.NoError(t, err)
				assert.Equal(t, couch.StatusSuperseded, res.Status)
				assert.Equal(t, 1, stored(t, db, d.ID).Count, "theirs only")
				assert.Equal(t, "theirs", res.Value.Note)
			}},
		{"fail returns a conflict error with the reason",
			func(string) resolve.Resolver {
				return always(resolve.Decision{Action: resolve.ActionFail, Reason: "not today"})
			},
			func(t *testing.T, db *couch.DB, d couch.Doc[counter], res couch.Result[counter], err error) {
				require.ErrorIs(t, err, couch.ErrConflict)
				var ce *couch.ConflictError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, "not today", ce.Reason)
				assert.False(t, ce.Capped)
				assert.Equal(t, 1, stored(t, db, d.ID).Count, "theirs only")
			}},
		{"basic gives up on the first conflict",
			func(string) resolve.Resolver { return resolve.Basic() },
			func(t *testing.T, db *couch.DB, d couch.Doc[counter], res couch.Result[counter], err error) {
				require.ErrorIs(t, err, couch.ErrConflict)
				assert.Equal(t, 1, res.Attempts)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newDB(t)
			s := newStore(t, db, couch.StoreConfig{Resolver: tt.resolver("")})
			d := createCounter(t, s)
			res, err := s.Update(ctx, couch.ByID(d.ID), interfere(t, db, d.ID, 1))
			tt.check(t, db, d, res, err)
		})
	}
}

// TestResolverFailureFailsClosed checks that a resolver that errs or
// answers an invalid decision leaves the document as the conflict found
// it.
func TestResolverFailureFailsClosed(t *testing.T) {
	tests := []struct {
		name   string
		answer func(c *resolve.Conflict) (resolve.Decision, error)
		is     error
	}{
		{"error", func(*resolve.Conflict) (resolve.Decision, error) { return resolve.Decision{}, errors.New("trap") }, nil},
		{"unknown action", func(*resolve.Conflict) (resolve.Decision, error) { return resolve.Decision{Action: "shrug"}, nil }, resolve.ErrInvalidDecision},
		{"absurd delay", func(*resolve.Conflict) (resolve.Decision, error) {
			return resolve.Decision{Action: resolve.ActionRetry, DelayMS: 3_600_000}, nil
		}, resolve.ErrInvalidDecision},
		{"negative delay", func(*resolve.Conflict) (resolve.Decision, error) {
			return resolve.Decision{Action: resolve.ActionRetry, DelayMS: -1}, nil
		}, resolve.ErrInvalidDecision},
		{"merge of another document", func(*resolve.Conflict) (resolve.Decision, error) {
			return resolve.Decision{Action: resolve.ActionMerge, Doc: json.RawMessage(`{"_id":"other","type":"counter_v1.0","count":1000}`)}, nil
		}, resolve.ErrInvalidDecision},
		{"merge without a doc", func(*resolve.Conflict) (resolve.Decision, error) {
			return resolve.Decision{Action: resolve.ActionMerge}, nil
		}, resolve.ErrInvalidDecision},
		{"merge of an untyped doc", func(*resolve.Conflict) (resolve.Decision, error) {
			return resolve.Decision{Action: resolve.ActionMerge, Doc: json.RawMessage(`{"count":1000}`)}, nil
		}, couch.ErrInvalidType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newDB(t)
			stats := &couch.Stats{}
			r := &scripted{desc: resolve.Description{Name: "hostile", Needs: resolve.AllNeeds}, answer: tt.answer}
			s := newStore(t, db, couch.StoreConfig{Resolver: r, Stats: stats})
			d := createCounter(t, s)
			_, err := s.Update(ctx, couch.ByID(d.ID), interfere(t, db, d.ID, 1))
			require.ErrorIs(t, err, couch.ErrResolver)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			got := stored(t, db, d.ID)
			assert.Equal(t, counter{Type: "counter_v1.0", Name: "c", Count: 1, Note: "theirs"}, got, "the database holds theirs, untouched")
			if tt.is != couch.ErrInvalidType {
				assert.EqualValues(t, 1, stats.Snapshot()["hostile"].Failures)
			}
		})
	}
}

func TestAttemptCapBindsEveryResolver(t *testing.T) {
	db := newDB(t)
	s := newStore(t, db, couch.StoreConfig{Resolver: always(resolve.Decision{Action: resolve.ActionRetry}), MaxAttempts: 3})
	d := createCounter(t, s)
	res, err := s.Update(ctx, couch.ByID(d.ID), interfere(t, db, d.ID, 1000))
	require.ErrorIs(t, err, couch.ErrConflict)
	var ce *couch.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.True(t, ce.Capped)
	assert.Equal(t, 3, res.Attempts)
}

// TestAttemptCapBeforeWaiting checks that a retry the cap forbids is not
// waited for.
func TestAttemptCapBeforeWaiting(t *testing.T) {
	db := newDB(t)
	s := newStore(t, db, couch.StoreConfig{MaxAttempts: 1, Resolver: always(resolve.Decision{Action: resolve.ActionRetry, DelayMS: 1500})})
	d := createCounter(t, s)
	began := time.Now()
	_, err := s.Update(ctx, couch.ByID(d.ID), interfere(t, db, d.ID, 1))
	var ce *couch.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.True(t, ce.Capped)
	assert.Less(t, time.Since(began), time.Second, "the 1.5 s wait was not started")
}

// TestCallerDeadlineIsNotAResolverFailure checks that a resolver that
// returns because the caller's context ended is reported as that, not
// as a failed resolver.
func TestCallerDeadlineIsNotAResolverFailure(t *testing.T) {
	db := newDB(t)
	stats := &couch.Stats{}
	r := &scripted{desc: resolve.Description{Name: "slow", Needs: []resolve.Need{}}}
	var callCtx context.Context
	r.answer = func(*resolve.Conflict) (resolve.Decision, error) {
		<-callCtx.Done()
		return resolve.Decision{}, callCtx.Err()
	}
	s := newStore(t, db, couch.StoreConfig{Resolver: r, Stats: stats})
	d := createCounter(t, s)
	c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	callCtx = c
	_, err := s.Update(c, couch.ByID(d.ID), interfere(t, db, d.ID, 1))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, couch.ErrResolver)
	assert.Zero(t, stats.Snapshot()["slow"].Failures)
}

// TestUnsafeMergesFailClosed checks the merges the store refuses to
// write: without the current revision, over a deleted document, and as
// the answer to a delete.
func TestUnsafeMergesFailClosed(t *testing.T) {
	merge := resolve.Decision{Action: resolve.ActionMerge, Doc: json.RawMessage(`{"type":"counter_v1.0","name":"c","count":1000}`)}
	t.Run("without theirs", func(t *testing.T) {
		db := newDB(t)
		r := always(merge)
		r.desc.Needs = []resolve.Need{resolve.NeedBase, resolve.NeedMine}
		s := newStore(t, db, couch.StoreConfig{Resolver: r})
		d := createCounter(t, s)
		_, err := s.Update(ctx, couch.ByID(d.ID), interfere(t, db, d.ID, 1))
		require.ErrorIs(t, err, couch.ErrResolver)
		require.ErrorIs(t, err, resolve.ErrInvalidDecision)
		assert.Equal(t, 1, stored(t, db, d.ID).Count, "theirs, untouched")
	})
	t.Run("over a deleted document", func(t *testing.T) {
		db := newDB(t)
		s := newStore(t, db, couch.StoreConfig{Resolver: always(merge)})
		d := createCounter(t, s)
		var once sync.Once
		_, err := s.Update(ctx, couch.ByID(d.ID), func(c *counter) error {
			once.Do(func() {
				rev, err := db.Rev(ctx, d.ID)
				require.NoError(t, err)
				_, err = db.Delete(ctx, d.ID, rev)
				require.NoError(t, err)
			})
			c.Count++
			return nil
		})
		require.ErrorIs(t, err, couch.ErrResolver)
		var v any
		assert.ErrorIs(t, db.Get(ctx, d.ID, &v), couch.ErrNotFound, "still deleted")
	})
	t.Run("answering a delete", func(t *testing.T) {
		db := newDB(t)
		s := newStore(t, db, couch.StoreConfig{Resolver: always(merge)})
		d := createCounter(t, s)
		change := interfere(t, db, d.ID, 1)
		_, err := s.Delete(ctx, couch.ByID(d.ID), func(c *counter) error { return change(c) })
		require.ErrorIs(t, err, couch.ErrResolver)
		assert.Equal(t, 1, stored(t, db, d.ID).Count, "theirs, not deleted, not merged")
	})
}

// TestMergeThatConflictsStartsOver makes the merge's own write conflict:
// the store must not write it over the newer revision, but start over from
// that revision.
func TestMergeThatConflictsStartsOver(t *testing.T) {
	client := newClient(t)
	name := couchtest.NewDB(t)
	direct := client.DB(name)
	var puts atomic.Int32
	proxied := couchtest.Proxy(t, func(r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/") && puts.Add(1) == 2 {
			// The second PUT through the store is the merge: someone
			// writes just before it lands.
			id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
			var cur map[string]any
			if assert.NoError(t, direct.Get(ctx, id, &cur)) {
				cur["count"] = cur["count"].(float64) + 10
				_, err := direct.Put(ctx, id, cur)
				assert.NoError(t, err)
			}
		}
	})
	c, err := couch.New(couch.Config{URL: proxied.String(), Logger: discard})
	require.NoError(t, err)
	merger := &scripted{desc: resolve.Description{Name: "adder", Needs: resolve.AllNeeds},
		answer: func(c *resolve.Conflict) (resolve.Decision, error) {
			var mine, theirs counter
			_ = json.Unmarshal(c.Mine, &mine)
			_ = json.Unmarshal(c.Theirs, &theirs)
			theirs.Count++
			doc, _ := json.Marshal(theirs)
			return resolve.Decision{Action: resolve.ActionMerge, Doc: doc}, nil
		}}
	s := newStore(t, c.DB(name), couch.StoreConfig{Resolver: merger})
	d, err := couch.NewStore[counter](direct, couch.StoreConfig{Type: "counter_v1.0", Logger: discard})
	require.NoError(t, err)
	created, err := d.Create(ctx, counter{Type: "counter_v1.0", Name: "c"})
	require.NoError(t, err)
	puts.Store(0)
	res, err := s.Update(ctx, couch.ByID(created.ID), interfere(t, direct, created.ID, 1))
	require.NoError(t, err)
	// Theirs +1, the writer behind the merge +10, ours +1: nothing lost.
	assert.Equal(t, 12, stored(t, direct, created.ID).Count)
	assert.Equal(t, 3, res.Attempts, "the write, the merge that conflicted, the write after starting over")
}

func TestStoreRefusesDocumentsOfAnotherType(t *testing.T) {
	db := newDB(t)
	_, err := db.Put(ctx, "other", map[string]any{"type": "other_v1.0", "count": 1})
	require.NoError(t, err)
	s := newStore(t, db, couch.StoreConfig{})
	_, err = s.Get(ctx, couch.ByID("other"))
	assert.ErrorIs(t, err, couch.ErrInvalidType)
	_, err = s.Delete(ctx, couch.ByID("other"), nil)
	assert.ErrorIs(t, err, couch.ErrInvalidType)
	var v map[string]any
	assert.NoError(t, db.Get(ctx, "other", &v), "not deleted")
}

// TestNeedsDecideWhatIsRead checks that a resolver that needs no
// documents costs no extra read, and one that needs them gets them.
func TestNeedsDecideWhatIsRead(t *testing.T) {
	for _, needs := range [][]resolve.Need{{}, resolve.AllNeeds} {
		t.Run(fmt.Sprint(needs), func(t *testing.T) {
			db := newDB(t)
			log, buf := debugLogger()
			// The test server's URL with its credentials: Apache CouchDB
			// keeps the test databases to its admin.
			c, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), Logger: log})
			require.NoError(t, err)
			r := &scripted{desc: resolve.Description{Name: "x", Needs: needs},
				answer: func(*resolve.Conflict) (resolve.Decision, error) {
					return resolve.Decision{Action: resolve.ActionFail, Reason: "stop"}, nil
				}}
			s := newStore(t, c.DB(db.Name()), couch.StoreConfig{Resolver: r})
			d := createCounter(t, s)
			before := strings.Count(buf.String(), `"GET"`)
			_, err = s.Update(ctx, couch.ByID(d.ID), interfere(t, db, d.ID, 1))
			require.ErrorIs(t, err, couch.ErrConflict)
			gets := strings.Count(buf.String(), `"GET"`) - before
			require.Len(t, r.asked, 1)
			asked := r.asked[0]
			assert.Equal(t, resolve.KindWrite, asked.Kind)
			assert.Equal(t, resolve.OpUpdate, asked.Op)
			assert.Equal(t, d.ID, asked.ID)
			assert.Equal(t, db.Name(), asked.DB)
			assert.Equal(t, 1, asked.Attempt)
			if len(needs) == 0 {
				assert.Nil(t, asked.Base)
				assert.Nil(t, asked.Mine)
				assert.Nil(t, asked.Theirs)
				assert.Equal(t, 1, gets, "only the read that started the update")
			} else {
				assert.Contains(t, string(asked.Base), `"count":0`)
				assert.Contains(t, string(asked.Mine), `"count":1`)
				assert.Contains(t, string(asked.Theirs), `"note":"theirs"`)
				assert.Equal(t, 2, gets, "the first read and theirs")
			}
		})
	}
}

func TestDeleteThroughTheLoop(t *testing.T) {
	db := newDB(t)
	s := newStore(t, db, couch.StoreConfig{Resolver: resolve.Retry(resolve.RetryParams{})})
	d := createCounter(t, s)

	veto := errors.New("still counting")
	_, err := s.Delete(ctx, couch.ByID(d.ID), func(c *counter) error { return veto })
	require.ErrorIs(t, err, veto)

	change := interfere(t, db, d.ID, 1)
	res, err := s.Delete(ctx, couch.ByID(d.ID), func(c *counter) error { _ = change(c); return nil })
	require.NoError(t, err)
	assert.Equal(t, 1, res.Conflicts)
	var v any
	assert.ErrorIs(t, db.Get(ctx, d.ID, &v), couch.ErrNotFound)

	_, err = s.Delete(ctx, couch.ByID(d.ID), nil)
	assert.ErrorIs(t, err, couch.ErrNotFound)
}

// TestContention runs 32 concurrent increments of one counter through
// each native strategy: retry and backoff must land all 32; basic may
// refuse some, but every refusal is reported and every success stored.
func TestContention(t *testing.T) {
	tests := []struct {
		name     string
		resolver resolve.Resolver
		wantAll  bool
	}{
		// Each conflict a write meets is another writer's success, so
		// with 32 writers 31 retries always suffice.
		{"retry", resolve.Retry(resolve.RetryParams{MaxRetries: 31}), true},
		{"backoff", resolve.Backoff(resolve.BackoffParams{MaxRetries: 31, BaseMS: 1, MaxDelayMS: 50}, nil), true},
		{"basic", resolve.Basic(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newDB(t)
			stats := &couch.Stats{}
			s := newStore(t, db, couch.StoreConfig{Resolver: tt.resolver, Stats: stats})
			d := createCounter(t, s)
			var ok, refused atomic.Int32
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					_, err := s.Update(ctx, couch.ByID(d.ID), func(c *counter) error { c.Count++; return nil })
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, couch.ErrConflict):
						refused.Add(1)
					default:
						t.Errorf("Update: %v", err)
					}
				})
			}
			wg.Wait()
			assert.EqualValues(t, 32, ok.Load()+refused.Load())
			assert.EqualValues(t, ok.Load(), stored(t, db, d.ID).Count, "every success is stored, nothing else")
			if tt.wantAll {
				assert.EqualValues(t, 32, ok.Load())
			}
			snap := stats.Snapshot()[tt.resolver.(resolve.Describer).Describe().Name]
			var decisions int64
			for _, n := range snap.Decisions {
				decisions += n
			}
			assert.Equal(t, snap.Conflicts, decisions, "one decision per conflict")
			assert.Equal(t, snap.Conflicts, snap.Latency.Count)
			if !tt.wantAll {
				assert.EqualValues(t, refused.Load(), snap.Decisions[resolve.ActionFail])
			}
			t.Logf("%s: %d ok, %d refused, %d conflicts, decisions %v", tt.name, ok.Load(), refused.Load(), snap.Conflicts, snap.Decisions)
		})
	}
}

func TestConflictLogLines(t *testing.T) {
	db := newDB(t)
	log, buf := debugLogger()
	s, err := couch.NewStore[counter](db, couch.StoreConfig{Type: "counter_v1.0", Logger: log,
		Resolver: resolve.Backoff(resolve.BackoffParams{MaxRetries: 1, BaseMS: 5, Jitter: resolve.JitterEqual, JitterMS: -1}, nil)})
	require.NoError(t, err)
	d := createCounter(t, s)
	_, err = s.Update(ctx, couch.ByID(d.ID), interfere(t, db, d.ID, 2))
	require.ErrorIs(t, err, couch.ErrConflict)
	out := buf.String()
	assert.Contains(t, out, fmt.Sprintf("Conflict detected updating counter '%s' - retrying after waiting 10 ms", d.ID))
	assert.Contains(t, out, fmt.Sprintf("Conflict detected updating counter '%s' - giving up after 2 attempt(s)", d.ID))
}

// TestWaitPastDeadlineIsNotATimeout checks that a retry wait the deadline
// would cut short fails at once with an error that says so (the wait
// asked for and the time that was left), and does not claim that the
// deadline passed: it did not (issue 9, point 4).
func TestWaitPastDeadlineIsNotATimeout(t *testing.T) {
	db := newDB(t)
	log, buf := debugLogger()
	s := newStore(t, db, couch.StoreConfig{Logger: log, Resolver: always(resolve.Decision{Action: resolve.ActionRetry, DelayMS: resolve.MaxDelay})})
	d := createCounter(t, s)
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := s.Update(dctx, couch.ByID(d.ID), interfere(t, db, d.ID, 1))
	require.ErrorIs(t, err, couch.ErrWaitPastDeadline)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the deadline did not pass")
	assert.NoError(t, dctx.Err(), "the store stopped before the deadline")
	we, ok := errors.AsType[*couch.WaitError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, time.Duration(resolve.MaxDelay)*time.Millisecond, we.Wait)
	assert.Greater(t, we.Left, time.Duration(0))
	assert.LessOrEqual(t, we.Left, 5*time.Second)
	assert.Contains(t, err.Error(), "1m0s")
	assert.Equal(t, 1, stored(t, db, d.ID).Count, "theirs only; ours was not written")
	assert.NotContains(t, buf.String(), "retrying after waiting", "the log line tells no retry that did not happen")
	assert.Contains(t, buf.String(), "giving up: a wait of 1m0s would pass the deadline")
}

// TestNewStoreRefusesAMergerBlindToTheirs: a resolver that says it may
// merge but does not read theirs is refused up front; the same without
// actions declared, or with theirs, is not.
func TestNewStoreRefusesAMergerBlindToTheirs(t *testing.T) {
	db := newDB(t)
	tests := []struct {
		name string
		desc resolve.Description
		ok   bool
	}{
		{"merges, blind to theirs", resolve.Description{Name: "m", Needs: []resolve.Need{resolve.NeedMine}, Actions: []resolve.Action{resolve.ActionMerge}}, false},
		{"merges, reads theirs", resolve.Description{Name: "m", Needs: []resolve.Need{resolve.NeedTheirs}, Actions: []resolve.Action{resolve.ActionMerge}}, true},
		{"does not say its actions", resolve.Description{Name: "m", Needs: []resolve.Need{resolve.NeedMine}}, true},
		{"never merges", resolve.Description{Name: "m", Needs: []resolve.Need{}, Actions: []resolve.Action{resolve.ActionRetry}}, true},
		{"the merge built-in's twin", resolve.MergeDescription, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := always(resolve.Decision{Action: resolve.ActionFail})
			r.desc = tt.desc
			_, err := couch.NewStore[counter](db, couch.StoreConfig{Type: "counter_v1.0", Resolver: r, Logger: discard})
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, couch.ErrUnsafeResolver)
			assert.ErrorContains(t, err, `declare "theirs"`)
		})
	}
}

// TestSameChangeOnSameRevisionIsTwoRevisions checks that two stores
// making the same change to the same revision write two revisions.
// CouchDB computes a revision's id from its parent and body: without the
// store's write id ([couch.WriteIDField]) the two would be one revision,
// and on a cluster the second writer can be answered 202 Accepted with
// the first one's revision and acknowledge a change stored once.
func TestSameChangeOnSameRevisionIsTwoRevisions(t *testing.T) {
	var revs []string
	for range 2 {
		db := newDB(t)
		branch(t, db, "apple", fruitBody(0, "red", "2026-01-01"), "a")
		s, err := couch.NewStore[tasted](db, couch.StoreConfig{Type: "fruit_v1.0", Resolver: fruitMerge(), Logger: discard})
		require.NoError(t, err)
		res, err := s.Update(ctx, couch.ByID("apple"), func(f *tasted) error {
			f.Tastings++
			f.UpdatedOn = "2026-01-02"
			return nil
		})
		require.NoError(t, err)
		revs = append(revs, res.Doc.Rev)
		var doc map[string]any
		require.NoError(t, db.Get(ctx, "apple", &doc))
		assert.Len(t, doc[couch.WriteIDField], 16, "the write's id")
	}
	assert.NotEqual(t, revs[0], revs[1], "the same change on the same revision, by two writers")
}
