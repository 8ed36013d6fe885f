package couch_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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

// fruitMerge is the multi-master sample's merge: tastings a counter,
// color the one with the latest updated_on.
func fruitMerge() resolve.Resolver {
	return resolve.Merge(resolve.MergeParams{Fields: map[string]resolve.FieldRule{
		"tastings":   {Rule: resolve.MergeCounter},
		"color":      {Rule: resolve.MergeLatestBy, By: "updated_on"},
		"updated_on": {Rule: resolve.MergeMax},
	}})
}

// hashOf is a revision hash for a label, so that tests name revisions.
func hashOf(label string) string {
	h := md5.Sum([]byte(label))
	return hex.EncodeToString(h[:])
}

// rev is the revision id of label at generation gen.
func rev(gen int, label string) string { return strconv.Itoa(gen) + "-" + hashOf(label) }

// branch writes a revision with its history (labels newest first, the
// first at generation len(labels)), as replication does: new_edits=false.
func branch(t *testing.T, db *couch.DB, id string, body map[string]any, labels ...string) string {
	t.Helper()
	ids := make([]string, len(labels))
	for i, l := range labels {
		ids[i] = hashOf(l)
	}
	doc := map[string]any{"_id": id, "_rev": rev(len(labels), labels[0]),
		"_revisions": map[string]any{"start": len(labels), "ids": ids}}
	for k, v := range body {
		doc[k] = v
	}
	res, err := db.BulkDocs(ctx, []any{doc}, couch.NewEdits(false))
	require.NoError(t, err)
	for _, r := range res {
		require.NoError(t, r.Err())
	}
	return doc["_rev"].(string)
}

// conflictedApple writes the document "apple" as replication leaves two
// branches: a (0 tastings), then w (3, the winner) and l (2) on it. It
// returns l's revision.
func conflictedApple(t *testing.T, db *couch.DB) string {
	t.Helper()
	branch(t, db, "apple", fruitBody(0, "red", "2026-01-01"), "a")
	branch(t, db, "apple", fruitBody(3, "green", "2026-01-03"), "w", "a")
	return branch(t, db, "apple", fruitBody(2, "yellow", "2026-01-02"), "l", "a")
}

// fruitBody is a fruit document body.
func fruitBody(tastings int, color, updated string) map[string]any {
	return map[string]any{"type": "fruit_v1.0", "tastings": tastings, "color": color, "updated_on": updated}
}

// settledFruit reads id and checks it has no conflicts left.
func settledFruit(t *testing.T, db *couch.DB, id string) (tastings int, color string) {
	t.Helper()
	var doc struct {
		Tastings  int      `json:"tastings"`
		Color     string   `json:"color"`
		Conflicts []string `json:"_conflicts"`
	}
	require.NoError(t, db.Get(ctx, id, &doc, couch.WithConflicts()))
	assert.Empty(t, doc.Conflicts, "conflicts left on %s", id)
	return doc.Tastings, doc.Color
}

func newSweeper(t *testing.T, db *couch.DB, r resolve.Resolver) *couch.Sweeper {
	t.Helper()
	s, err := couch.NewSweeper(db, couch.SweepConfig{Resolver: r, Logger: discard})
	require.NoError(t, err)
	return s
}

