package fruit_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
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
	"github.com/accord-db/accord/sampledb"
	"github.com/accord-db/accord/samples/fruit"
)

var clusterTrials = flag.Int("cluster-trials", 0, "trials per resolver of TestClusterContention (0: not run)")

// TestClusterContention runs the shipped retry and backoff samples twice
// over a 3-node Apache CouchDB cluster, one service on node 1 and one on
// node 2, same database, and sends 48 concurrent tastings of one fruit,
// half through each. Two coordinators writing the same revision make the
// cluster answer some writes 202 Accepted; the store must acknowledge
// only what is in the winning revision: the winner holds exactly the
// tastings answered 200, and no live losing leaf holds a tasting the
// winner lacks.
//
// It is opt-in (go test -run TestClusterContention ./samples/fruit/
// -args -cluster-trials=5, against Apache CouchDB) and known to fail: in
// 7 of 10 trials the winner holds 1 to 3 fewer tastings than were
// acknowledged, parked in losing leaves by writes answered 201 on a
// branch that later lost (couch/accepted.go says what is and is not
// settled). It joins CI with issue 16's sweeper, which settles them.
func TestClusterContention(t *testing.T) {
	if *clusterTrials == 0 {
		t.Log("not run: known to lose acknowledged tastings to losing leaves until the replication-conflict sweeper lands (issue 16); run it with -args -cluster-trials=N")
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

	for _, plugin := range []string{"retry", "backoff"} {
		cfg, err := fruit.LoadConfig(filepath.Join("..", plugin, "config.yaml"))
		require.NoError(t, err)
		name := couchtest.DBName(t)
		require.NoError(t, clients[0].CreateDB(ctx, name))
		t.Cleanup(func() { _ = clients[0].DeleteDB(ctx, name) })
		_, err = clients[0].DB(name).InstallDesignDocs(ctx, design)
		require.NoError(t, err)

		// Two services, each with its own resolver and client, over nodes
		// 1 and 2.
		var stats [2]couch.Stats
		var urls [2]string
		for i := range 2 {
			r, closeResolver, err := fruit.OpenResolver(ctx, cfg.Resolver, discard)
			require.NoError(t, err)
			t.Cleanup(func() { _ = closeResolver(ctx) })
			c, err := couch.New(couch.Config{URL: nodes[i].String(), Logger: discard, Stats: &stats[i]})
			require.NoError(t, err)
			svc, err := fruit.New(fruit.Options{DB: c.DB(name), Resolver: r, Logger: discard, Stats: &stats[i], RequestTimeout: 20 * time.Second})
			require.NoError(t, err)
			srv := httptest.NewServer(svc)
			t.Cleanup(srv.Close)
			urls[i] = srv.URL
		}

		for trial := 1; trial <= *clusterTrials; trial++ {
			t.Run(fmt.Sprintf("%s/%d", plugin, trial), func(t *testing.T) {
				before := [2]couch.AcceptedStats{stats[0].Accepted(), stats[1].Accepted()}
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

				// Read the fruit from node 3, from every copy.
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
				require.NoError(t, db.Get(ctx, docID, &winner, couch.WithConflicts(), quorum(3)))
				leaves, err := db.OpenRevs(ctx, docID, nil)
				require.NoError(t, err)
				var parked []string
				for _, l := range leaves {
					if l.Deleted || l.Missing || l.Rev == winner.Rev {
						continue
					}
					var f struct {
						Tastings int `json:"tastings"`
					}
					require.NoError(t, jsonUnmarshal(string(l.Doc), &f))
					if f.Tastings > winner.Tastings {
						parked = append(parked, fmt.Sprintf("%s holds %d", l.Rev, f.Tastings))
					}
				}
				if winner.Tastings != statuses[200] {
					var raw json.RawMessage
					_ = db.Get(ctx, docID, &raw, func(q url.Values) { q.Set("open_revs", "all"); q.Set("revs", "true") })
					t.Logf("every leaf, with its history: %.8192s", raw)
				}
				var acc couch.AcceptedStats
				for i := range 2 {
					a := stats[i].Accepted()
					acc.Accepted += a.Accepted - before[i].Accepted
					acc.Won += a.Won - before[i].Won
					acc.Yielded += a.Yielded - before[i].Yielded
					acc.Lost += a.Lost - before[i].Lost
					acc.Restored += a.Restored - before[i].Restored
				}
				t.Logf("%s trial %d: statuses %v, winner holds %d, %d live losing leaves, 202s %d (won %d, yielded %d, lost %d, restored %d), %v",
					plugin, trial, statuses, winner.Tastings, len(winner.Conflicts), acc.Accepted, acc.Won, acc.Yielded, acc.Lost, acc.Restored, took.Round(time.Millisecond))
				for code := range statuses {
					assert.Contains(t, []int{200, 409}, code, "%s answers 200 or 409", plugin)
				}
				assert.Equal(t, tastings, statuses[200]+statuses[409])
				assert.Equal(t, statuses[200], winner.Tastings, "the winning revision holds exactly the acknowledged tastings")
				assert.Empty(t, parked, "no losing leaf holds tastings the winner lacks")
			})
		}
	}
}

// quorum reads with r=n.
func quorum(n int) couch.Option {
	return func(q url.Values) { q.Set("r", fmt.Sprint(n)) }
}

// createFruit creates a red fruit through the service at base and returns
// its fruit_id.
func createFruit(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Post(base+"/v1.0/fruits", "application/json", strings.NewReader(`{"color":"red"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var f fruit.Fruit
	require.NoError(t, decodeJSON(resp, &f))
	return f.FruitID
}
