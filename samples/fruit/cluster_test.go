package fruit_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/syncbuf"
	"github.com/accord-db/accord/sampledb"
	"github.com/accord-db/accord/samples/fruit"
)

var (
	clusterTrials    = flag.Int("cluster-trials", 5, "trials per resolver of TestClusterContention (0: not run)")
	clusterResolvers = flag.String("cluster-resolvers", "retry,backoff,merge", "the samples TestClusterContention runs, comma-separated")
)

// TestClusterContention runs the retry, backoff and merge samples twice
// over a 3-node Apache CouchDB cluster, one service on node 1 and one on
// node 2, same database, each with its replication-conflict sweeper (the
// merge sample's resolver: retry and backoff cannot settle a conflict
// left in the database), and sends 48 concurrent tastings of one fruit,
// half through each. Two coordinators writing the same revision make the
// cluster answer some writes 202 Accepted, and some writes answered 201
// end on a branch that later loses: the tastings they hold are parked in
// a losing leaf. Once the sweepers have run, the winning revision must
// hold exactly the tastings answered 200, and no conflict may be left.
//
// A tasting answered 503 (the request's time ran out, on a busy machine)
// is indeterminate: it may be stored.
//
// A tasting may be answered 404 when the coordinator's read reaches
// copies that do not have the new fruit yet: it is not stored, and not
// acknowledged.
//
// A tasting the service answers 202 (stored on fewer copies than the
// quorum, not yet merged when the request's time ran out) counts as
// acknowledged too: the sweep merges it.
//
// It runs against Apache CouchDB only (make test-couchdb; it starts its
// own cluster from ../shared/couchdb), 5 trials per resolver unless
// -args -cluster-trials=N says otherwise (0: not run). When a trial
// fails it prints both sweepers' logs, every leaf, and an audit of the
// whole revision tree (auditTree): a wrong count there names the first
// revision that lost or doubled a tasting, and fewer store writes than
// acknowledged tastings mean two writes became one revision.
func TestClusterContention(t *testing.T) {
	if *clusterTrials == 0 {
		t.Log("not run: -cluster-trials=0")
		return
	}
	if couchtest.PouchDB(t) {
		t.Log("clusters are checked on Apache CouchDB only (make test-couchdb): pouchdb-server is a single node and never answers 202")
		return
	}
	const tastings = 48
	nodes := couchtest.StartCluster(t, 3)
	ctx := context.Background()
	clients := make([]*couch.Client, len(nodes))
	for i, u := range nodes {
		c, err := couch.New(couch.Config{URL: u.String(), Logger: discard})
		require.NoError(t, err)
		clients[i] = c
	}
	design, err := couch.LoadDesignDocs(sampledb.FS, sampledb.DesignDir)
	require.NoError(t, err)
	mergeCfg, err := fruit.LoadConfig(filepath.Join("..", "merge", "config.yaml"))
	require.NoError(t, err)

	for _, plugin := range strings.Split(*clusterResolvers, ",") {
		cfg, err := fruit.LoadConfig(filepath.Join("..", plugin, "config.yaml"))
		require.NoError(t, err)
		name := couchtest.DBName(t)
		require.NoError(t, clients[0].CreateDB(ctx, name))
		t.Cleanup(func() { _ = clients[0].DeleteDB(ctx, name) })
		_, err = clients[0].DB(name).InstallDesignDocs(ctx, design)
		require.NoError(t, err)

		// Two services, each with its own resolver, client and sweeper,
		// over nodes 1 and 2.
		var stats [2]couch.Stats
		var urls [2]string
		var sweepers [2]*couch.Sweeper
		var logs [2]syncbuf.Buffer
		for i := range 2 {
			logger := slog.New(slog.NewTextHandler(&logs[i], &slog.HandlerOptions{Level: slog.LevelInfo}))
			r, closeResolver, err := fruit.OpenResolver(ctx, cfg.Resolver, discard)
			require.NoError(t, err)
			t.Cleanup(func() { _ = closeResolver(ctx) })
			c, err := couch.New(couch.Config{URL: nodes[i].String(), Logger: discard, Stats: &stats[i]})
			require.NoError(t, err)
			sw, closeSweeper, err := fruit.OpenSweeper(ctx, fruit.SweepConfig{Interval: time.Second, Resolver: &mergeCfg.Resolver}, c.DB(name), r, logger, false, nil, &stats[i])
			require.NoError(t, err)
			t.Cleanup(func() { _ = closeSweeper(ctx) })
			sweepers[i] = sw
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { _ = sw.Run(runCtx, time.Second); close(done) }()
			t.Cleanup(func() { stop(); <-done })
			// Each sample as it ships: the merge sample coalesces writes.
			svc, err := fruit.New(fruit.Options{DB: c.DB(name), Resolver: r, Logger: discard, Stats: &stats[i], Sweeper: sw, RequestTimeout: 20 * time.Second,
				Coalesce: cfg.Writes.Coalesce, MaxBatch: cfg.Writes.MaxBatch})
			require.NoError(t, err)
			srv := httptest.NewServer(svc)
			t.Cleanup(srv.Close)
			urls[i] = srv.URL
		}

		for trial := 1; trial <= *clusterTrials; trial++ {
			t.Run(fmt.Sprintf("%s/%d", plugin, trial), func(t *testing.T) {
				before := [2]couch.AcceptedStats{stats[0].Accepted(), stats[1].Accepted()}
				sweptBefore := sweepers[0].Stats().Merged + sweepers[1].Stats().Merged
				id := createFruit(t, urls[0])
				// A view read on another coordinator may not see the new
				// fruit yet: wait until both services find it.
				for _, u := range urls {
					require.Eventually(t, func() bool {
						resp, err := http.Get(u + "/v1.0/fruits/" + id)
						if err != nil {
							return false
						}
						resp.Body.Close()
						return resp.StatusCode == http.StatusOK
					}, 10*time.Second, 20*time.Millisecond, "the new fruit is found through both services")
				}
				began := time.Now()
				statuses := tasteConcurrently(t, urls[:], id, tastings)
				took := time.Since(began)

				// Read the fruit from node 3, every copy, until no
				// conflict is left.
				db := clients[2].DB(name)
				rows, err := db.Query(ctx, "fruit_by_fruit_id", "fruit_by_fruit_id", couch.ViewQuery{Key: id})
				require.NoError(t, err)
				require.Len(t, rows.Rows, 1)
				docID := rows.Rows[0].ID
				var winner struct {
					Rev       string   `json:"_rev"`
					Tastings  int      `json:"tastings"`
					Conflicts []string `json:"_conflicts"`
				}
				// Every copy: the winner without _conflicts, and one live
				// leaf (a copy's late leaf shows in open_revs first).
				settling := time.Now()
				live := 0
				settledOK := assert.Eventually(t, func() bool {
					winner.Conflicts = nil
					if db.Get(ctx, docID, &winner, couch.WithConflicts(), quorum(3)) != nil || len(winner.Conflicts) > 0 {
						return false
					}
					leaves, err := db.OpenRevs(ctx, docID, nil, quorum(3))
					if err != nil {
						return false
					}
					live = 0
					for _, l := range leaves {
						if !l.Deleted && !l.Missing {
							live++
						}
					}
					return live == 1
				}, time.Minute, 50*time.Millisecond, "the sweepers leave no conflict")
				// dump logs what a failed trial leaves to read: both
				// sweepers' logs and every leaf.
				dump := func() {
					for i := range logs {
						t.Logf("sweeper %d's log:\n%s", i+1, tail(logs[i].String(), 40))
					}
					if leaves, err := db.OpenRevs(ctx, docID, nil, quorum(3)); err == nil {
						for _, l := range leaves {
							t.Logf("leaf %s deleted=%v missing=%v: %.300s", l.Rev, l.Deleted, l.Missing, l.Doc)
						}
					}
					a, err := auditTree(ctx, db, docID)
					if err != nil {
						t.Logf("audit of the revision tree: %v", err)
						return
					}
					t.Logf("revision tree: %d revisions, %d store writes, %d merges, %d tombstones, %d without a body; %d disagree:\n%s",
						a.revisions, a.writes, a.merges, a.tombstones, a.bodiless, len(a.wrong), strings.Join(a.wrong, "\n"))
				}
				if !settledOK {
					dump()
					return
				}
				settled := time.Since(settling)
				var acc couch.AcceptedStats
				for i := range 2 {
					a := stats[i].Accepted()
					acc.Accepted += a.Accepted - before[i].Accepted
					acc.Won += a.Won - before[i].Won
					acc.Yielded += a.Yielded - before[i].Yielded
					acc.Lost += a.Lost - before[i].Lost
					acc.Restored += a.Restored - before[i].Restored
					acc.Swept += a.Swept - before[i].Swept
					acc.Unsettled += a.Unsettled - before[i].Unsettled
				}
				swept := sweepers[0].Stats().Merged + sweepers[1].Stats().Merged - sweptBefore
				t.Logf("%s trial %d: statuses %v in %v; 202s %d (won %d, swept %d, unsettled %d, yielded %d, lost %d, restored %d); leaves merged by the sweepers %d; no conflict left %v after the last answer; winner holds %d",
					plugin, trial, statuses, took.Round(time.Millisecond), acc.Accepted, acc.Won, acc.Swept, acc.Unsettled, acc.Yielded, acc.Lost, acc.Restored, swept, settled.Round(time.Millisecond), winner.Tastings)
				for code := range statuses {
					assert.Contains(t, []int{200, 202, 404, 409, 503}, code, "%s answers 200, 202 (stored, to be merged by the sweep), 404, 409 or 503", plugin)
				}
				if statuses[404] > 0 {
					t.Logf("%d tastings answered 404: the copies a coordinator read did not have the new fruit yet (nothing stored, nothing acknowledged)", statuses[404])
				}
				acked := statuses[200] + statuses[202]
				// A 503 (the request's time ran out) may come after its
				// write reached the database: it may be stored or not.
				if a, err := auditTree(ctx, db, docID); err != nil {
					t.Logf("audit of the revision tree: %v", err)
				} else {
					t.Logf("revision tree: %d revisions, %d store writes, %d merges, %d tombstones, %d without a body; %d disagree:\n%s",
						a.revisions, a.writes, a.merges, a.tombstones, a.bodiless, len(a.wrong), strings.Join(a.wrong, "\n"))
				}
				held := assert.GreaterOrEqual(t, winner.Tastings, acked, "the winning revision holds every acknowledged tasting (and those accepted for the sweep)")
				if !assert.LessOrEqual(t, winner.Tastings, acked+statuses[503], "and no other, but those answered 503 (indeterminate)") || !held {
					dump()
				}
			})
		}
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// quorum reads with r=n.
func quorum(n int) couch.Option {
	return func(q url.Values) { q.Set("r", fmt.Sprint(n)) }
}