// TestSweepMergesFromTheCommonAncestor builds revision trees as
// replication leaves them and checks that a sweep counts every branch's
// tastings once: from the common ancestor, and when branches share an
// ancestor below the winner's.
func TestSweepMergesFromTheCommonAncestor(t *testing.T) {
	cases := []struct {
		name   string
		build  func(t *testing.T, db *couch.DB, id string)
		want   int
		color  string
		merged int
	}{
		{
			name: "two branches",
			build: func(t *testing.T, db *couch.DB, id string) {
				branch(t, db, id, fruitBody(0, "red", "2026-01-01"), "a")
				branch(t, db, id, fruitBody(3, "green", "2026-01-03"), "w", "a")
				branch(t, db, id, fruitBody(2, "yellow", "2026-01-02"), "l", "a")
			},
			want: 0 + 3 + 2, color: "green", merged: 1,
		},
		{
			name: "three branches, two sharing an ancestor below the winner's",
			build: func(t *testing.T, db *couch.DB, id string) {
				branch(t, db, id, fruitBody(0, "red", "2026-01-01"), "a")
				branch(t, db, id, fruitBody(1, "red", "2026-01-01"), "x", "a")
				branch(t, db, id, fruitBody(2, "red", "2026-01-04"), "p", "x", "a")
				branch(t, db, id, fruitBody(3, "blue", "2026-01-05"), "q", "x", "a")
				branch(t, db, id, fruitBody(5, "green", "2026-01-02"), "w", "a")
			},
			want: 0 + 1 + 1 + 2 + 5, color: "blue", merged: 2,
		},
		{
			name: "branches created apart: no ancestor",
			build: func(t *testing.T, db *couch.DB, id string) {
				branch(t, db, id, fruitBody(4, "red", "2026-01-01"), "w")
				branch(t, db, id, fruitBody(1, "green", "2026-01-02"), "l")
			},
			want: 5, color: "green", merged: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := newDB(t)
			tc.build(t, db, "apple")
			s := newSweeper(t, db, fruitMerge())
			got, err := s.Settle(ctx, "apple")
			require.NoError(t, err)
			assert.Equal(t, tc.merged, got.Merged)
			assert.Equal(t, 1, got.Rounds)
			tastings, color := settledFruit(t, db, "apple")
			assert.Equal(t, tc.want, tastings)
			assert.Equal(t, tc.color, color)
			again, err := s.Settle(ctx, "apple")
			require.NoError(t, err)
			assert.Zero(t, again.Rounds, "a settled document needs nothing more")
		})
	}
}

// TestSweepCountsASettledLeafOnce is the case a plain common ancestor
// gets wrong: a child of a leaf the sweep already merged turns up (it was
// written on the other replica before the merge reached it). Its base is
// the merged leaf, which the tombstone names, not the old ancestor:
// otherwise the leaf's tastings would count twice. With one child the
// merge stays the winner; with three the child's branch wins and the merge
// is the losing leaf.
func TestSweepCountsASettledLeafOnce(t *testing.T) {
	for _, children := range []int{1, 3} {
		t.Run(strconv.Itoa(children)+" children", func(t *testing.T) {
			db := newDB(t)
			conflictedApple(t, db)
			s := newSweeper(t, db, fruitMerge())
			_, err := s.Settle(ctx, "apple")
			require.NoError(t, err)
			tastings, _ := settledFruit(t, db, "apple")
			require.Equal(t, 5, tastings)

			labels := []string{"l", "a"}
			for i := 1; i <= children; i++ {
				labels = append([]string{"l" + strconv.Itoa(i)}, labels...)
				branch(t, db, "apple", fruitBody(2+i, "yellow", "2026-01-02"), labels...)
			}
			got, err := s.Settle(ctx, "apple")
			require.NoError(t, err)
			assert.Equal(t, 1, got.Merged)
			tastings, _ = settledFruit(t, db, "apple")
			assert.Equal(t, 5+children, tastings, "the settled leaf's 2 tastings count once")
		})
	}
}

// TestSweepersConverge runs two sweepers on one conflict at once, and the
// same conflict in two databases: they write the same revisions, so
// neither makes a new conflict and two replicas end up alike.
func TestSweepersConverge(t *testing.T) {
	build := func(db *couch.DB) {
		branch(t, db, "apple", fruitBody(0, "red", "2026-01-01"), "a")
		branch(t, db, "apple", fruitBody(3, "green", "2026-01-03"), "w", "a")
		branch(t, db, "apple", fruitBody(2, "yellow", "2026-01-02"), "l", "a")
		branch(t, db, "apple", fruitBody(4, "blue", "2026-01-04"), "m", "a")
	}
	db1, db2 := newDB(t), newDB(t)
	build(db1)
	build(db2)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, db := range []*couch.DB{db1, db1, db2} {
		wg.Go(func() { _, errs[i] = newSweeper(t, db, fruitMerge()).Settle(ctx, "apple") })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var revs []string
	for _, db := range []*couch.DB{db1, db2} {
		tastings, color := settledFruit(t, db, "apple")
		assert.Equal(t, 0+3+2+4, tastings)
		assert.Equal(t, "blue", color)
		r, err := db.Rev(ctx, "apple")
		require.NoError(t, err)
		revs = append(revs, r)
	}
	assert.Equal(t, revs[0], revs[1], "both replicas hold the same winning revision")
}

// racing is a resolver that, the first time it is asked, writes a new
// revision on the winner: a write racing the sweep.
type racing struct {
	resolve.Resolver
	db   *couch.DB
	once sync.Once
	err  error
}

func (r *racing) Resolve(ctx context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	r.once.Do(func() {
		var doc map[string]any
		if r.err = r.db.Get(ctx, c.ID, &doc); r.err != nil {
			return
		}
		doc["tastings"] = doc["tastings"].(float64) + 10
		_, r.err = r.db.Put(ctx, c.ID, doc)
	})
	return r.Resolver.Resolve(ctx, c)
}

// TestSweepRacingAWriteLosesNeither: a new revision written on the winner
// while the sweep decides does not make the sweep fail or lose anything;
// the next round merges the two from the old winner.
func TestSweepRacingAWriteLosesNeither(t *testing.T) {
	db := newDB(t)
	conflictedApple(t, db)
	r := &racing{Resolver: fruitMerge(), db: db}
	got, err := newSweeper(t, db, r).Settle(ctx, "apple")
	require.NoError(t, err)
	require.NoError(t, r.err)
	assert.Equal(t, 2, got.Rounds, "the race makes a second round")
	tastings, _ := settledFruit(t, db, "apple")
	assert.Equal(t, 3+2+10, tastings)
}

// failing is a resolver that fails.
type failing struct{}

func (failing) Resolve(context.Context, *resolve.Conflict) (resolve.Decision, error) {
	return resolve.Decision{}, errors.New("trapped")
}

// TestSweepDecisions checks what each action does to the losing leaf, and
// that a failing resolver leaves the database untouched.
func TestSweepDecisions(t *testing.T) {
	cases := []struct {
		name      string
		r         resolve.Resolver
		wantErr   error
		conflicts int
		tastings  int
		left      int
	}{
		{name: "accept keeps the winner and settles the leaf", r: always(resolve.Decision{Action: resolve.ActionAccept}), tastings: 3},
		{name: "retry leaves the leaf for later", r: always(resolve.Decision{Action: resolve.ActionRetry}), conflicts: 1, tastings: 3, left: 1},
		{name: "fail leaves the leaf", r: always(resolve.Decision{Action: resolve.ActionFail, Reason: "no"}), conflicts: 1, tastings: 3, left: 1},
		{name: "a failing resolver writes nothing", r: failing{}, wantErr: couch.ErrResolver, conflicts: 1, tastings: 3},
		{name: "an invalid decision writes nothing", r: always(resolve.Decision{Action: resolve.ActionMerge}), wantErr: resolve.ErrInvalidDecision, conflicts: 1, tastings: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := newDB(t)
			branch(t, db, "apple", fruitBody(0, "red", "2026-01-01"), "a")
			w := branch(t, db, "apple", fruitBody(3, "green", "2026-01-03"), "w", "a")
			branch(t, db, "apple", fruitBody(2, "yellow", "2026-01-02"), "l", "a")
			got, err := newSweeper(t, db, tc.r).Settle(ctx, "apple")
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.left, got.Left)
			var doc struct {
				Rev       string   `json:"_rev"`
				Tastings  int      `json:"tastings"`
				Conflicts []string `json:"_conflicts"`
			}
			require.NoError(t, db.Get(ctx, "apple", &doc, couch.WithConflicts()))
			assert.Len(t, doc.Conflicts, tc.conflicts)
			assert.Equal(t, tc.tastings, doc.Tastings)
			assert.Equal(t, w, doc.Rev, "the winner is not rewritten")
		})
	}
}

// recording is a resolver that keeps the conflicts it is asked about.
type recording struct {
	resolve.Resolver
	mu   sync.Mutex
	seen []resolve.Conflict
}

func (r *recording) Resolve(ctx context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	r.mu.Lock()
	r.seen = append(r.seen, *c)
	r.mu.Unlock()
	return r.Resolver.Resolve(ctx, c)
}

// TestSweepConflictAsked checks what the resolver is told: kind
// replication, mine the losing leaf, theirs the winner, base the common
// ancestor; and base_missing once compaction removed the ancestor's body.
func TestSweepConflictAsked(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run("compacted="+strconv.FormatBool(compact), func(t *testing.T) {
			db := newDB(t)
			conflictedApple(t, db)
			if compact {
				compactDB(t, db)
			}
			r := &recording{Resolver: fruitMerge()}
			_, err := newSweeper(t, db, r).Settle(ctx, "apple")
			require.NoError(t, err)
			require.Len(t, r.seen, 1)
			c := r.seen[0]
			assert.Equal(t, resolve.KindReplication, c.Kind)
			assert.Equal(t, resolve.OpUpdate, c.Op)
			assert.Equal(t, db.Name(), c.DB)
			assert.Contains(t, string(c.Mine), `"tastings":2`)
			assert.Contains(t, string(c.Theirs), `"tastings":3`)
			assert.Empty(t, c.Conflicts, "one losing leaf: no others")
			assert.Equal(t, compact, c.BaseMissing)
			if compact {
				assert.Nil(t, c.Base)
			} else {
				assert.Contains(t, string(c.Base), `"tastings":0`)
				assert.NotContains(t, string(c.Base), "_revisions")
			}
		})
	}
}

// compactDB compacts db and waits until the ancestor bodies are gone.
func compactDB(t *testing.T, db *couch.DB) {
	t.Helper()
	u := couchtest.URL(t)
	base := u.Scheme + "://" + u.Host + "/" + db.Name()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/_compact", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if p, ok := u.User.Password(); ok {
		req.SetBasicAuth(u.User.Username(), p)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Less(t, res.StatusCode, 300, "compact: %s", res.Status)
	require.Eventually(t, func() bool {
		var doc json.RawMessage
		err := db.Get(ctx, "apple", &doc, couch.WithRev(rev(1, "a")))
		return errors.Is(err, couch.ErrNotFound)
	}, 30*time.Second, 100*time.Millisecond, "the ancestor's body is still there after compaction")
}

// TestSweepFindsConflictsOnTheChangesFeed: Sweep reads the changes feed,
// settles the conflicted documents among the others, and the next sweep
// starts where it ended.
func TestSweepFindsConflictsOnTheChangesFeed(t *testing.T) {
	db := newDB(t)
	for i := range 5 {
		branch(t, db, "plain"+strconv.Itoa(i), fruitBody(i, "red", "2026-01-01"), "p"+strconv.Itoa(i))
	}
	for _, id := range []string{"apple", "pear"} {
		branch(t, db, id, fruitBody(0, "red", "2026-01-01"), "a")
		branch(t, db, id, fruitBody(3, "green", "2026-01-03"), "w", "a")
		branch(t, db, id, fruitBody(2, "yellow", "2026-01-02"), "l", "a")
	}
	s := newSweeper(t, db, fruitMerge())
	rep, err := s.Sweep(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"apple", "pear"}, rep.Settled)
	assert.Empty(t, rep.Unsettled)
	assert.Empty(t, rep.Errs)
	for _, id := range []string{"apple", "pear"} {
		tastings, _ := settledFruit(t, db, id)
		assert.Equal(t, 5, tastings)
	}
	rep, err = s.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Checked, "the next sweep reads only what the first wrote")
	assert.Empty(t, rep.Settled, "and has nothing to do")
	rep, err = s.Sweep(ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Checked, "nothing changed since the last sweep")
	st := s.Stats()
	assert.EqualValues(t, 2, st.Settled)
	assert.EqualValues(t, 2, st.Merged)
	assert.EqualValues(t, 3, st.Sweeps)
}

// TestSweepRunSettlesNewConflicts runs the sweeper in the background and
// makes a conflict: the changes feed wakes it well before its interval.
func TestSweepRunSettlesNewConflicts(t *testing.T) {
	db := newDB(t)
	s := newSweeper(t, db, fruitMerge())
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx, time.Hour) }()
	defer func() {
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	}()
	conflictedApple(t, db)
	require.Eventually(t, func() bool { return s.Stats().Settled == 1 }, 30*time.Second, 50*time.Millisecond)
	tastings, _ := settledFruit(t, db, "apple")
	assert.Equal(t, 5, tastings)
}

// TestSweepAfterCrissCrossMerges: two sweepers on two replicas merged
// what each had seen (one leaf on one side, two on the other) before
// replication brought the other's work. The two merges are a new
// conflict with two common ancestors, the old winner and the leaf both
// merged; the base is their merge, so every branch counts once.
func TestSweepAfterCrissCrossMerges(t *testing.T) {
	db1, db2 := newDB(t), newDB(t)
	for _, db := range []*couch.DB{db1, db2} {
		branch(t, db, "apple", fruitBody(0, "red", "2026-01-01"), "a")
		branch(t, db, "apple", fruitBody(3, "green", "2026-01-03"), "w", "a")
		branch(t, db, "apple", fruitBody(2, "yellow", "2026-01-02"), "l1", "a")
	}
	branch(t, db2, "apple", fruitBody(4, "blue", "2026-01-04"), "l2", "a")
	for _, db := range []*couch.DB{db1, db2} {
		_, err := newSweeper(t, db, fruitMerge()).Settle(ctx, "apple")
		require.NoError(t, err)
	}
	t1, _ := settledFruit(t, db1, "apple")
	t2, _ := settledFruit(t, db2, "apple")
	require.Equal(t, []int{5, 9}, []int{t1, t2}, "each side merged what it had")

	c := newClient(t)
	for _, p := range [][2]*couch.DB{{db1, db2}, {db2, db1}} {
		_, err := c.Replicate(ctx, couch.Replication{Source: p[0].Name(), Target: p[1].Name()})
		require.NoError(t, err)
	}
	r := &recording{Resolver: fruitMerge()}
	var revs []string
	for _, db := range []*couch.DB{db1, db2} {
		_, err := newSweeper(t, db, r).Settle(ctx, "apple")
		require.NoError(t, err)
		tastings, color := settledFruit(t, db, "apple")
		assert.Equal(t, 0+3+2+4, tastings, "each branch once")
		assert.Equal(t, "blue", color)
		rv, err := db.Rev(ctx, "apple")
		require.NoError(t, err)
		revs = append(revs, rv)
	}
	assert.Equal(t, revs[0], revs[1], "both replicas settle on the same revision")
	var virtual bool
	for _, c := range r.seen {
		virtual = virtual || strings.Contains(string(c.Mine), `"tastings":2`) && strings.Contains(string(c.Theirs), `"tastings":3`)
	}
	assert.True(t, virtual, "the base was made by merging the two common ancestors (the old winner and l1)")
}

// flaky is a resolver that fails until it is healed, then asks next.
type flaky struct {
	next   resolve.Resolver
	healed atomic.Bool
}

func (f *flaky) Resolve(ctx context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	if !f.healed.Load() {
		return resolve.Decision{}, errors.New("not yet")
	}
	return f.next.Resolve(ctx, c)
}

// TestSweepTriesUnsettledDocumentsAgain checks that a document a sweep
// could not settle is swept again by the next sweep, though the changes
// feed does not show it again (nothing changed), and forgotten once
// settled.
func TestSweepTriesUnsettledDocumentsAgain(t *testing.T) {
	db := newDB(t)
	conflictedApple(t, db)
	r := &flaky{next: fruitMerge()}
	s := newSweeper(t, db, r)

	rep, err := s.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"apple"}, rep.Unsettled)
	require.Len(t, rep.Errs, 1)
	assert.ErrorIs(t, rep.Errs[0], couch.ErrResolver)
	assert.EqualValues(t, 1, s.Stats().Pending)

	rep, err = s.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"apple"}, rep.Unsettled, "tried again though unchanged")
	assert.Equal(t, 1, rep.Checked)

	r.healed.Store(true)
	rep, err = s.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"apple"}, rep.Settled)
	assert.Empty(t, rep.Unsettled)
	assert.Equal(t, 1, rep.Checked, "read once, though the feed shows it too")
	assert.Zero(t, s.Stats().Pending)
	tastings, _ := settledFruit(t, db, "apple")
	assert.Equal(t, 5, tastings)

	rep, err = s.Sweep(ctx)
	require.NoError(t, err)
	assert.Empty(t, rep.Settled, "forgotten once settled")
}

// TestSweepMergeArrivingWithoutItsTombstones checks that a merge another
// sweeper wrote names what it absorbed in its own body: replication may
// bring it, or a later write on it, before the tombstones of the leaves
// it absorbed, and the leaves' changes must then count once.
func TestSweepMergeArrivingWithoutItsTombstones(t *testing.T) {
	cases := []struct {
		name  string
		build func(t *testing.T, db *couch.DB, other map[string]any)
		want  int
	}{
		{
			name: "the other merge is a leaf",
			build: func(t *testing.T, db *couch.DB, other map[string]any) {
				branch(t, db, "apple", other, "m2", "w", "a")
			},
			want: 3 + 2 + 4,
		},
		{
			name: "a write on the other merge, which dropped the field",
			build: func(t *testing.T, db *couch.DB, other map[string]any) {
				branch(t, db, "apple", other, "m2", "w", "a")
				branch(t, db, "apple", fruitBody(3+2+4+1, "blue", "2026-01-05"), "w2", "m2", "w", "a")
			},
			want: 3 + 2 + 4 + 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := newDB(t)
			conflictedApple(t, db)
			// This server's sweeper merges l into w.
			_, err := newSweeper(t, db, fruitMerge()).Settle(ctx, "apple")
			require.NoError(t, err)
			tastings, _ := settledFruit(t, db, "apple")
			require.Equal(t, 3+2, tastings)
			var merged map[string]any
			require.NoError(t, db.Get(ctx, "apple", &merged))
			assert.Equal(t, []any{rev(2, "l")}, merged[couch.AbsorbsField], "the merge names what it absorbed")

			// Another server's sweeper merged l and l2 (4 tastings, a leaf
			// this server never saw) into w; replication brings its merge
			// before its tombstones.
			other := fruitBody(3+2+4, "green", "2026-01-03")
			other[couch.AbsorbsField] = []string{rev(2, "l"), rev(2, "l2")}
			tc.build(t, db, other)
			_, err = newSweeper(t, db, fruitMerge()).Settle(ctx, "apple")
			require.NoError(t, err)
			tastings, _ = settledFruit(t, db, "apple")
			assert.Equal(t, tc.want, tastings)
		})
	}
}

// TestSweepLeafBounds checks the bounds on the leaves of one document:
// many deleted leaves (every settled conflict leaves one) are swept, too
// many live ones are refused untouched.
func TestSweepLeafBounds(t *testing.T) {
	leaves := func(n int, deleted bool, prefix string) []any {
		docs := make([]any, n)
		for i := range docs {
			label := fmt.Sprintf("%s%d", prefix, i)
			doc := map[string]any{"_id": "apple", "_rev": rev(2, label),
				"_revisions": map[string]any{"start": 2, "ids": []string{hashOf(label), hashOf("a")}}}
			if deleted {
				doc["_deleted"] = true
			} else {
				for k, v := range fruitBody(1, "red", "2026-01-02") {
					doc[k] = v
				}
			}
			docs[i] = doc
		}
		return docs
	}
	cases := []struct {
		name          string
		live, deleted int
		wantErr       error
	}{
		{name: "300 deleted leaves", live: 2, deleted: 300},
		{name: "too many live leaves", live: couch.MaxSweepLeaves + 1, wantErr: couch.ErrTooManyLeaves},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := newDB(t)
			branch(t, db, "apple", fruitBody(0, "red", "2026-01-01"), "a")
			docs := append(leaves(tc.live, false, "l"), leaves(tc.deleted, true, "d")...)
			res, err := db.BulkDocs(ctx, docs, couch.NewEdits(false))
			require.NoError(t, err)
			for _, r := range res {
				require.NoError(t, r.Err())
			}
			got, err := newSweeper(t, db, fruitMerge()).Settle(ctx, "apple")
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				var doc struct {
					Conflicts []string `json:"_conflicts"`
				}
				require.NoError(t, db.Get(ctx, "apple", &doc, couch.WithConflicts()))
				assert.Len(t, doc.Conflicts, tc.live-1, "untouched")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.live-1, got.Merged)
			tastings, _ := settledFruit(t, db, "apple")
			assert.Equal(t, tc.live, tastings)
		})
	}
}

// TestSweepLeafAMergeAbsorbed checks a leaf that a merge in the winner
// names as absorbed, on a server that has the merge and not yet the
// leaf's tombstone: its changes are in the winner already, and it is
// settled without counting them again.
func TestSweepLeafAMergeAbsorbed(t *testing.T) {
	db := newDB(t)
	l := conflictedApple(t, db)
	// Another server merged l into w; its merge arrives first.
	other := fruitBody(3+2, "green", "2026-01-03")
	other[couch.AbsorbsField] = []string{l}
	branch(t, db, "apple", other, "m", "w", "a")

	s := newSweeper(t, db, fruitMerge())
	got, err := s.Settle(ctx, "apple")
	require.NoError(t, err)
	assert.Zero(t, got.Merged, "nothing to merge")
	assert.EqualValues(t, 1, s.Stats().Absorbed)
	tastings, _ := settledFruit(t, db, "apple")
	assert.Equal(t, 3+2, tastings)
}

// TestSweepReadsAMissingBaseFromAPeer checks that an ancestor whose body
// this server lacks (replication copies leaves only) is read from a
// peer, and that without one the conflict is left.
func TestSweepReadsAMissingBaseFromAPeer(t *testing.T) {
	cases := []struct {
		name     string
		peers    bool
		left     int
		tastings int
	}{
		{name: "without peers the conflict is left", left: 1, tastings: 5},
		{name: "the peer has the base", peers: true, tastings: 5 + 4 - 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, peer := newDB(t), newDB(t)
			branch(t, db, "apple", fruitBody(0, "red", "2026-01-01"), "a")
			branch(t, db, "apple", fruitBody(5, "green", "2026-01-03"), "w", "x", "a")
			branch(t, db, "apple", fruitBody(4, "yellow", "2026-01-02"), "l", "x", "a")
			branch(t, peer, "apple", fruitBody(3, "red", "2026-01-01"), "x", "a")
			cfg := couch.SweepConfig{Resolver: fruitMerge(), Logger: discard}
			if tc.peers {
				cfg.Peers = []*couch.DB{peer}
			}
			s, err := couch.NewSweeper(db, cfg)
			require.NoError(t, err)
			got, err := s.Settle(ctx, "apple")
			require.NoError(t, err)
			assert.Equal(t, tc.left, got.Left)
			var doc struct {
				Tastings int `json:"tastings"`
			}
			require.NoError(t, db.Get(ctx, "apple", &doc))
			assert.Equal(t, tc.tastings, doc.Tastings)
		})
	}
}

// counting is a resolver that counts its calls.
type counting struct {
	resolve.Resolver
	calls atomic.Int64
}

func (c *counting) Resolve(ctx context.Context, cf *resolve.Conflict) (resolve.Decision, error) {
	c.calls.Add(1)
	return c.Resolver.Resolve(ctx, cf)
}

// TestSweepCrissCrossLadder settles three branches that merged each
// other at every level (what two sweepers and a cluster's internal
// replication make under contention): the common ancestors of two
// revisions of one level are the three of the level below, and so on
// down. The virtual ancestor of each level is made once: making it again
// for every path through the ladder took resolver calls exponential in
// its height, and ran out of the sweep's budget on a cluster.
func TestSweepCrissCrossLadder(t *testing.T) {
	const levels = 8
	lines := []string{"x", "y", "z"}
	db := newDB(t)
	branch(t, db, "apple", fruitBody(0, "red", "2026-01-01"), "a")
	for k := 1; k <= levels; k++ {
		for _, line := range lines {
			labels := []string{"a"}
			for j := 1; j <= k; j++ {
				labels = append([]string{fmt.Sprintf("%s%d", line, j)}, labels...)
			}
			// One tasting of its own, and everything of the level below.
			body := fruitBody(1+3*(k-1), "red", fmt.Sprintf("2026-01-02T00:00:%02d", k))
			if k > 1 {
				var absorbs []string
				for _, other := range lines {
					if other != line {
						absorbs = append(absorbs, rev(k-1+1, fmt.Sprintf("%s%d", other, k-1)))
					}
				}
				body[couch.AbsorbsField] = absorbs
			}
			branch(t, db, "apple", body, labels...)
		}
	}
	r := &counting{Resolver: fruitMerge()}
	settled, err := newSweeper(t, db, r).Settle(ctx, "apple")
	require.NoError(t, err)
	assert.Zero(t, settled.Left)
	tastings, _ := settledFruit(t, db, "apple")
	assert.Equal(t, 3*levels, tastings, "every tasting of every level once")
	assert.LessOrEqual(t, r.calls.Load(), int64(4*levels*len(lines)), "resolver calls")
	t.Logf("%d resolver calls", r.calls.Load())
}

// gated is a resolver that counts its calls and answers none before
// open is closed.
type gated struct {
	resolve.Resolver
	open  chan struct{}
	calls atomic.Int64
}

func (g *gated) Resolve(ctx context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	g.calls.Add(1)
	<-g.open
	return g.Resolver.Resolve(ctx, c)
}

// TestSweepSettlesADocumentOnceAtATime checks that Settle calls for a
// document another call is settling wait for it and share its outcome,
// instead of each merging what it saw (stores whose writes a cluster
// answered 202 Accepted all call Settle at once; their merges of merges
// nest into criss-crosses).
func TestSweepSettlesADocumentOnceAtATime(t *testing.T) {
	db := newDB(t)
	conflictedApple(t, db)
	r := &gated{Resolver: fruitMerge(), open: make(chan struct{})}
	s := newSweeper(t, db, r)
	const callers = 5
	var wg sync.WaitGroup
	outs := make([]couch.Settled, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { outs[i], errs[i] = s.Settle(ctx, "apple") })
	}
	require.Eventually(t, func() bool { return r.calls.Load() >= 1 }, 10*time.Second, time.Millisecond)
	assert.Never(t, func() bool { return r.calls.Load() > 1 }, 200*time.Millisecond, time.Millisecond, "one sweep asks the resolver")
	close(r.open)
	wg.Wait()
	for i := range callers {
		require.NoError(t, errs[i])
		assert.Equal(t, outs[0], outs[i], "every caller gets the sweep's outcome")
	}
	assert.Equal(t, int64(1), r.calls.Load(), "one losing leaf, one resolver call")
	tastings, _ := settledFruit(t, db, "apple")
	assert.Equal(t, 3+2, tastings)
}
